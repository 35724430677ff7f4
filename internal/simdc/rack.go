package simdc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ironkit/ironkit/dhcpsrv"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/pxe"
)

// Boot file names the in-process rack serves.
const (
	EphemeralKernel = "ephemeral/amd64/vmlinuz"
	EphemeralInitrd = "ephemeral/amd64/initrd.img"
	PXELoader       = "lpxelinux.0"
)

// StatusPurposes is the region's rule for how a known machine boots, by
// status: the table rackd gets through the rack RPC. Statuses not listed
// boot from disk (pxe.Local), as MAAS does. An unknown MAC enlists.
var StatusPurposes = map[lifecycle.Status]PurposeRule{
	lifecycle.Commissioning:      {Purpose: pxe.Commission},
	lifecycle.Testing:            {Purpose: pxe.Commission, Extra: []string{"ironkit.test=1"}},
	lifecycle.DiskErasing:        {Purpose: pxe.Commission, Extra: []string{"ironkit.erase=1"}},
	lifecycle.Deploying:          {Purpose: pxe.Deploy, LocalOnceInstalled: true},
	lifecycle.EnteringRescueMode: {Purpose: pxe.Rescue},
	lifecycle.RescueMode:         {Purpose: pxe.Rescue},
}

// PurposeRule is how machines in one status boot.
type PurposeRule struct {
	Purpose pxe.Purpose
	// Extra goes on the kernel command line (what the ephemeral
	// environment does besides the purpose).
	Extra []string
	// LocalOnceInstalled: boot from disk once the machine signalled
	// "installed" (after its latest deploy event).
	LocalOnceInstalled bool
}

