package dhcpsrv

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The peer link: the primary dials the secondary's Failover.Listen; one TCP
// connection carries length-prefixed frames both ways. On every (re)connect
// each side sends HELLO, then every lease record it holds (SYNCREC) and
// SYNCDONE; afterwards every lease change goes out as UPDATE and comes back
// as ACK once the partner has made it durable. HEARTBEATs flow both ways
// every Failover.Heartbeat.

// FailoverState is where this server stands with its partner.
type FailoverState int32

const (
	// FailoverWaiting: just started, not yet synced with the partner;
	// answers nobody (the partner may know leases we do not).
	FailoverWaiting FailoverState = iota
	// FailoverNormal: synced; answers its own clients, replies wait for the
	// partner's acknowledgement of their lease update.
	FailoverNormal
	// FailoverInterrupted: lost the partner less than MaxResponseDelay ago;
	// answers its own clients without waiting for the partner.
	FailoverInterrupted
	// FailoverPartnerDown: the partner is gone; answers every client,
	// still allocating only from its own share of each pool.
	FailoverPartnerDown
)

func (s FailoverState) String() string {
	return [...]string{"waiting", "normal", "communications-interrupted", "partner-down"}[s]
}

const (
	frHello     = 1
	frSyncRec   = 2
	frSyncDone  = 3
	frUpdate    = 4
	frAck       = 5
	frHeartbeat = 6
)

// lbMix is the RFC 3074 section 6 mixing table for load-balancing hashes.
var lbMix = [256]byte{
	251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0,
	232, 31, 32, 55, 60, 152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57,
	223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243, 124, 95, 222, 179,
	197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23,
	97, 16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108,
	244, 67, 207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193,
	200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25, 226, 227, 199, 75,
	27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115,
	241, 73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221,
	148, 154, 122, 12, 84, 82, 163, 44, 139, 228, 236, 205, 242, 217, 11,
	187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118, 112, 184, 172, 87,
	2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66,
	231, 52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189,
	93, 92, 51, 53, 183, 19, 171, 72, 50, 33, 104, 101, 69, 8, 252, 83, 120,
	76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136, 208, 162, 129, 190,
	132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
	149, 80, 170, 68, 6, 169, 234, 151,
}

// LoadBalanceHash is the RFC 3074 hash of a client key (client identifier,
// else hardware address): in LoadBalancing mode the primary answers even
// hashes, the secondary odd ones.
func LoadBalanceHash(key []byte) byte {
	h := byte(len(key))
	for i := len(key); i > 0; {
		i--
		h = lbMix[h^key[i]]
	}
	return h
}

// addrShare places an address in one of 256 buckets, spread evenly over a
// pool, for Failover.SecondaryShare.
func addrShare(a netip.Addr) byte {
	h := addrU32(a)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return byte(h)
}

type pendingAck struct {
	seq  uint64
	done func()
}

type failover struct {
	s     *Server
	cfg   Failover
	dial  func(ctx context.Context, addr string) (net.Conn, error)
	state atomic.Int32

	mu        sync.Mutex
	conn      *peerConn
	seq       uint64
	pending   []pendingAck
	lastHeard time.Time
	ln        net.Listener
}

func newFailover(s *Server, cfg Failover) *failover {
	f := &failover{s: s, cfg: cfg}
	f.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: cfg.Heartbeat}
		return d.DialContext(ctx, "tcp", addr)
	}
	return f
}

// FailoverState returns the server's failover state (FailoverNormal without a
// partner configured).
func (s *Server) FailoverState() FailoverState {
	if s.fo == nil {
		return FailoverNormal
	}
	return FailoverState(s.fo.state.Load())
}

func (f *failover) setState(st FailoverState) {
	if old := FailoverState(f.state.Swap(int32(st))); old != st {
		f.s.log.Info("failover state", "from", old.String(), "to", st.String(), "role", f.cfg.Role.String())
	}
}

func (f *failover) answer(req *dhcpv4.DHCPv4) bool {
	switch FailoverState(f.state.Load()) {
	case FailoverWaiting:
		return false
	case FailoverPartnerDown:
		return true
	}
	if f.cfg.Mode == HotStandby {
		return f.cfg.Role == Primary
	}
	key := req.Options.Get(dhcpv4.OptionClientIdentifier)
	if len(key) == 0 {
		key = req.ClientHWAddr
	}
	odd := LoadBalanceHash(key)%2 == 1
	return odd == (f.cfg.Role == Secondary)
}

func (f *failover) mayAllocate(a netip.Addr) bool {
	secondary := addrShare(a) < f.cfg.SecondaryShare
	return secondary == (f.cfg.Role == Secondary)
}

func (f *failover) replicateSync() bool {
	return FailoverState(f.state.Load()) == FailoverNormal
}

