package simdc

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/rpc"
)

// RackConfig is how the simulation registers a real rack (internal/rack,
// what `rackd serve` runs) with the region.
type RackConfig struct {
	// Regions are the region base URLs, e.g. http://127.0.0.1:5240.
	Regions []string
	// Secret is the rack shared secret (hex, `regiond secret show`).
	Secret string
	// Name is the rack's name (default "simdc-rack").
	Name string
	// StateDir is the rack's state directory (cached config, leases,
	// image cache).
	StateDir string
	// RelayPort is where the rack's DHCP server sends replies: the
	// Datacenter's RelayPort.
	RelayPort uint16
	// KernelOverTFTP keeps package pxe's built-in PXELINUX template, whose
	// kernel and initrd paths PXELINUX machines fetch over TFTP. By
	// default the rack renders http:// URLs for them (templates_dir with a
	// pxelinux.tmpl, as MAAS does for lpxelinux.0), so TFTP carries only
	// the loader and its config.
	KernelOverTFTP bool
	// Logger; nil discards.
	Logger *slog.Logger
}

// pxelinuxHTTP is pxe's pxelinux.tmpl with the kernel and initrd fetched
// over HTTP (lpxelinux.0 reads http:// paths).
const pxelinuxHTTP = `# ironkit: {{.Purpose}} {{.Platform}}{{with .MAC}} {{.}}{{end}} (kernel and initrd over HTTP)
DEFAULT ironkit
PROMPT 0
TIMEOUT 0
{{- if eq .Purpose "local"}}
LABEL ironkit
  LOCALBOOT 0
{{- else if eq .Purpose "poweroff"}}
LABEL ironkit
  COM32 poweroff.c32
{{- else}}
LABEL ironkit
  KERNEL {{.KernelURL}}
  INITRD {{.InitrdURL}}
  APPEND {{.Cmdline}}
{{- if .IPAppend}}
  IPAPPEND 2
{{- end}}
{{- end}}
`

// RegisterRack registers a rack with the region over the rack RPC (the
// shared secret's HMAC proof) and returns its rackd config for serving the
// simulated segment on loopback: DHCP from one socket on a free loopback
// port answering the relay at RelayPort, TFTP and HTTP boot on free
// loopback ports, the loopback interface counted as the rack's (so it
// serves 127.0.0.0/8), rogue DHCP detection off, the image cache on (it
// syncs the boot resources from the region). Save it for `rackd serve
// --config`, or run it in-process with RunRack.
func RegisterRack(ctx context.Context, cfg RackConfig) (rack.File, error) {
	if len(cfg.Regions) == 0 || cfg.Secret == "" || cfg.StateDir == "" || cfg.RelayPort == 0 {
		return rack.File{}, fmt.Errorf("%w: RackConfig needs Regions, Secret, StateDir and RelayPort (got %v, secret set %v, %q, %d)",
			ErrConfig, cfg.Regions, cfg.Secret != "", cfg.StateDir, cfg.RelayPort)
	}
	if cfg.Name == "" {
		cfg.Name = "simdc-rack"
	}
	reply, err := rack.Register(ctx, cfg.Regions, cfg.Secret, cfg.Name, rack.Version, cfg.Logger)
	if err != nil {
		return rack.File{}, err
	}
	dhcpPort, err := freePort("udp4")
	if err != nil {
		return rack.File{}, err
	}
	tftpPort, err := freePort("udp4")
	if err != nil {
		return rack.File{}, err
	}
	httpPort, err := freePort("tcp4")
	if err != nil {
		return rack.File{}, err
	}
	f := rack.File{
		Regions: cfg.Regions, Name: cfg.Name, RackID: reply.RackID, Token: reply.Token, StateDir: cfg.StateDir,
		TFTPAddr:          "127.0.0.1:" + strconv.Itoa(tftpPort),
		HTTPAddr:          "127.0.0.1:" + strconv.Itoa(httpPort),
		HTTPURL:           "http://127.0.0.1:" + strconv.Itoa(httpPort),
		DHCPListen:        "127.0.0.1:" + strconv.Itoa(dhcpPort),
		DHCPRelayPort:     cfg.RelayPort,
		Loopback:          true,
		RogueDHCPInterval: "off",
	}
	if !cfg.KernelOverTFTP {
		f.TemplatesDir = filepath.Join(cfg.StateDir, "templates")
		if err := os.MkdirAll(f.TemplatesDir, 0o755); err != nil {
			return rack.File{}, err
		}
		if err := os.WriteFile(filepath.Join(f.TemplatesDir, "pxelinux.tmpl"), []byte(pxelinuxHTTP), 0o644); err != nil {
			return rack.File{}, err
		}
	}
	return f, nil
}