// RackConfig configures an InProcessRack.
type RackConfig struct {
	// RegionURL is the region's base URL, e.g. http://127.0.0.1:5240.
	RegionURL string
	// APIKey is an administrator's API key: the rack reads subnets and
	// machines and issues machine tokens with it (rackd uses its rack
	// token and the rack RPC instead).
	APIKey string
	// RelayPort is where DHCP replies go (Datacenter.RelayPort).
	RelayPort uint16
	// RelayAddr is the relay's address (giaddr): the region subnet
	// containing it is served (default 127.0.0.1).
	RelayAddr netip.Addr
	// Kernel and Initrd are the ephemeral environment's files (default: 1
	// MiB and 4 MiB of synthetic bytes).
	Kernel, Initrd []byte
	// Logger; nil discards. Registerer receives the DHCP and boot servers'
	// collectors; nil uses a private registry.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// InProcessRack stands in for rackd: dhcpsrv and pxe's TFTP and HTTP boot
// servers on loopback ports, configured from the region's API.
type InProcessRack struct {
	cfg    RackConfig
	log    *slog.Logger
	region *regionClient
	dhcp   *dhcpsrv.Server
	tftp   *pxe.TFTPServer
	httpd  *pxe.HTTPServer

	mu     sync.Mutex
	tokens map[string]string // system id → machine token
}

// NewInProcessRack reads the region's subnet for the relay address and its
// dynamic ranges, and opens the three servers' sockets.
func NewInProcessRack(ctx context.Context, cfg RackConfig) (*InProcessRack, error) {
	if cfg.RegionURL == "" || cfg.APIKey == "" || cfg.RelayPort == 0 {
		return nil, fmt.Errorf("%w: RackConfig needs RegionURL, APIKey and RelayPort (got %q, key set %v, %d)",
			ErrConfig, cfg.RegionURL, cfg.APIKey != "", cfg.RelayPort)
	}
	if !cfg.RelayAddr.IsValid() {
		cfg.RelayAddr = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Kernel == nil {
		cfg.Kernel = synthetic("kernel", 1<<20)
	}
	if cfg.Initrd == nil {
		cfg.Initrd = synthetic("initrd", 4<<20)
	}
	r := &InProcessRack{cfg: cfg, log: cfg.Logger, tokens: map[string]string{},
		region: &regionClient{base: strings.TrimSuffix(cfg.RegionURL, "/"), key: cfg.APIKey,
			http: &http.Client{Timeout: 30 * time.Second}}}
	files := memFiles{EphemeralKernel: cfg.Kernel, EphemeralInitrd: cfg.Initrd, PXELoader: synthetic("lpxelinux", 42<<10)}
	metrics, err := pxe.NewMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	renderer, err := pxe.NewRenderer(nil)
	if err != nil {
		return nil, err
	}
	resolver := &pxe.ConfigResolver{Source: pxe.BootSourceFunc(r.bootParams), Renderer: renderer}
	popts := []pxe.Option{pxe.WithAddr("127.0.0.1:0"), pxe.WithLogger(cfg.Logger), pxe.WithMetrics(metrics), pxe.WithResolver(resolver)}
	r.httpd = pxe.NewHTTPServer(files, popts...)
	if err := r.httpd.Listen(ctx); err != nil {
		return nil, err
	}
	resolver.ServerURL = "http://" + r.httpd.Addr().String()
	r.tftp = pxe.NewTFTPServer(files, popts...)
	if err := r.tftp.Listen(ctx); err != nil {
		return nil, err
	}
	sub, err := r.subnet(ctx)
	if err != nil {
		return nil, err
	}
	sub.Boot = dhcpsrv.Boot{IPXEScript: resolver.ServerURL + "/boot.ipxe"}
	r.dhcp, err = dhcpsrv.New(dhcpsrv.Config{Subnets: []dhcpsrv.Subnet{sub}},
		dhcpsrv.WithListenAddr("127.0.0.1:0"), dhcpsrv.WithPorts(cfg.RelayPort, cfg.RelayPort),
		dhcpsrv.WithLogger(cfg.Logger), dhcpsrv.WithRegisterer(cfg.Registerer))
	if err != nil {
		return nil, err
	}
	if err := r.dhcp.Listen(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// synthetic returns n bytes standing in for a boot file.
func synthetic(name string, n int) []byte {
	b := bytes.Repeat([]byte("ironkit simdc "+name+"\n"), n/(len(name)+15)+1)
	return b[:n]
}

// subnet builds the DHCP subnet from the region's subnet that holds the
// relay address and its dynamic ranges.
func (r *InProcessRack) subnet(ctx context.Context) (dhcpsrv.Subnet, error) {
	var subnets []api.Subnet
	if err := r.region.call(ctx, "GET", "/api/v1/subnets", nil, &subnets); err != nil {
		return dhcpsrv.Subnet{}, err
	}
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil || !p.Contains(r.cfg.RelayAddr) {
			continue
		}
		var ranges []api.IPRange
		if err := r.region.call(ctx, "GET", "/api/v1/ipranges", nil, &ranges); err != nil {
			return dhcpsrv.Subnet{}, err
		}
		out := dhcpsrv.Subnet{Name: s.Name, Prefix: p.Masked(), ServerAddr: r.cfg.RelayAddr, PXELeaseTime: 10 * time.Minute}
		if gw, err := netip.ParseAddr(s.GatewayIP); err == nil {
			out.Routers = []netip.Addr{gw}
		}
		for _, ir := range ranges {
			if ir.SubnetID != s.ID || ir.Type != "dynamic" {
				continue
			}
			a, err1 := netip.ParseAddr(ir.StartIP)
			b, err2 := netip.ParseAddr(ir.EndIP)
			if err1 == nil && err2 == nil {
				out.Pools = append(out.Pools, dhcpsrv.Pool{Start: a, End: b})
			}
		}
		if len(out.Pools) == 0 {
			return dhcpsrv.Subnet{}, fmt.Errorf("%w: region subnet %s (%s) has no dynamic IP range: add one (POST /api/v1/ipranges type dynamic)",
				ErrConfig, s.Name, s.CIDR)
		}
		return out, nil
	}
	return dhcpsrv.Subnet{}, fmt.Errorf("%w: no region subnet contains the relay address %s: create one (e.g. 127.0.0.0/8 with a dynamic range) before starting the rack",
		ErrConfig, r.cfg.RelayAddr)
}

// Rack is where machines find this rack.
func (r *InProcessRack) Rack() Rack {
	return Rack{DHCP: r.dhcp.Addrs()[0].(*net.UDPAddr), TFTPPort: r.tftp.Addr().(*net.UDPAddr).Port}
}

// HTTPURL is the HTTP boot server's base URL.
func (r *InProcessRack) HTTPURL() string { return "http://" + r.httpd.Addr().String() }

// DHCP returns the rack's DHCP server (leases, stats).
func (r *InProcessRack) DHCP() *dhcpsrv.Server { return r.dhcp }

// Run serves DHCP, TFTP and HTTP boot until ctx ends.
func (r *InProcessRack) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.dhcp.Run(gctx) })
	g.Go(func() error { return r.tftp.Serve(gctx) })
	g.Go(func() error { return r.httpd.Serve(gctx) })
	err := g.Wait()
	r.region.http.CloseIdleConnections()
	return err
}