// replicate sends a lease change to the partner (called with s.mu held, so
// updates leave in commit order). done, if not nil, runs when the partner
// has it durable, or at once when there is no partner link.
func (f *failover) replicate(l Lease, done func()) {
	f.mu.Lock()
	c := f.conn
	if c == nil {
		f.mu.Unlock()
		if done != nil {
			done()
		}
		return
	}
	f.seq++
	seq := f.seq
	if done != nil {
		f.pending = append(f.pending, pendingAck{seq, done})
	}
	f.mu.Unlock()
	c.send(frUpdate, binary.BigEndian.AppendUint64(nil, seq), l)
}

// listen opens the secondary's peer listener (inside Server.Listen, so in
// the caller's network namespace).
func (f *failover) listen(ctx context.Context) error {
	if f.cfg.Role != Secondary {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", f.cfg.Listen.String())
	if err != nil {
		return fmt.Errorf("dhcpsrv: failover listen on %v (Failover.Listen): %w", f.cfg.Listen, err)
	}
	f.ln = ln
	return nil
}

func (f *failover) run(ctx context.Context) error {
	f.mu.Lock()
	f.lastHeard = time.Now()
	f.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); f.watchdog(ctx) }()
	if f.cfg.Role == Secondary {
		wg.Add(1)
		go func() { defer wg.Done(); <-ctx.Done(); f.ln.Close() }()
		for {
			c, err := f.ln.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				f.s.log.Warn("failover accept failed", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); f.serveConn(ctx, c) }()
		}
	}
	for ctx.Err() == nil {
		c, err := f.dial(ctx, f.cfg.Peer.String())
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(f.cfg.Heartbeat / 2):
			}
			continue
		}
		f.serveConn(ctx, c)
	}
	return nil
}

// watchdog turns silence into state changes.
func (f *failover) watchdog(ctx context.Context) {
	t := time.NewTicker(f.cfg.Heartbeat / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		silent := time.Since(f.lastHeard)
		c := f.conn
		f.mu.Unlock()
		if silent <= f.cfg.MaxResponseDelay {
			continue
		}
		if c != nil {
			c.close(errors.New("partner silent for longer than MaxResponseDelay"))
			continue
		}
		if st := FailoverState(f.state.Load()); st != FailoverPartnerDown {
			f.setState(FailoverPartnerDown)
		}
	}
}

// serveConn runs one peer connection until it fails or ctx ends.
func (f *failover) serveConn(ctx context.Context, nc net.Conn) {
	pc := newPeerConn(nc, f.cfg.MaxResponseDelay)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); pc.close(ctx.Err()) }()

	f.mu.Lock()
	old := f.conn
	f.mu.Unlock()
	if old != nil {
		old.close(errors.New("replaced by a new connection"))
		<-old.closed
	}
	pc.sendRaw(frHello, []byte{byte(f.cfg.Role), byte(f.cfg.Mode)})
	// Snapshot and go live for replication atomically with commits.
	f.s.mu.Lock()
	f.mu.Lock()
	f.conn = pc
	f.lastHeard = time.Now()
	f.mu.Unlock()
	for _, l := range f.s.table.byAddr {
		if l.State != StateOffered {
			pc.send(frSyncRec, nil, *l)
		}
	}
	f.s.mu.Unlock()
	pc.sendRaw(frSyncDone, nil)
	f.s.log.Info("failover partner connected", "peer", nc.RemoteAddr().String())

	go pc.writeLoop()
	go func() {
		t := time.NewTicker(f.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-pc.closed:
				return
			case <-t.C:
				pc.sendRaw(frHeartbeat, []byte{byte(f.state.Load())})
			}
		}
	}()
	err := f.readLoop(pc)
	pc.close(err)
	f.s.log.Info("failover partner connection ended", "err", err)

	f.mu.Lock()
	current := f.conn == pc // not already replaced by a newer connection
	var pend []pendingAck
	if current {
		f.conn = nil
		pend, f.pending = f.pending, nil
	}
	f.mu.Unlock()
	if !current {
		return
	}
	// Replies waiting for this partner go out now: we are on our own.
	for _, p := range pend {
		p.done()
	}
	f.s.sendOutbox()
	if FailoverState(f.state.Load()) == FailoverNormal {
		f.setState(FailoverInterrupted)
	}
}

