package dhcpsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

const (
	dropNoInterface = "broadcast_without_interface"
	dropPanic       = "panic"
	dropSend        = "send_error"
	// dropPingConflict counts offers withheld because the address answered
	// a ping (Config.PingCheck).
	dropPingConflict = "ping_conflict"
)

// Server is a DHCPv4 server. Build it with New, run it with Run.
type Server struct {
	cfg     *compiled
	log     *slog.Logger
	reg     prometheus.Registerer
	hook    LeaseHook
	met     *metrics
	now     func() time.Time
	laddr   string // WithListenAddr: one unbound socket instead of one per interface
	window  time.Duration
	readers int

	mu     sync.Mutex // guards table and the order of records appended to store
	table  *leaseTable
	store  *leaseLog       // nil: memory only
	fo     *failover       // nil: no partner
	ping   *pinger         // nil: Config.PingCheck off
	runCtx context.Context // for ping checks started by the read loop

	outMu  sync.Mutex
	outbox map[*ipv4.PacketConn][]outMsg // durable replies waiting for sendOutbox

	readyOnce sync.Once
	ready     chan struct{}
	connsMu   sync.Mutex
	socks     []sock
	addrs     []net.Addr
}

// Opt configures a Server.
type Opt func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Opt { return func(s *Server) { s.log = l } }

// WithRegisterer registers the server's Prometheus collectors on r
// (default: none registered).
func WithRegisterer(r prometheus.Registerer) Opt { return func(s *Server) { s.reg = r } }

// WithLeaseHook delivers lease events to h once they are durable.
func WithLeaseHook(h LeaseHook) Opt { return func(s *Server) { s.hook = h } }

// WithListenAddr serves from one UDP socket on addr (e.g. "127.0.0.1:0")
// bound to no interface, instead of one socket per Config.Interfaces entry.
// Such a server answers only relayed and unicast requests (no broadcasts
// leave it); it needs no root. For tests and relay-only deployments.
func WithListenAddr(addr string) Opt { return func(s *Server) { s.laddr = addr } }

// WithPorts overrides the client (68) and relay (67) ports replies go to;
// tests without root use it.
func WithPorts(client, relay uint16) Opt {
	return func(s *Server) { s.cfg.clientPort, s.cfg.relayPort = client, relay }
}

// defaultCommitWindow is WithCommitWindow's default.
const defaultCommitWindow = 8 * time.Millisecond

// WithCommitWindow sets how long the lease log lingers after the first
// record of a batch before one fdatasync makes the batch durable (default
// 8ms): ACKs wait up to that much longer (nothing, next to a DHCP client's
// 4 s retransmission timer), and the server spends far less CPU on syncs:
// one write and fdatasync cost about 50 µs of CPU, as much as the rest of
// a DORA, so at 1,000 DORA/s a 2ms window spends 25 µs per DORA on syncs
// and an 8ms one 6 µs. 0 syncs as soon as the previous sync ends.
func WithCommitWindow(d time.Duration) Opt { return func(s *Server) { s.window = d } }

// WithReaders sets how many goroutines read each socket (default 1). More
// readers spread the kernel's packet work over cores but cost more CPU per
// packet (they contend for the decision lock); worth it only when the
// server, not the network or its clients, is the bottleneck.
func WithReaders(n int) Opt { return func(s *Server) { s.readers = max(1, n) } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Opt { return func(s *Server) { s.now = now } }

// New validates cfg and loads the lease log from cfg.LeaseDir.
func New(cfg Config, opts ...Opt) (*Server, error) {
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: c, log: slog.New(slog.DiscardHandler), now: time.Now, window: defaultCommitWindow,
		readers: 1,
		table:   newLeaseTable(), ready: make(chan struct{}),
		outbox: map[*ipv4.PacketConn][]outMsg{},
	}
	for _, o := range opts {
		o(s)
	}
	for _, sn := range c.subnets {
		for _, p := range sn.Pools {
			s.table.addPool(p)
		}
	}
	if c.cfg.LeaseDir != "" {
		lg, leases, err := openLeaseLog(c.cfg.LeaseDir)
		if err != nil {
			return nil, err
		}
		s.store = lg
		lg.onFlushed = s.sendOutbox
		lg.window = s.window
		now := s.now()
		for _, l := range leases {
			s.table.put(l, now)
		}
	}
	if c.cfg.Failover != nil {
		s.fo = newFailover(s, c.cfg.Failover.withDefaults())
	}
	s.met = newMetrics(s.reg, s)
	if s.store != nil {
		s.store.syncs = s.met.batches.Inc
	}
	return s, nil
}

