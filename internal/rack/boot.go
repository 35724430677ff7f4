package rack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sync/errgroup"

	"github.com/ironkit/ironkit/images"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/pxe"
)

// Default boot file names under the boot root (the image cache's logical
// names for the ephemeral environment, or files in BootDir).
const (
	DefaultKernel = "ephemeral/amd64/vmlinuz"
	DefaultInitrd = "ephemeral/amd64/initrd.img"
)

// RackURLArg is the kernel command line argument that carries the rack's
// HTTP boot base URL to a deployment's ephemeral environment
// (ironkit.rack_url=http://10.0.0.2:5248): the environment fetches the
// root image from <rack_url>/<image_path>, where image_path comes with the
// deploy instructions and names the image in the rack's image cache.
const RackURLArg = "ironkit.rack_url"

// bootFiles picks the kernel and initrd (logical names in the image cache)
// of the newest complete set for arch: a set that is not a bootloader set
// and has both a kernel and an initrd, newest by completion time, then by
// version. ok is false when no set fits (the rack then uses DefaultKernel
// and DefaultInitrd).
func bootFiles(sets []images.Set, arch string) (kernel, initrd string, ok bool) {
	var best *images.Set
	for i := range sets {
		set := &sets[i]
		if !set.Complete || set.Key.OS == images.BootloaderOS || set.Key.Arch != arch {
			continue
		}
		k, r := kindFile(set, images.KindKernel), kindFile(set, images.KindInitrd)
		if k == "" || r == "" {
			continue
		}
		if best == nil || set.CompletedAt.After(best.CompletedAt) ||
			(set.CompletedAt.Equal(best.CompletedAt) && images.CompareVersions(set.Version, best.Version) > 0) {
			best, kernel, initrd = set, k, r
		}
	}
	if best == nil {
		return "", "", false
	}
	p := best.Key.Path()
	return p + "/" + kernel, p + "/" + initrd, true
}

func kindFile(set *images.Set, k images.Kind) string {
	for _, f := range set.Files {
		if f.Kind() == k {
			return f.Name
		}
	}
	return ""
}

// cacheFiles serves the image cache's complete sets to pxe.
type cacheFiles struct{ c *images.Cache }