func (f *failover) readLoop(pc *peerConn) error {
	br := bufio.NewReaderSize(pc.c, 1<<16)
	var hdr [5]byte
	buf := make([]byte, 2048)
	helloSeen := false
	for {
		_ = pc.c.SetReadDeadline(time.Now().Add(f.cfg.MaxResponseDelay))
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n > uint32(len(buf)) {
			return fmt.Errorf("failover frame of %d bytes: corrupt stream", n)
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return err
		}
		f.mu.Lock()
		f.lastHeard = time.Now()
		f.mu.Unlock()
		p := buf[:n]
		switch hdr[4] {
		case frHello:
			if len(p) < 2 || Role(p[0]) == f.cfg.Role || FailoverMode(p[1]) != f.cfg.Mode {
				return fmt.Errorf("partner says role %v mode %v; this server is %v in %v mode: give the pair one primary and one secondary in the same mode", Role(p[0]), FailoverMode(p[1]), f.cfg.Role, f.cfg.Mode)
			}
			helloSeen = true
		case frSyncRec, frUpdate:
			if !helloSeen {
				return errors.New("partner sent leases before HELLO")
			}
			var seq uint64
			if hdr[4] == frUpdate {
				if len(p) < 8 {
					return errors.New("short UPDATE frame")
				}
				seq, p = binary.BigEndian.Uint64(p[:8]), p[8:]
			}
			l, err := decodeFramed(p)
			if err != nil {
				return err
			}
			var ack func()
			if hdr[4] == frUpdate {
				ack = func() { pc.sendRaw(frAck, binary.BigEndian.AppendUint64(nil, seq)) }
			}
			f.applyRemote(l, ack)
		case frSyncDone:
			// Normal once the partner's table is durable here.
			done := func() {
				f.mu.Lock()
				current := f.conn == pc
				f.mu.Unlock()
				if current && !pc.isClosed() {
					f.setState(FailoverNormal)
				}
			}
			if f.s.store != nil {
				f.s.store.after(done)
			} else {
				done()
			}
		case frAck:
			if len(p) < 8 {
				return errors.New("short ACK frame")
			}
			f.acked(binary.BigEndian.Uint64(p))
		case frHeartbeat:
		}
	}
}

func (f *failover) acked(seq uint64) {
	f.mu.Lock()
	i := 0
	for i < len(f.pending) && f.pending[i].seq <= seq {
		i++
	}
	done := f.pending[:i]
	f.pending = append([]pendingAck(nil), f.pending[i:]...)
	f.mu.Unlock()
	for _, p := range done {
		p.done()
	}
	if len(done) > 0 {
		f.s.sendOutbox()
	}
}

// applyRemote takes a lease record from the partner if it is newer than
// ours, makes it durable, then runs ack (may be nil).
func (f *failover) applyRemote(l Lease, ack func()) {
	s := f.s
	s.mu.Lock()
	cur, ok := s.table.ByAddr(l.Addr)
	newer := !ok || l.Start.After(cur.Start) || (l.Start.Equal(cur.Start) && l.Expiry.After(cur.Expiry))
	if ok && cur.State == StateOffered {
		newer = true // the partner's binding beats our unconfirmed offer
	}
	if newer {
		s.table.put(l, s.now())
	}
	if newer && s.store != nil {
		s.store.append(l, ack)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if ack != nil {
		if s.store != nil {
			s.store.after(ack) // keep ACKs in order behind pending records
		} else {
			ack()
		}
	}
}

func decodeFramed(p []byte) (Lease, error) {
	if len(p) < 8 {
		return Lease{}, errors.New("short lease record")
	}
	n := binary.BigEndian.Uint32(p[:4])
	if int(n) != len(p)-8 {
		return Lease{}, errors.New("lease record length mismatch")
	}
	return decodeLease(p[8:])
}

// peerConn is one TCP connection to the partner with a buffered writer.
type peerConn struct {
	c       net.Conn
	timeout time.Duration

	mu     sync.Mutex
	out    []byte
	kick   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newPeerConn(c net.Conn, timeout time.Duration) *peerConn {
	return &peerConn{c: c, timeout: timeout, kick: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (p *peerConn) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

func (p *peerConn) close(error) {
	p.once.Do(func() {
		close(p.closed)
		p.c.Close()
	})
}

func (p *peerConn) sendRaw(typ byte, payload []byte) {
	p.mu.Lock()
	p.out = binary.BigEndian.AppendUint32(p.out, uint32(len(payload)))
	p.out = append(p.out, typ)
	p.out = append(p.out, payload...)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *peerConn) send(typ byte, prefix []byte, l Lease) {
	p.mu.Lock()
	start := len(p.out)
	p.out = append(p.out, 0, 0, 0, 0, typ)
	p.out = append(p.out, prefix...)
	p.out = encodeLease(p.out, l)
	binary.BigEndian.PutUint32(p.out[start:], uint32(len(p.out)-start-5))
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *peerConn) writeLoop() {
	var spare []byte
	for {
		select {
		case <-p.closed:
			return
		case <-p.kick:
		}
		p.mu.Lock()
		if len(p.out) == 0 {
			p.mu.Unlock()
			continue
		}
		// Swap buffers: spare is never p.out's array, so appends never
		// touch what is being written.
		buf := p.out
		p.out = spare[:0]
		p.mu.Unlock()
		_ = p.c.SetWriteDeadline(time.Now().Add(p.timeout))
		if _, err := p.c.Write(buf); err != nil {
			p.close(err)
			return
		}
		spare = buf
	}
}