// Ready is closed once every socket is open (and Addr answers).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the local addresses of the server's sockets.
func (s *Server) Addrs() []net.Addr {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Run serves until ctx ends. It returns nil after a clean shutdown, or the
// error that stopped it (a socket that cannot be opened, a lease log that
// cannot be written).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	s.connsMu.Lock()
	socks := s.socks
	s.connsMu.Unlock()
	closeAll := func() {
		for _, k := range socks {
			k.pc.Close()
		}
	}
	s.runCtx = ctx
	// Sockets close when ctx ends so blocked reads return.
	g.Go(func() error { <-ctx.Done(); closeAll(); return nil })
	if s.ping != nil {
		g.Go(func() error { <-ctx.Done(); s.ping.close(); return nil })
		g.Go(func() error { s.ping.readLoop(); return nil })
	}
	logCtx, stopLog := context.WithCancel(context.Background())
	var logErr error
	var logWG sync.WaitGroup
	if s.store != nil {
		logWG.Add(1)
		go func() {
			defer logWG.Done()
			if err := s.store.run(logCtx); err != nil {
				logErr = err
			}
		}()
		g.Go(func() error {
			// A dead committer means no ACK can be made durable: stop.
			select {
			case <-s.store.done:
				if s.store.err != nil {
					return s.store.err
				}
			case <-ctx.Done():
			}
			return nil
		})
		g.Go(func() error { s.compactor(ctx); return nil })
	}
	g.Go(func() error { s.sweeper(ctx); return nil })
	if s.fo != nil {
		g.Go(func() error { return s.fo.run(ctx) })
	}
	for _, k := range socks {
		// Several readers per socket spread the kernel's receive and send
		// work over cores; decisions still run one at a time under s.mu.
		for range s.readers {
			g.Go(func() error { return s.serve(ctx, k.pc, k.iface) })
		}
	}
	s.readyOnce.Do(func() { close(s.ready) })
	err := g.Wait()
	// Readers have stopped: flush what was appended, then stop the log.
	stopLog()
	logWG.Wait()
	if err == nil {
		err = logErr
	}
	return err
}

type sock struct {
	pc    *ipv4.PacketConn
	iface *net.Interface // nil for the WithListenAddr socket
}

// Listen opens the server's sockets; Run calls it when it has not been
// called. Calling it first lets a caller open the sockets inside a network
// namespace (or with privileges) and run the server from anywhere.
func (s *Server) Listen(ctx context.Context) error {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if len(s.socks) > 0 {
		return nil
	}
	var socks []sock
	closeAll := func() {
		for _, k := range socks {
			k.pc.Close()
		}
	}
	if s.laddr != "" {
		pc, err := listen(ctx, s.laddr, "")
		if err != nil {
			return err
		}
		socks = append(socks, sock{pc: pc})
	} else {
		for _, name := range s.cfg.cfg.Interfaces {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				closeAll()
				return fmt.Errorf("dhcpsrv: interface %q (Config.Interfaces): %w", name, err)
			}
			pc, err := listen(ctx, "0.0.0.0:67", name)
			if err != nil {
				closeAll()
				return err
			}
			socks = append(socks, sock{pc: pc, iface: ifi})
		}
	}
	if len(socks) == 0 {
		return fmt.Errorf("%w: no Interfaces and no WithListenAddr: name the interfaces to serve", ErrInvalidConfig)
	}
	if s.fo != nil {
		if err := s.fo.listen(ctx); err != nil {
			closeAll()
			return err
		}
	}
	if s.cfg.cfg.PingCheck > 0 {
		p, err := newPinger()
		if err != nil {
			closeAll()
			return err
		}
		s.ping = p
	}
	s.socks = socks
	for _, k := range socks {
		s.addrs = append(s.addrs, k.pc.LocalAddr())
	}
	return nil
}

