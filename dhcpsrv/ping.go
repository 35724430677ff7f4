package dhcpsrv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// pinger sends ICMP echo requests to addresses about to be offered and
// reports whether anything answered (Config.PingCheck). One socket, opened
// in Server.Listen (so in the server's network namespace); replies are
// matched by address and sequence number.
type pinger struct {
	c       *icmp.PacketConn
	raw     bool
	mu      sync.Mutex
	seq     uint16
	waiters map[pingKey]chan struct{}
}

type pingKey struct {
	addr netip.Addr
	seq  uint16
}

func newPinger() (*pinger, error) {
	// Raw ICMP needs root; the unprivileged ping socket needs
	// net.ipv4.ping_group_range to include our group.
	if c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0"); err == nil {
		return &pinger{c: c, raw: true, waiters: map[pingKey]chan struct{}{}}, nil
	}
	c, err := icmp.ListenPacket("udp4", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("dhcpsrv: Config.PingCheck needs an ICMP socket (root, or net.ipv4.ping_group_range covering this group): %w", err)
	}
	return &pinger{c: c, waiters: map[pingKey]chan struct{}{}}, nil
}

func (p *pinger) close() { p.c.Close() }

// readLoop dispatches echo replies until the socket closes.
func (p *pinger) readLoop() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.c.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok {
			continue
		}
		var a netip.Addr
		switch f := from.(type) {
		case *net.IPAddr:
			a, _ = netip.AddrFromSlice(f.IP.To4())
		case *net.UDPAddr:
			a, _ = netip.AddrFromSlice(f.IP.To4())
		}
		k := pingKey{a, uint16(echo.Seq)}
		p.mu.Lock()
		if ch, ok := p.waiters[k]; ok {
			close(ch)
			delete(p.waiters, k)
		}
		p.mu.Unlock()
	}
}

// inUse pings a and waits up to timeout for an answer.
func (p *pinger) inUse(ctx context.Context, a netip.Addr, timeout time.Duration) bool {
	p.mu.Lock()
	p.seq++
	k := pingKey{a, p.seq}
	ch := make(chan struct{})
	p.waiters[k] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiters, k)
		p.mu.Unlock()
	}()
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: 0x1d4c, Seq: int(k.seq), Data: []byte("ironkit-dhcp")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return false
	}
	var dst net.Addr = &net.IPAddr{IP: a.AsSlice()}
	if !p.raw {
		dst = &net.UDPAddr{IP: a.AsSlice()}
	}
	if _, err := p.c.WriteTo(b, dst); err != nil {
		return false // unreachable: nobody there to conflict with
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
