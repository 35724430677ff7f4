package simdc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// ErrNoReply is returned when a DHCP exchange got no answer before its
// deadline.
var ErrNoReply = errors.New("simdc: no DHCP reply")

// ErrNAK is a DHCP NAK (the firmware starts over with a DISCOVER).
var ErrNAK = errors.New("simdc: DHCP NAK")

// Relay is the simulated segment's DHCP relay agent: every machine's
// broadcast reaches it, it forwards the packet to the rack's DHCP server
// with giaddr 127.0.0.1 and hands each reply back to the machine waiting
// for its transaction id. One socket serves every machine, as one relay
// agent serves a whole segment.
type Relay struct {
	conn *net.UDPConn

	mu      sync.Mutex
	waiters map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4
}

// NewRelay opens the relay's socket on a loopback port.
func NewRelay() (*Relay, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("simdc: relay socket: %w", err)
	}
	return &Relay{conn: c, waiters: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}}, nil
}

// Port is the UDP port replies must be sent to: the rack's DHCP server uses
// it as the relay (server) port.
func (r *Relay) Port() uint16 { return uint16(r.conn.LocalAddr().(*net.UDPAddr).Port) }

// Run reads replies until ctx ends, then closes the socket.
func (r *Relay) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.conn.Close() })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("simdc: relay read: %w", err)
		}
		p, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			continue
		}
		r.mu.Lock()
		ch := r.waiters[p.TransactionID]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- p:
			default:
			}
		}
	}
}

// Close closes the socket (Run does it when its context ends).
func (r *Relay) Close() error { return r.conn.Close() }

// exchange relays p to server and waits until d for the reply of type want.
func (r *Relay) exchange(ctx context.Context, server *net.UDPAddr, p *dhcpv4.DHCPv4, want dhcpv4.MessageType, d time.Duration) (*dhcpv4.DHCPv4, error) {
	ch := make(chan *dhcpv4.DHCPv4, 4)
	r.mu.Lock()
	r.waiters[p.TransactionID] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiters, p.TransactionID)
		r.mu.Unlock()
	}()
	p.GatewayIPAddr = net.IPv4(127, 0, 0, 1).To4()
	p.HopCount = 1
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	// Firmware retransmits; so does this: 4 tries within d.
	resend := time.NewTicker(d / 4)
	defer resend.Stop()
	send := func() error {
		_, err := r.conn.WriteToUDP(p.ToBytes(), server)
		return err
	}
	if err := send(); err != nil {
		return nil, fmt.Errorf("simdc: relay to %s: %w", server, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("%w: %s for %s (xid %s) from %s within %s", ErrNoReply, want, p.ClientHWAddr, p.TransactionID, server, d)
		case <-resend.C:
			_ = send()
		case reply := <-ch:
			if reply.MessageType() == dhcpv4.MessageTypeNak {
				return nil, fmt.Errorf("%w for %s: %s", ErrNAK, p.ClientHWAddr, reply.Message())
			}
			if reply.MessageType() == want {
				return reply, nil
			}
		}
	}
}