func listen(ctx context.Context, addr, device string) (*ipv4.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, o := range [][2]int{{unix.SO_REUSEADDR, 1}, {unix.SO_BROADCAST, 1}} {
				if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], o[1]); serr != nil {
					return
				}
			}
			// Big buffers ride out bursts (a fleet powering on at once);
			// the FORCE variants pass rmem_max when root.
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
			}
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
			}
			if device != "" {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, device)
			}
		})
		return errors.Join(err, serr)
	}}
	c, err := lc.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("dhcpsrv: listen on %s (device %q; binding a device needs root): %w", addr, device, err)
	}
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		c.Close()
		return nil, fmt.Errorf("dhcpsrv: %s: enable IP_PKTINFO: %w", addr, err)
	}
	return pc, nil
}

// outMsg is one reply ready for the wire.
type outMsg struct {
	b         []byte
	to        *net.UDPAddr
	ifindex   int
	mt        dhcpv4.MessageType
	broadcast bool
}

const batchSize = 64

// serve is the read loop of one socket: read a batch, decide every packet
// under one lock, send what needs no durability, queue the rest.
func (s *Server) serve(ctx context.Context, pc *ipv4.PacketConn, ifi *net.Interface) error {
	msgs := make([]ipv4.Message, batchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
		msgs[i].OOB = ipv4.NewControlMessage(ipv4.FlagInterface)
	}
	names := map[int]string{}
	ifname := func(idx int) string {
		if ifi != nil {
			return ifi.Name
		}
		if n, ok := names[idx]; ok {
			return n
		}
		n := ""
		if i, err := net.InterfaceByIndex(idx); err == nil {
			n = i.Name
		}
		names[idx] = n
		return n
	}
	var now []outMsg
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("dhcp read failed", "err", err)
			continue
		}
		now = now[:0]
		s.mu.Lock()
		t := s.now()
		for i := range n {
			m := &msgs[i]
			var cm ipv4.ControlMessage
			idx := 0
			if cm.Parse(m.OOB[:m.NN]) == nil {
				idx = cm.IfIndex
			}
			if ifi != nil {
				idx = ifi.Index
			}
			if o, ok := s.handle(m.Buffers[0][:m.N], ifname(idx), idx, t, pc, 0); ok {
				now = append(now, o)
			}
		}
		s.mu.Unlock()
		s.sendBatch(pc, now)
		s.sendOutbox()
	}
}

// handle decides one packet and applies its lease action. It runs with
// s.mu held. A reply that must wait for durability is queued on the lease
// log; ok reports a reply to send right away.
func (s *Server) handle(b []byte, iface string, ifindex int, now time.Time, pc *ipv4.PacketConn, pings int) (o outMsg, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.met.drop(dropPanic)
			s.log.Error("dhcp request handling panicked; dropped", "panic", r)
			ok = false
		}
	}()
	req, err := dhcpv4.FromBytes(b)
	if err != nil {
		s.met.drop(DropMalformed)
		s.log.Debug("malformed dhcp packet dropped", "err", err, "iface", iface)
		return outMsg{}, false
	}
	s.met.in[req.MessageType()].Inc()
	e := env{now: now, iface: iface}
	if s.fo != nil {
		e.answer, e.mayAllocate = s.fo.answer, s.fo.mayAllocate
	}
	d := decide(req, e, s.cfg, s.table)
	if d.Drop != "" {
		s.met.drop(d.Drop)
		s.log.Debug("dhcp request dropped", "reason", d.Drop, "mac", req.ClientHWAddr, "xid", req.TransactionID, "iface", iface)
	}
	if d.Reply != nil {
		o = outMsg{b: encodeReply(d.Reply), ifindex: ifindex, mt: d.Reply.MessageType(), broadcast: d.Broadcast}
		if d.Broadcast {
			o.to = &net.UDPAddr{IP: net.IPv4bcast, Port: int(d.To.Port())}
		} else {
			o.to = net.UDPAddrFromAddrPort(d.To)
		}
	}
	switch d.Action {
	case actOffer:
		if cur, ok := s.table.ByAddr(d.Lease.Addr); ok && cur.State == StateBound && cur.holds(now) && string(cur.MAC) == string(d.Lease.MAC) {
			break // re-offering a client its own binding changes nothing
		}
		fresh := s.ping != nil && pc != nil && pings < maxPings && !s.knownBinding(d.Lease)
		s.table.put(d.Lease, now)
		if fresh {
			s.pingThenOffer(b, iface, ifindex, pc, o, d.Lease, pings)
			return outMsg{}, false
		}
	case actUnhold:
		if cur, ok := s.table.ByAddr(d.Lease.Addr); ok && cur.State == StateOffered && string(cur.MAC) == string(d.Lease.MAC) {
			cur.State, cur.Expiry = StateExpired, now
			s.table.put(cur, now)
		}
	case actCommit, actRelease, actDecline:
		s.table.put(d.Lease, now)
		ev := LeaseEvent{Type: d.Event, Lease: d.Lease}
		switch d.Action {
		case actRelease:
			ev.Type = EventRelease
		case actDecline:
			ev.Type = EventDecline
		}
		var reply *outMsg
		if d.Reply != nil {
			reply = &o
		}
		s.commit(ev, pc, reply)
		return outMsg{}, false
	}
	return o, d.Reply != nil
}