// freePort finds a free loopback port (closed again: the rack binds it).
func freePort(network string) (int, error) {
	if strings.HasPrefix(network, "udp") {
		c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, fmt.Errorf("simdc: free %s port: %w", network, err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.ListenTCP(network, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, fmt.Errorf("simdc: free %s port: %w", network, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RackOf is where the simulated machines find the rack f configures: its
// DHCP socket (the relay forwards there) and its TFTP port.
func RackOf(f rack.File) (Rack, error) {
	d, err := net.ResolveUDPAddr("udp4", f.DHCPListen)
	if err != nil || d.Port == 0 {
		return Rack{}, fmt.Errorf("%w: rack config dhcp_listen %q: set a loopback address with a port, e.g. 127.0.0.1:6767", ErrConfig, f.DHCPListen)
	}
	t, err := net.ResolveUDPAddr("udp4", f.TFTPAddr)
	if err != nil || t.Port == 0 {
		return Rack{}, fmt.Errorf("%w: rack config tftp_addr %q: set a loopback address with a port, e.g. 127.0.0.1:6969", ErrConfig, f.TFTPAddr)
	}
	return Rack{DHCP: d, TFTPPort: t.Port}, nil
}

// RunRack runs the rack f configures in this process (rack.Service, what
// `rackd serve` runs) until ctx ends. It talks to the region only over
// HTTP, as a separate rackd does.
func RunRack(ctx context.Context, f rack.File, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	svc, err := rack.New(rack.Config{File: f, Logger: log.With("rack", f.Name)})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

// Boot resources the simulation gives the region (and the rack's image
// cache syncs): the ephemeral environment's kernel and initrd and the
// deployable root image in one set, and PXELINUX in a bootloader set.
const (
	BootSet     = "ubuntu/amd64/generic/noble/generic"
	BootVersion = "20261121"
	KernelName  = BootSet + "/boot-kernel"
	InitrdName  = BootSet + "/boot-initrd"
	PXELoader   = "lpxelinux.0"
)

// RegionSetup is what SetupRegion gives the region.
type RegionSetup struct {
	// RackID is the rack made primary DHCP rack of the simulation's VLAN.
	RackID int64
	// Kernel, Initrd and Image sizes in bytes (defaults 1 MiB, 4 MiB,
	// 8 MiB of synthetic content).
	KernelSize, InitrdSize, ImageSize int
}

// SetupRegion prepares a region for the simulation through its API (an
// administrator's key): the loopback subnet 127.0.0.0/8 with a dynamic
// range on a VLAN of its own, DHCP on with the rack as primary; the boot
// resources (kernel, initrd, root image, lpxelinux.0). A second call on the
// same region finds the network and re-uploads the files.
func SetupRegion(ctx context.Context, regionURL, apiKey string, s RegionSetup) error {
	c := &regionClient{base: strings.TrimSuffix(regionURL, "/"), key: apiKey, http: &http.Client{Timeout: 60 * time.Second}}
	defer c.http.CloseIdleConnections()
	if s.KernelSize <= 0 {
		s.KernelSize = 1 << 20
	}
	if s.InitrdSize <= 0 {
		s.InitrdSize = 4 << 20
	}
	if s.ImageSize <= 0 {
		s.ImageSize = 8 << 20
	}
	var subnets []api.Subnet
	if err := c.call(ctx, "GET", "/api/v1/subnets", nil, &subnets); err != nil {
		return err
	}
	var vlanID int64
	if i := slices.IndexFunc(subnets, func(s api.Subnet) bool { return s.CIDR == "127.0.0.0/8" }); i >= 0 {
		vlanID = subnets[i].VLANID
	} else {
		var f api.Fabric
		if err := c.call(ctx, "POST", "/api/v1/fabrics", api.Fabric{Name: "simdc"}, &f); err != nil {
			return err
		}
		var vlans []api.VLAN
		if err := c.call(ctx, "GET", "/api/v1/vlans", nil, &vlans); err != nil {
			return err
		}
		i := slices.IndexFunc(vlans, func(v api.VLAN) bool { return v.FabricID == f.ID })
		if i < 0 {
			return fmt.Errorf("simdc: fabric %d has no VLAN", f.ID)
		}
		vlanID = vlans[i].ID
		var sn api.Subnet
		if err := c.call(ctx, "POST", "/api/v1/subnets", api.Subnet{Name: "simdc-loopback", VLANID: vlanID, CIDR: "127.0.0.0/8"}, &sn); err != nil {
			return err
		}
		if err := c.call(ctx, "POST", "/api/v1/ipranges", api.IPRange{SubnetID: sn.ID, Type: "dynamic", StartIP: "127.10.0.1", EndIP: "127.10.255.254"}, nil); err != nil {
			return err
		}
		// The rack's own corner: deployments' auto addresses come after it.
		if err := c.call(ctx, "POST", "/api/v1/ipranges", api.IPRange{SubnetID: sn.ID, Type: "reserved", StartIP: "127.0.0.1", EndIP: "127.0.255.254"}, nil); err != nil {
			return err
		}
	}
	if s.RackID != 0 {
		if err := c.call(ctx, "PATCH", fmt.Sprintf("/api/v1/vlans/%d", vlanID), map[string]any{"dhcp_on": true, "primary_rack": s.RackID}, nil); err != nil {
			return fmt.Errorf("simdc: turn DHCP on for VLAN %d with rack %d: %w", vlanID, s.RackID, err)
		}
	}
	uploads := []struct {
		path string
		body []byte
	}{
		{BootSet + "/" + BootVersion + "/boot-kernel", synthetic("kernel", s.KernelSize)},
		{BootSet + "/" + BootVersion + "/boot-initrd", synthetic("initrd", s.InitrdSize)},
		{BootSet + "/" + BootVersion + "/root.tar.xz?complete=true", synthetic("root image", s.ImageSize)},
		{"bootloader/amd64/generic/pxelinux/generic/" + BootVersion + "/" + PXELoader + "?complete=true", synthetic("lpxelinux", 42<<10)},
	}
	for _, u := range uploads {
		req, err := http.NewRequestWithContext(ctx, "PUT", c.base+"/api/v1/boot-resources/"+u.path, bytes.NewReader(u.body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		resp, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("simdc: upload %s: %w", u.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("simdc: upload %s: HTTP %d", u.path, resp.StatusCode)
		}
	}
	return nil
}

// WaitRack waits until the rack f configures serves the simulation: the
// region sees its DHCP and HTTP boot services running, and its boot
// servers have the loader, kernel and initrd from its image cache.
func WaitRack(ctx context.Context, regionURL, apiKey string, f rack.File, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c := &regionClient{base: strings.TrimSuffix(regionURL, "/"), key: apiKey, http: &http.Client{Timeout: 10 * time.Second}}
	defer c.http.CloseIdleConnections()
	last := "no answer yet"
	for {
		ok, why := rackReady(ctx, c, f)
		if ok {
			return nil
		}
		if why != "" {
			last = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("simdc: rack %q (id %d) not serving after %s: %s", f.Name, f.RackID, d, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func rackReady(ctx context.Context, c *regionClient, f rack.File) (bool, string) {
	var racks []api.Rack
	if err := c.call(ctx, "GET", "/api/v1/racks", nil, &racks); err != nil {
		return false, err.Error()
	}
	i := slices.IndexFunc(racks, func(r api.Rack) bool { return r.ID == f.RackID })
	if i < 0 {
		return false, "the region does not list the rack"
	}
	var svcs []rpc.ServiceHealth
	_ = jsonUnmarshal(racks[i].Services, &svcs)
	for _, want := range []string{"dhcp", "http-boot", "tftp"} {
		j := slices.IndexFunc(svcs, func(h rpc.ServiceHealth) bool { return h.Name == want })
		if j < 0 || svcs[j].Status != rpc.ServiceRunning {
			return false, fmt.Sprintf("rack services %+v: %s not running", svcs, want)
		}
	}
	for _, name := range []string{PXELoader, KernelName, InitrdName} {
		req, err := http.NewRequestWithContext(ctx, "HEAD", strings.TrimSuffix(f.HTTPURL, "/")+"/"+name, nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("rack HTTP boot: %s: HTTP %d (image cache not synced yet)", name, resp.StatusCode)
		}
	}
	return true, ""
}
