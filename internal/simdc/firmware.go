package simdc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/pin/tftp/v3"

	"github.com/ironkit/ironkit/pxe"
)

// Rack is what a machine's firmware needs to know about the rack serving
// its segment beyond what DHCP tells it: the seam between the simulated
// machines and the rack serving them (rackd: RegisterRack, RackOf).
type Rack struct {
	// DHCP is the rack's DHCP server; the segment's Relay forwards to it,
	// and the server must send its replies to the relay's port.
	DHCP *net.UDPAddr
	// TFTPPort is the TFTP port on the next-server the DHCP reply names
	// (69 in production; a loopback rack listens on a port of its own).
	TFTPPort int
}

// Firmware is how a simulated machine network-boots.
type Firmware string

// Firmware kinds.
const (
	// FirmwarePXELINUX is a BIOS PXE ROM loading lpxelinux.0 over TFTP,
	// which reads pxelinux.cfg/01-<mac> over TFTP and the kernel and
	// initrd over TFTP or, for http:// paths, over HTTP.
	FirmwarePXELINUX Firmware = "pxelinux"
	// FirmwareIPXE is an iPXE ROM: DHCP with user class iPXE, the script
	// URL from the reply, the per-MAC script it chains to, kernel and
	// initrd over HTTP.
	FirmwareIPXE Firmware = "ipxe"
)

// bootConfig is what the loaded config tells the machine to do.
type bootConfig struct {
	Purpose pxe.Purpose
	Args    map[string]string // kernel command line key=value pairs
	Kernel  string            // URL (iPXE) or TFTP path (PXELINUX)
	Initrd  string
	Lease   netip.Addr
	Bytes   int64 // loader, config, kernel and initrd bytes fetched
}

// dora runs DISCOVER/OFFER/REQUEST/ACK through the relay and returns the ACK.
func (m *Machine) dora(ctx context.Context) (*dhcpv4.DHCPv4, error) {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerName),
	}
	if m.spec.Firmware == FirmwareIPXE {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))
	}
	disc, err := dhcpv4.NewDiscovery(m.spec.MACs[0], mods...)
	if err != nil {
		return nil, err
	}
	offer, err := m.dc.relay.exchange(ctx, m.dc.rack.DHCP, disc, dhcpv4.MessageTypeOffer, m.dc.cfg.DHCPTimeout)
	if err != nil {
		return nil, err
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, mods...)
	if err != nil {
		return nil, err
	}
	return m.dc.relay.exchange(ctx, m.dc.rack.DHCP, req, dhcpv4.MessageTypeAck, m.dc.cfg.DHCPTimeout)
}

// netboot is the firmware and boot loader: DHCP, then the loader's config,
// then kernel and initrd.
func (m *Machine) netboot(ctx context.Context) (bootConfig, error) {
	ack, err := m.dora(ctx)
	if err != nil {
		return bootConfig{}, fmt.Errorf("dhcp: %w", err)
	}
	lease, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	file := ack.BootFileName
	if f := ack.Options.Get(dhcpv4.OptionBootfileName); len(f) > 0 {
		file = strings.TrimRight(string(f), "\x00")
	}
	if file == "" {
		return bootConfig{}, fmt.Errorf("dhcp: the ACK for %s names no boot file (is the subnet's boot disabled?)", m.spec.MACs[0])
	}
	var cfg bootConfig
	switch m.spec.Firmware {
	case FirmwareIPXE:
		cfg, err = m.ipxe(ctx, file)
	default:
		next := ack.ServerIPAddr
		if next == nil || next.IsUnspecified() {
			return bootConfig{}, fmt.Errorf("dhcp: the ACK for %s names no next-server for %s", m.spec.MACs[0], file)
		}
		cfg, err = m.pxelinux(ctx, next, file)
	}
	cfg.Lease = lease
	return cfg, err
}

// macHyphen is aa-bb-cc-dd-ee-ff.
func macHyphen(mac net.HardwareAddr) string { return strings.ReplaceAll(mac.String(), ":", "-") }

// ipxe runs an iPXE script chain starting at url.
func (m *Machine) ipxe(ctx context.Context, url string) (bootConfig, error) {
	var cfg bootConfig
	vars := strings.NewReplacer("${buildarch}", "x86_64", "${platform}", "pcbios",
		"${net0/mac:hexhyp}", macHyphen(m.spec.MACs[0]), "${net0/mac}", m.spec.MACs[0].String())
	for hop := 0; hop < 4; hop++ {
		script, err := m.httpGet(ctx, url)
		if err != nil {
			return cfg, fmt.Errorf("ipxe script: %w", err)
		}
		cfg.Bytes += int64(len(script))
		if !bytes.HasPrefix(script, []byte("#!ipxe")) {
			return cfg, fmt.Errorf("ipxe: %s is not an iPXE script: %.40q", url, script)
		}
		next := ""
		sc := bufio.NewScanner(bytes.NewReader(script))
		for sc.Scan() {
			line := vars.Replace(strings.TrimSpace(sc.Text()))
			f := strings.Fields(line)
			if len(f) == 0 || strings.HasPrefix(f[0], "#") {
				continue
			}
			switch f[0] {
			case "chain":
				next = f[len(f)-1]
			case "sanboot", "exit":
				cfg.Purpose = pxe.Local
				return cfg, nil
			case "poweroff":
				cfg.Purpose = pxe.Poweroff
				return cfg, nil
			case "kernel":
				args := dropOptions(f[1:])
				if len(args) == 0 {
					return cfg, fmt.Errorf("ipxe: kernel line without URL in %s", url)
				}
				cfg.Kernel, cfg.Args = args[0], parseCmdline(args[1:])
			case "initrd":
				if args := dropOptions(f[1:]); len(args) > 0 {
					cfg.Initrd = args[0]
				}
			case "boot":
				return m.loadKernel(ctx, cfg, func(ctx context.Context, url string) (int64, error) {
					return m.httpFetch(ctx, url, io.Discard)
				})
			}
		}
		if next == "" {
			return cfg, fmt.Errorf("ipxe: script %s neither boots nor chains", url)
		}
		url = next
	}
	return cfg, fmt.Errorf("ipxe: more than 4 chained scripts from %s", url)
}