// maxPings bounds how many addresses one DISCOVER may try.
const maxPings = 3

// knownBinding reports whether the offered address is the client's own
// (reservation or existing lease): no need to ping the client itself.
func (s *Server) knownBinding(offer Lease) bool {
	for _, sn := range s.cfg.subnets {
		if r, ok := sn.reserved[offer.Addr]; ok && string(r.MAC) == string(offer.MAC) {
			return true
		}
	}
	l, ok := s.table.ByAddr(offer.Addr)
	return ok && string(l.MAC) == string(offer.MAC)
}

// pingThenOffer pings the held address off the read loop; silence sends
// the offer, an answer quarantines the address and decides again.
func (s *Server) pingThenOffer(b []byte, iface string, ifindex int, pc *ipv4.PacketConn, o outMsg, offer Lease, pings int) {
	pkt := append([]byte(nil), b...)
	ctx := s.runCtx
	go func() {
		if !s.ping.inUse(ctx, offer.Addr, s.cfg.cfg.PingCheck) {
			s.sendBatch(pc, []outMsg{o})
			return
		}
		s.log.Warn("address answers ping: quarantined, not offered", "addr", offer.Addr, "mac", offer.MAC)
		s.met.drop(dropPingConflict)
		s.mu.Lock()
		now := s.now()
		conflict := offer
		conflict.State, conflict.MAC = StateDeclined, nil
		conflict.Start, conflict.Expiry = now, now.Add(s.cfg.cfg.DeclineProbation)
		s.table.put(conflict, now)
		next, ok := s.handle(pkt, iface, ifindex, now, pc, pings+1)
		s.mu.Unlock()
		if ok {
			s.sendBatch(pc, []outMsg{next})
		}
	}()
}

// commit makes a lease change durable (and replicated, with a partner),
// then sends the reply and delivers the event. Called with s.mu held, so
// records reach the log in decision order.
func (s *Server) commit(ev LeaseEvent, pc *ipv4.PacketConn, reply *outMsg) {
	var r outMsg
	if reply != nil {
		r = *reply
	}
	finish := func() {
		if reply != nil {
			s.outMu.Lock()
			s.outbox[pc] = append(s.outbox[pc], r)
			s.outMu.Unlock()
		}
		if s.hook != nil {
			s.hook(ev)
		}
	}
	waits := 0
	if s.store != nil {
		waits++
	}
	foWait := s.fo != nil && s.fo.replicateSync()
	if foWait {
		waits++
	}
	done := finish
	if waits > 1 {
		done = (&countdown{n: waits, fn: finish}).done
	}
	if s.fo != nil {
		if foWait {
			s.fo.replicate(ev.Lease, done)
		} else {
			s.fo.replicate(ev.Lease, nil)
		}
	}
	if s.store != nil {
		s.met.commits.Inc()
		s.store.append(ev.Lease, done)
	}
	if waits == 0 {
		finish()
	}
}

// countdown runs fn when done has been called n times.
type countdown struct {
	mu sync.Mutex
	n  int
	fn func()
}

func (c *countdown) done() {
	c.mu.Lock()
	c.n--
	fire := c.n == 0
	c.mu.Unlock()
	if fire {
		c.fn()
	}
}