func (f cacheFiles) Open(_ context.Context, name string) (*pxe.File, error) {
	fh, err := f.c.Open(name)
	if err != nil {
		if errors.Is(err, images.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", pxe.ErrNotFound, name)
		}
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	return &pxe.File{Body: fh, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// chainFiles tries each Files in turn.
type chainFiles []pxe.Files

func (c chainFiles) Open(ctx context.Context, name string) (*pxe.File, error) {
	for _, f := range c {
		out, err := f.Open(ctx, name)
		if err == nil || !errors.Is(err, pxe.ErrNotFound) {
			return out, err
		}
	}
	return nil, fmt.Errorf("%w: %s", pxe.ErrNotFound, name)
}

// bootCacheTTL is how long a boot lookup's answer (and its machine token)
// is reused for the same MAC: one boot fetches its config more than once
// (TFTP size probes, GRUB chains, retries) and must see one token. A DHCP
// lease committed or renewed for the MAC on this rack (the next boot)
// drops the entry sooner.
const bootCacheTTL = 90 * time.Second

// bootLookupTimeout bounds the per-MAC boot lookup: past it the rack boots
// the machine from its cached config, without a token.
const bootLookupTimeout = 5 * time.Second

// bootCall is a boot lookup in flight.
type bootCall struct {
	done  chan struct{}
	reply rpc.BootReply
	err   error
}

type bootEntry struct {
	reply   rpc.BootReply
	expires time.Time
}

// lookupBoot asks the region how mac boots now (with a fresh machine token
// when the boot needs the metadata API), reusing an answer younger than
// bootCacheTTL. Tokens are kept in memory only, never on disk or in logs.
func (s *Service) lookupBoot(ctx context.Context, mac string) (rpc.BootReply, error) {
	now := time.Now()
	s.bootMu.Lock()
	if e, ok := s.boots[mac]; ok && now.Before(e.expires) {
		s.bootMu.Unlock()
		return e.reply, nil
	}
	// One lookup per MAC at a time: a firmware retransmitting its request
	// while the first lookup is on its way must get the same token, not
	// a second one that revokes the first.
	if c, ok := s.bootCalls[mac]; ok {
		s.bootMu.Unlock()
		select {
		case <-c.done:
			return c.reply, c.err
		case <-ctx.Done():
			return rpc.BootReply{}, ctx.Err()
		}
	}
	if s.bootCalls == nil {
		s.bootCalls = map[string]*bootCall{}
	}
	c := &bootCall{done: make(chan struct{})}
	s.bootCalls[mac] = c
	s.bootMu.Unlock()
	defer func() {
		s.bootMu.Lock()
		delete(s.bootCalls, mac)
		s.bootMu.Unlock()
		close(c.done)
	}()
	var r rpc.BootReply
	if err := s.client.Do(ctx, http.MethodPost, rpc.PathBoot, rpc.BootRequest{MAC: mac}, &r, bootLookupTimeout); err != nil {
		c.err = err
		return r, err
	}
	c.reply = r
	if !r.Known {
		// An unknown MAC enlists; caching that would send it to enlist
		// again once it is known.
		return r, nil
	}
	s.bootMu.Lock()
	defer s.bootMu.Unlock()
	for k, e := range s.boots {
		if now.After(e.expires) {
			delete(s.boots, k)
		}
	}
	s.boots[mac] = bootEntry{reply: r, expires: now.Add(bootCacheTTL)}
	return r, nil
}

// forgetBoot drops mac's cached boot lookup: its DHCP exchange starts a
// new boot, whose purpose (commission, then deploy, then local once
// installed) the region decides afresh.
func (s *Service) forgetBoot(mac string) {
	s.bootMu.Lock()
	delete(s.boots, mac)
	s.bootMu.Unlock()
}

// BootParams implements pxe.BootSource. A MAC's boot is looked up on the
// region (its fresh purpose and, for commissioning, testing, disk
// erasing, deploying and rescue, a machine token that goes on the kernel
// command line as ironkit.token= with the machine's metadata URL). While no
// region answers it falls back to the config the rack serves: a known MAC
// boots as its machine's status said, without a token; an unknown one
// enlists.
func (s *Service) BootParams(ctx context.Context, q pxe.BootQuery) (pxe.BootParams, error) {
	base := strings.TrimRight(s.client.URL(), "/")
	p := pxe.BootParams{Purpose: pxe.Enlist, Kernel: DefaultKernel, Initrd: DefaultInitrd,
		MetadataURL: base + "/api/v1/metadata/"}
	if s.cache != nil {
		arch := q.Platform.Arch
		if arch == "" {
			arch = pxe.AMD64
		}
		if k, r, ok := bootFiles(s.cache.Active(), string(arch)); ok {
			p.Kernel, p.Initrd = k, r
		}
	}
	looked := false
	if q.MAC != nil {
		r, err := s.lookupBoot(ctx, q.MAC.String())
		if err != nil {
			s.log.Warn("boot lookup failed: booting from the cached config, without a machine token",
				"mac", q.MAC.String(), "err", err)
		} else {
			looked = true
			if r.Known {
				p.Purpose, p.Hostname, p.Extra = pxe.Purpose(r.Purpose), r.Hostname, r.Extra
			}
			if r.Token != "" {
				p.Token, p.MetadataURL = r.Token, base+r.MetadataPath
			}
		}
	}
	if cur, ok := s.Config(); ok && q.MAC != nil && !looked {
		for _, m := range cur.Machines {
			if strings.EqualFold(m.MAC, q.MAC.String()) {
				p.Purpose, p.Hostname, p.Extra = pxe.Purpose(m.Purpose), m.Hostname, m.Extra
				break
			}
		}
	}
	if s.cfg.File.HTTPURL != "" {
		p.ServerURL = s.cfg.File.HTTPURL
	} else if a := s.addrFacing(q.Remote); a.IsValid() {
		p.ServerURL = "http://" + net.JoinHostPort(a.String(), portOf(s.httpAddr(), "5248"))
	}
	// The ephemeral environment fetches a deployment's root image from
	// the rack that booted it (<rack_url>/<image_path> of the deploy
	// instructions), falling back to the region's image_url.
	if p.ServerURL != "" && s.cfg.File.HTTPAddr != "-" && p.Purpose == pxe.Deploy {
		p.Extra = append(p.Extra, RackURLArg+"="+strings.TrimRight(p.ServerURL, "/"))
	}
	return p, nil
}

func (s *Service) httpAddr() string {
	if s.cfg.File.HTTPAddr != "" {
		return s.cfg.File.HTTPAddr
	}
	return ":5248"
}

func portOf(addr, def string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil && p != "" && p != "0" {
		return p
	}
	return def
}

// addrFacing is the rack's address on remote's subnet.
func (s *Service) addrFacing(remote netip.Addr) netip.Addr {
	ifs, _ := s.cfg.Interfaces()
	for _, ifc := range ifs {
		for _, p := range ifc.Addresses {
			if remote.IsValid() && p.Masked().Contains(remote) {
				return p.Addr()
			}
		}
	}
	return netip.Addr{}
}

// startBoot starts the TFTP and HTTP boot servers.
func (s *Service) startBoot(ctx context.Context, g *errgroup.Group) error {
	var files chainFiles
	if s.cfg.File.BootDir != "" {
		d, err := pxe.NewDirFiles(s.cfg.File.BootDir)
		if err != nil {
			return err
		}
		go func() { <-ctx.Done(); d.Close() }()
		files = append(files, d)
	}
	if s.cache != nil {
		files = append(files, cacheFiles{s.cache})
	}
	var tmpl fs.FS
	if d := s.cfg.File.TemplatesDir; d != "" {
		tmpl = os.DirFS(d)
	}
	r, err := pxe.NewRenderer(tmpl)
	if err != nil {
		return fmt.Errorf("rack: templates_dir %s: %w", s.cfg.File.TemplatesDir, err)
	}
	res := &pxe.ConfigResolver{Source: s, Renderer: r, ServerURL: s.cfg.File.HTTPURL}
	log := s.log.With("part", "pxe")
	if a := s.cfg.File.TFTPAddr; a != "-" {
		if a == "" {
			a = ":69"
		}
		t := pxe.NewTFTPServer(files, pxe.WithAddr(a), pxe.WithResolver(res), pxe.WithLogger(log), pxe.WithMetrics(s.pxeMetrics))
		if err := t.Listen(ctx); err != nil {
			s.setHealth("tftp", "dead", err.Error())
			return fmt.Errorf("rack: tftp on %s: %w", a, err)
		}
		s.setHealth("tftp", "running", t.Addr().String())
		g.Go(func() error { return t.Serve(ctx) })
	}
	if a := s.cfg.File.HTTPAddr; a != "-" {
		h := pxe.NewHTTPServer(files, pxe.WithAddr(s.httpAddr()), pxe.WithResolver(res), pxe.WithLogger(log), pxe.WithMetrics(s.pxeMetrics))
		if err := h.Listen(ctx); err != nil {
			s.setHealth("http-boot", "dead", err.Error())
			return fmt.Errorf("rack: http boot on %s: %w", s.httpAddr(), err)
		}
		s.setHealth("http-boot", "running", h.Addr().String())
		g.Go(func() error { return h.Serve(ctx) })
	}
	return nil
}

// checkIPs pings each address once (raw ICMP as root, else unprivileged
// ICMP datagram sockets) and returns those that answered within 1s.
func checkIPs(ctx context.Context, addrs []netip.Addr) ([]netip.Addr, error) {
	network, raw := "ip4:icmp", true
	c, err := icmp.ListenPacket(network, "0.0.0.0")
	if err != nil {
		network, raw = "udp4", false
		if c, err = icmp.ListenPacket(network, "0.0.0.0"); err != nil {
			return nil, fmt.Errorf("rack: check IPs: open an ICMP socket: %w (run rackd as root or allow net.ipv4.ping_group_range)", err)
		}
	}
	defer c.Close()
	want := map[netip.Addr]bool{}
	for i, a := range addrs {
		if !a.Is4() {
			continue
		}
		want[a] = true
		m := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 0x1c4b, Seq: i, Data: []byte("ironkit")}}
		b, _ := m.Marshal(nil)
		var dst net.Addr = &net.UDPAddr{IP: a.AsSlice()}
		if raw {
			dst = &net.IPAddr{IP: a.AsSlice()}
		}
		_, _ = c.WriteTo(b, dst)
	}
	deadline := time.Now().Add(time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetReadDeadline(deadline)
	var inUse []netip.Addr
	buf := make([]byte, 1500)
	for len(want) > 0 {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			break // deadline
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		var ip net.IP
		switch f := from.(type) {
		case *net.IPAddr:
			ip = f.IP
		case *net.UDPAddr:
			ip = f.IP
		}
		if a, ok := netip.AddrFromSlice(ip); ok && want[a.Unmap()] {
			delete(want, a.Unmap())
			inUse = append(inUse, a.Unmap())
		}
	}
	return inUse, nil
}