// dropOptions removes iPXE's --name style options.
func dropOptions(f []string) []string {
	var out []string
	for i := 0; i < len(f); i++ {
		if strings.HasPrefix(f[i], "--") {
			if !strings.Contains(f[i], "=") && i+1 < len(f) {
				i++
			}
			continue
		}
		out = append(out, f[i])
	}
	return out
}

// parseCmdline turns key=value words into a map (bare words map to "").
func parseCmdline(words []string) map[string]string {
	out := map[string]string{}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		out[k] = v
	}
	return out
}

// loadKernel fetches kernel and initrd (into memory the machine then
// boots: read, counted, dropped) and reads the purpose off the command
// line.
func (m *Machine) loadKernel(ctx context.Context, cfg bootConfig, load func(context.Context, string) (int64, error)) (bootConfig, error) {
	for _, f := range []string{cfg.Kernel, cfg.Initrd} {
		if f == "" {
			return cfg, fmt.Errorf("boot config names no kernel or initrd (kernel %q, initrd %q)", cfg.Kernel, cfg.Initrd)
		}
		n, err := load(ctx, f)
		if err != nil {
			return cfg, fmt.Errorf("load %s: %w", f, err)
		}
		cfg.Bytes += n
	}
	p := pxe.Purpose(cfg.Args["ironkit.purpose"])
	if p == "" {
		return cfg, fmt.Errorf("kernel command line has no ironkit.purpose: %v", cfg.Args)
	}
	cfg.Purpose = p
	return cfg, nil
}

// pxelinux is a PXE ROM running lpxelinux.0 from next over TFTP.
func (m *Machine) pxelinux(ctx context.Context, next net.IP, loader string) (bootConfig, error) {
	var cfg bootConfig
	addr := net.JoinHostPort(next.String(), strconv.Itoa(m.dc.rack.TFTPPort))
	get := func(ctx context.Context, name string) ([]byte, error) { return m.tftpGet(ctx, addr, name) }
	load := func(ctx context.Context, name string) (int64, error) {
		if strings.HasPrefix(name, "http://") {
			return m.httpFetch(ctx, name, io.Discard) // lpxelinux.0 reads http:// paths
		}
		b, err := m.tftpGet(ctx, addr, name)
		return int64(len(b)), err
	}
	b, err := get(ctx, loader)
	if err != nil {
		return cfg, fmt.Errorf("pxe loader: %w", err)
	}
	cfg.Bytes += int64(len(b))
	conf, err := get(ctx, "pxelinux.cfg/01-"+macHyphen(m.spec.MACs[0]))
	if err != nil {
		return cfg, fmt.Errorf("pxelinux config: %w", err)
	}
	cfg.Bytes += int64(len(conf))
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "LOCALBOOT":
			cfg.Purpose = pxe.Local
			return cfg, nil
		case "COM32":
			if len(f) > 1 && strings.HasPrefix(f[1], "poweroff") {
				cfg.Purpose = pxe.Poweroff
				return cfg, nil
			}
		case "KERNEL":
			if len(f) > 1 {
				cfg.Kernel = f[1]
			}
		case "INITRD":
			if len(f) > 1 {
				cfg.Initrd = f[1]
			}
		case "APPEND":
			cfg.Args = parseCmdline(f[1:])
		}
	}
	return m.loadKernel(ctx, cfg, load)
}

// tftpGet reads name from addr; pin's client has no context, so the
// transfer is bounded by its per-packet timeout and retries.
func (m *Machine) tftpGet(ctx context.Context, addr, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := tftp.NewClient(addr)
	if err != nil {
		return nil, err
	}
	// The first packet waits for the rack to render the config.
	c.SetTimeout(2 * time.Second)
	c.SetRetries(5)
	c.SetBlockSize(1468)
	wt, err := c.Receive(strings.TrimPrefix(name, "/"), "octet")
	if err != nil {
		return nil, fmt.Errorf("tftp %s from %s: %w", name, addr, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("tftp %s from %s: %w", name, addr, err)
	}
	return buf.Bytes(), nil
}

// httpGet fetches url (bounded by the datacenter's HTTP timeout).
func (m *Machine) httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.dc.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: HTTP %d: %.200s", url, resp.StatusCode, b)
	}
	return b, nil
}

// httpFetch streams url into w (bounded by the datacenter's HTTP
// timeout) and returns the byte count.
func (m *Machine) httpFetch(ctx context.Context, url string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := m.dc.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return 0, fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	buf := m.dc.bufs.Get().(*[]byte)
	defer m.dc.bufs.Put(buf)
	n, err := io.CopyBuffer(w, struct{ io.Reader }{resp.Body}, *buf)
	if err != nil {
		return n, fmt.Errorf("GET %s: %w", url, err)
	}
	return n, nil
}