// bootParams is the rack's view of the region: the machine owning the MAC,
// its status and the purpose the status means.
func (r *InProcessRack) bootParams(ctx context.Context, q pxe.BootQuery) (pxe.BootParams, error) {
	p := pxe.BootParams{Kernel: EphemeralKernel, Initrd: EphemeralInitrd}
	if q.MAC == nil {
		p.Purpose, p.MetadataURL = pxe.Enlist, r.region.base+"/api/v1/metadata"
		return p, nil
	}
	var page api.MachinePage
	if err := r.region.call(ctx, "GET", "/api/v1/machines?mac="+url.QueryEscape(q.MAC.String()), nil, &page); err != nil {
		return p, err
	}
	if len(page.Machines) == 0 {
		p.Purpose, p.MetadataURL = pxe.Enlist, r.region.base+"/api/v1/metadata"
		return p, nil
	}
	m := page.Machines[0]
	p.Hostname = m.Hostname
	rule, ok := StatusPurposes[m.Status]
	if !ok {
		p.Purpose = pxe.Local
		return p, nil
	}
	p.Purpose, p.Extra = rule.Purpose, rule.Extra
	if rule.LocalOnceInstalled {
		installed, err := r.installed(ctx, m.SystemID)
		if err != nil {
			return p, err
		}
		if installed {
			p.Purpose, p.Extra = pxe.Local, nil
			return p, nil
		}
	}
	tok, err := r.token(ctx, m.SystemID)
	if err != nil {
		return p, err
	}
	p.MetadataURL, p.Token = r.region.base+"/api/v1/metadata/"+m.SystemID, tok
	return p, nil
}

// installed reports whether the machine signalled "installed" after its
// latest deploy.
func (r *InProcessRack) installed(ctx context.Context, id string) (bool, error) {
	latest := func(typ string) (int64, error) {
		var evs []api.Event
		err := r.region.call(ctx, "GET", "/api/v1/events?limit=1&system_id="+url.QueryEscape(id)+"&type="+typ, nil, &evs)
		if err != nil || len(evs) == 0 {
			return 0, err
		}
		return evs[0].ID, nil
	}
	inst, err := latest("installed")
	if err != nil || inst == 0 {
		return false, err
	}
	dep, err := latest("deploy")
	return inst > dep, err
}

// token returns the machine's token, issuing one on first use.
func (r *InProcessRack) token(ctx context.Context, id string) (string, error) {
	r.mu.Lock()
	tok, ok := r.tokens[id]
	r.mu.Unlock()
	if ok {
		return tok, nil
	}
	var mt api.MachineToken
	if err := r.region.call(ctx, "POST", "/api/v1/machines/"+url.PathEscape(id)+"/token", nil, &mt); err != nil {
		return "", err
	}
	r.mu.Lock()
	r.tokens[id] = mt.Token
	r.mu.Unlock()
	return mt.Token, nil
}

// regionClient calls the region's REST API with an API key.
type regionClient struct {
	base string
	key  string
	http *http.Client
}

func (c *regionClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("simdc: region %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%w: %s %s: HTTP %d: %.300s", ErrRegion, method, path, resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// memFiles serves boot files from memory.
type memFiles map[string][]byte

func (f memFiles) Open(_ context.Context, name string) (*pxe.File, error) {
	b, ok := f[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", pxe.ErrNotFound, name)
	}
	return pxe.BytesFile(b, time.Unix(1700000000, 0)), nil
}
