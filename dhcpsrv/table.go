package dhcpsrv

import (
	"net"
	"net/netip"
	"time"
)

type macKey [6]byte

func keyOf(mac net.HardwareAddr) (macKey, bool) {
	var k macKey
	if len(mac) != 6 {
		return k, false
	}
	copy(k[:], mac)
	return k, true
}

type clientKey struct {
	subnet string
	mac    macKey
}

// poolState tracks which addresses of a pool are held, for fast NextFree.
type poolState struct {
	base   uint32
	used   []uint64 // one bit per address: held by a lease record that holds(now)
	cursor int
	held   int
}

// leaseTable is the server's lease state: a leaseView plus mutation. Not
// safe for concurrent use; the server serialises access.
type leaseTable struct {
	byAddr   map[netip.Addr]*Lease
	byClient map[clientKey]netip.Addr
	pools    map[Pool]*poolState
}

func newLeaseTable() *leaseTable {
	return &leaseTable{
		byAddr:   map[netip.Addr]*Lease{},
		byClient: map[clientKey]netip.Addr{},
		pools:    map[Pool]*poolState{},
	}
}

func (t *leaseTable) addPool(p Pool) {
	if _, ok := t.pools[p]; ok {
		return
	}
	n := p.Size()
	t.pools[p] = &poolState{base: addrU32(p.Start), used: make([]uint64, (n+63)/64)}
}

func (t *leaseTable) poolOf(a netip.Addr) (*poolState, int) {
	// Few pools per server: a linear scan beats an interval tree here.
	v := addrU32(a)
	for p, ps := range t.pools {
		if p.Contains(a) {
			return ps, int(v - ps.base)
		}
	}
	return nil, 0
}

func (t *leaseTable) ByAddr(a netip.Addr) (Lease, bool) {
	l, ok := t.byAddr[a]
	if !ok {
		return Lease{}, false
	}
	return *l, true
}

func (t *leaseTable) ByMAC(subnet string, mac net.HardwareAddr) (Lease, bool) {
	k, ok := keyOf(mac)
	if !ok {
		return Lease{}, false
	}
	a, ok := t.byClient[clientKey{subnet, k}]
	if !ok {
		return Lease{}, false
	}
	l, ok := t.byAddr[a]
	if !ok || string(l.MAC) != string(mac) {
		return Lease{}, false
	}
	return *l, true
}

func (t *leaseTable) NextFree(subnet string, p Pool, now time.Time, usable func(netip.Addr) bool) (netip.Addr, bool) {
	ps, ok := t.pools[p]
	if !ok {
		t.addPool(p)
		ps = t.pools[p]
	}
	n := p.Size()
	for i := 0; i < n; i++ {
		idx := (ps.cursor + i) % n
		if ps.used[idx/64]&(1<<(idx%64)) != 0 {
			// Fast skip of full words.
			if idx%64 == 0 && ps.used[idx/64] == ^uint64(0) && i+63 < n {
				i += 63
			}
			continue
		}
		a := addrFromU32(ps.base + uint32(idx))
		if l, ok := t.byAddr[a]; ok && l.holds(now) {
			continue
		}
		if usable != nil && !usable(a) {
			continue
		}
		ps.cursor = (idx + 1) % n
		return a, true
	}
	return netip.Addr{}, false
}

// put stores l as the record of its address, updating the indexes.
func (t *leaseTable) put(l Lease, now time.Time) {
	old, had := t.byAddr[l.Addr]
	cp := l
	t.byAddr[l.Addr] = &cp
	if k, ok := keyOf(l.MAC); ok {
		t.byClient[clientKey{l.Subnet, k}] = l.Addr
	}
	if had && string(old.MAC) != string(l.MAC) {
		if k, ok := keyOf(old.MAC); ok {
			ck := clientKey{old.Subnet, k}
			if t.byClient[ck] == l.Addr {
				delete(t.byClient, ck)
			}
		}
	}
	t.mark(l.Addr, cp.holds(now))
}

func (t *leaseTable) mark(a netip.Addr, held bool) {
	ps, idx := t.poolOf(a)
	if ps == nil {
		return
	}
	w, bit := idx/64, uint64(1)<<(idx%64)
	was := ps.used[w]&bit != 0
	switch {
	case held && !was:
		ps.used[w] |= bit
		ps.held++
	case !held && was:
		ps.used[w] &^= bit
		ps.held--
	}
}

// sweep moves leases whose time ran out: bound → expired (returned for
// persistence and events), offered/declined → released from the pool.
func (t *leaseTable) sweep(now time.Time, expired func(Lease)) {
	for a, l := range t.byAddr {
		if l.Expiry.After(now) {
			continue
		}
		switch l.State {
		case StateBound:
			l.State = StateExpired
			expired(*l)
			t.mark(a, false)
		case StateOffered, StateDeclined:
			t.mark(a, false)
			if l.State == StateOffered {
				// An offer never committed leaves no record behind.
				delete(t.byAddr, a)
				if k, ok := keyOf(l.MAC); ok {
					ck := clientKey{l.Subnet, k}
					if t.byClient[ck] == a {
						delete(t.byClient, ck)
					}
				}
			} else {
				l.State = StateExpired
			}
		}
	}
}

// all returns a copy of every lease record.
func (t *leaseTable) all() []Lease {
	out := make([]Lease, 0, len(t.byAddr))
	for _, l := range t.byAddr {
		out = append(out, *l)
	}
	return out
}