// sendOutbox sends every durable reply queued so far.
func (s *Server) sendOutbox() {
	s.outMu.Lock()
	if len(s.outbox) == 0 {
		s.outMu.Unlock()
		return
	}
	box := s.outbox
	s.outbox = make(map[*ipv4.PacketConn][]outMsg, len(box))
	s.outMu.Unlock()
	for pc, msgs := range box {
		s.sendBatch(pc, msgs)
	}
}

// sendBatch sends replies with as few sendmmsg calls as possible.
func (s *Server) sendBatch(pc *ipv4.PacketConn, out []outMsg) {
	if len(out) == 0 {
		return
	}
	msgs := make([]ipv4.Message, 0, len(out))
	kept := out[:0:0]
	for _, o := range out {
		if o.broadcast && s.laddr != "" {
			// An unbound socket would broadcast on whatever interface
			// routing picks: never do that.
			s.met.drop(dropNoInterface)
			continue
		}
		m := ipv4.Message{Buffers: [][]byte{o.b}, Addr: o.to}
		if o.ifindex != 0 && o.broadcast {
			m.OOB = (&ipv4.ControlMessage{IfIndex: o.ifindex}).Marshal()
		}
		msgs = append(msgs, m)
		kept = append(kept, o)
	}
	for len(msgs) > 0 {
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			// Count the one that failed and go on with the rest.
			s.met.drop(dropSend)
			s.log.Debug("dhcp reply not sent", "to", msgs[0].Addr, "err", err)
			n = 1
		} else {
			for _, o := range kept[:n] {
				s.met.out[o.mt].Inc()
			}
		}
		msgs, kept = msgs[n:], kept[n:]
	}
}

// sweeper reclaims expired leases once a second.
func (s *Server) sweeper(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.table.sweep(s.now(), func(l Lease) {
			s.commit(LeaseEvent{Type: EventExpire, Lease: l}, nil, nil)
		})
		s.mu.Unlock()
	}
}

// compactor snapshots the lease state and drops old log segments once the
// log holds many more records than live leases.
func (s *Server) compactor(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.compact(ctx, false); err != nil {
			s.log.Error("lease log compaction failed; will retry", "err", err)
		}
	}
}

func (s *Server) compact(ctx context.Context, force bool) error {
	s.mu.Lock()
	if !force && s.store.sinceCompaction() < max(20000, 2*len(s.table.byAddr)) {
		s.mu.Unlock()
		return nil
	}
	seq, ok := s.store.markRotate()
	if !ok {
		s.mu.Unlock()
		return nil
	}
	now := s.now()
	snap := make([]Lease, 0, len(s.table.byAddr))
	for _, l := range s.table.byAddr {
		if l.State == StateBound || l.State == StateDeclined {
			if l.holds(now) {
				snap = append(snap, *l)
			}
		}
	}
	s.mu.Unlock()
	// Wait until the committer has switched segments.
	switched := make(chan struct{})
	s.store.after(func() { close(switched) })
	select {
	case <-switched:
	case <-ctx.Done():
		return nil
	case <-s.store.done:
		return s.store.err
	}
	return s.store.writeSnapshot(seq, snap)
}

// Leases returns a copy of every lease record the server holds.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.all()
}

// SubnetStats is the lease usage of one subnet.
type SubnetStats struct {
	Subnet   string
	Active   int // bound, unexpired leases
	PoolSize int
	PoolHeld int // pool addresses bound, offered or declined
}

// Stats returns per-subnet lease usage.
func (s *Server) Stats() []SubnetStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	idx := map[string]*SubnetStats{}
	var out []SubnetStats
	for _, sn := range s.cfg.subnets {
		st := SubnetStats{Subnet: sn.Name}
		for _, p := range sn.Pools {
			st.PoolSize += p.Size()
			if ps := s.table.pools[p]; ps != nil {
				st.PoolHeld += ps.held
			}
		}
		out = append(out, st)
	}
	for i := range out {
		idx[out[i].Subnet] = &out[i]
	}
	for _, l := range s.table.byAddr {
		if l.State == StateBound && l.holds(now) {
			if st := idx[l.Subnet]; st != nil {
				st.Active++
			}
		}
	}
	return out
}
