package netmodel

import (
	"cmp"
	"encoding/binary"
	"fmt"
	mbits "math/bits"
	"net/netip"
	"slices"
)

// interval is an inclusive range of addresses.
type interval struct{ first, last u128 }

// Block is an inclusive range of free addresses.
type Block struct {
	First, Last netip.Addr
}

// Allocator chooses static addresses in one subnet. It is built once from
// the subnet and its ranges and is then read-only: safe for concurrent use.
//
// The addresses it never hands out: dynamic and reserved ranges, the
// gateway, the DNS servers, the network and broadcast addresses of an IPv4
// subnet larger than /31 (the subnet-router anycast address of an IPv6
// subnet larger than /127), and the used addresses passed to Next.
//
// Next returns the lowest address of the smallest free contiguous block, as
// MAAS does: small holes are filled first, keeping large blocks whole for
// whoever needs many consecutive addresses. Choosing is pure; handing an
// address out once under concurrency is the store's (a unique index and a
// retry that passes the losing address back in used or extra).
type Allocator struct {
	prefix netip.Prefix
	is4    bool
	first  u128
	last   u128
	// fixed holds the exclusions that do not depend on used addresses,
	// sorted by first address and merged.
	fixed []interval
}

// NewAllocator returns an allocator for subnet s with ranges (ranges of
// other subnets, by SubnetID, are ignored; a range reaching outside the
// subnet is clipped to it). It fails when the subnet's CIDR is invalid.
func NewAllocator(s Subnet, ranges []IPRange) (*Allocator, error) {
	if !s.CIDR.IsValid() || s.CIDR.Addr().Is4In6() {
		return nil, &ValidationError{Object: s.object(), Field: "cidr", Value: s.CIDR.String(),
			Reason: "not a usable prefix: use e.g. 10.0.0.0/24 or 2001:db8::/64"}
	}
	prefix := s.CIDR.Masked()
	a := &Allocator{prefix: prefix, is4: prefix.Addr().Is4()}
	a.first, a.last = bounds(prefix)

	var fixed []interval
	single := func(addr netip.Addr) {
		if addr.IsValid() && prefix.Contains(addr) {
			v := fromAddr(addr)
			fixed = append(fixed, interval{v, v})
		}
	}
	for _, r := range ranges {
		if r.SubnetID != s.ID || !r.Start.IsValid() || !r.End.IsValid() || r.End.Less(r.Start) {
			continue
		}
		if r.Start.Is4() != a.is4 || r.End.Is4() != a.is4 {
			continue
		}
		iv := interval{fromAddr(r.Start), fromAddr(r.End)}
		if iv.last.less(a.first) || a.last.less(iv.first) {
			continue
		}
		if iv.first.less(a.first) {
			iv.first = a.first
		}
		if a.last.less(iv.last) {
			iv.last = a.last
		}
		fixed = append(fixed, iv)
	}
	single(s.Gateway)
	for _, d := range s.DNSServers {
		single(d)
	}
	bits := prefix.Bits()
	if a.is4 && bits < 31 {
		fixed = append(fixed, interval{a.first, a.first}, interval{a.last, a.last})
	} else if !a.is4 && bits < 127 {
		fixed = append(fixed, interval{a.first, a.first})
	}
	slices.SortFunc(fixed, func(x, y interval) int { return x.first.compare(y.first) })
	// Merge overlapping and adjacent intervals.
	for _, iv := range fixed {
		if n := len(a.fixed); n > 0 {
			prev := &a.fixed[n-1]
			if !prev.last.less(iv.first) || iv.first == prev.last.addOne() {
				if prev.last.less(iv.last) {
					prev.last = iv.last
				}
				continue
			}
		}
		a.fixed = append(a.fixed, iv)
	}
	return a, nil
}

// Prefix returns the allocator's subnet prefix.
func (a *Allocator) Prefix() netip.Prefix { return a.prefix }

// Next returns the lowest address of the smallest free block, given the
// addresses in use and, for a retry after losing a race, extra addresses to
// treat as used. Either may contain addresses outside the subnet (ignored)
// and duplicates, in any order: sorted used (as ORDER BY ip returns them)
// is swept in one pass; unsorted used goes through a bitmap in IPv4
// subnets of up to 2^20 addresses and through a sorted copy otherwise. It
// returns an error wrapping ErrExhausted when no address is free.
func (a *Allocator) Next(used []netip.Addr, extra ...netip.Addr) (netip.Addr, error) {
	var best interval
	found := false
	a.sweep(used, extra, func(free interval) {
		if !found || free.last.sub(free.first).less(best.last.sub(best.first)) {
			best, found = free, true
		}
	}, func() { found = false })
	if !found {
		return netip.Addr{}, fmt.Errorf("netmodel: subnet %s: %w: every address is in a dynamic or reserved range, the gateway, a DNS server or in use; shrink a range, release addresses or add a subnet", a.prefix, ErrExhausted)
	}
	return best.first.addr(a.is4), nil
}

// FreeBlocks returns every free block in address order, given the addresses
// in use (see Next).
func (a *Allocator) FreeBlocks(used []netip.Addr, extra ...netip.Addr) []Block {
	var out []Block
	a.sweep(used, extra, func(free interval) {
		out = append(out, Block{First: free.first.addr(a.is4), Last: free.last.addr(a.is4)})
	}, func() { out = out[:0] })
	return out
}

// sweep calls yield for every free interval in ascending order: it walks the
// fixed exclusions, used and extra as sorted streams at once, so it is
// linear in their length and never touches free addresses one by one.
//
// When sweep learns halfway that used is unsorted, it calls restart, and
// yields every free interval again from the start.
func (a *Allocator) sweep(used, extra []netip.Addr, yield func(interval), restart func()) {
	if a.is4 {
		a.sweep4(used, extra, yield, restart)
		return
	}
	a.sweep128(used, extra, yield, restart)
}

// sweep128 is sweep for any family in 128-bit arithmetic (IPv6 subnets):
// one pass over used, merged with the fixed exclusions and extra.
//
// Like sweep4 it learns whether used is sorted on the way, and on finding
// it is not, calls restart and sweeps a sorted copy.
func (a *Allocator) sweep128(used, extra []netip.Addr, yield func(interval), restart func()) {
	excl := slices.Clone(a.fixed)
	for _, e := range extra {
		if u, ok := a.inside(e); ok {
			excl = append(excl, interval{u, u})
		}
	}
	if len(excl) > len(a.fixed) {
		slices.SortFunc(excl, func(x, y interval) int { return x.first.compare(y.first) })
	}
	cursor := a.first // lowest address not yet known to be excluded or free
	done := false     // cursor passed a.last
	exclude := func(iv interval) {
		if done || iv.last.less(cursor) {
			return
		}
		if cursor.less(iv.first) {
			yield(interval{cursor, iv.first.subOne()})
		}
		if iv.last == a.last {
			done = true
		} else {
			cursor = iv.last.addOne()
		}
	}
	var prev u128
	for _, addr := range used {
		if !addr.IsValid() || addr.Is4() != a.is4 {
			continue
		}
		var u u128
		if a.is4 {
			u = u128{lo: addr4(addr)}
		} else {
			u = from16(addr)
		}
		if u.less(prev) {
			restart()
			sorted := slices.Clone(used)
			slices.SortFunc(sorted, netip.Addr.Compare)
			a.sweep128(sorted, extra, yield, func() {})
			return
		}
		prev = u
		if done || u.less(cursor) || a.last.less(u) {
			continue
		}
		for len(excl) > 0 && !u.less(excl[0].first) {
			exclude(excl[0])
			excl = excl[1:]
		}
		exclude(interval{u, u})
	}
	for _, iv := range excl {
		exclude(iv)
	}
	if !done {
		yield(interval{cursor, a.last})
	}
}

// inside converts addr to u128 and reports whether it is in the subnet.
func (a *Allocator) inside(addr netip.Addr) (u128, bool) {
	if !addr.IsValid() || addr.Is4() != a.is4 {
		return u128{}, false
	}
	u := fromAddr(addr)
	return u, !u.less(a.first) && !a.last.less(u)
}

// interval4 is an inclusive range of IPv4 addresses; uint64 so that the
// address after 255.255.255.255 needs no special case.
type interval4 struct{ first, last uint64 }

// sweep4 is sweep for IPv4 subnets: the hot path (a /16 with tens of
// thousands of used addresses) in plain integers, one pass over used. An
// unsorted used is converted to integers and sorted, which is several
// times faster than sorting netip.Addr values.
func (a *Allocator) sweep4(used, extra []netip.Addr, yield func(interval), restart func()) {
	excl := a.fixed4(extra)
	sw := sweeper4{excl: excl, cursor: a.first.lo, last: a.last.lo, yield: yield}
	prev := uint64(0)
	for _, addr := range used {
		if !addr.Is4() {
			continue
		}
		v := addr4(addr)
		if v < prev {
			restart()
			a.sweep4Unsorted(used, excl, yield)
			return
		}
		prev = v
		// sw.add(v) by hand: too big for the inliner, and this loop is
		// the allocator's whole cost.
		if len(sw.excl) > 0 && sw.excl[0].first <= v {
			sw.passExclusions(v)
		}
		if v < sw.cursor || v > sw.last {
			continue
		}
		if sw.cursor < v {
			sw.emit(sw.cursor, v-1)
		}
		sw.cursor = v + 1
	}
	sw.finish()
}

// bitmapMax is the largest IPv4 subnet (in addresses) whose unsorted used
// addresses are placed in a bitmap (128 KiB) instead of being sorted.
const bitmapMax = 1 << 20

// sweep4Unsorted sweeps an unsorted used: through a bitmap of the subnet
// when it is at most bitmapMax addresses (linear, no sort), else as sorted
// integers.
func (a *Allocator) sweep4Unsorted(used []netip.Addr, excl []interval4, yield func(interval)) {
	first, last := a.first.lo, a.last.lo
	if n := last - first + 1; n <= bitmapMax {
		taken := make([]uint64, (n+63)/64)
		for _, addr := range used {
			if addr.Is4() {
				if v := addr4(addr); v >= first && v <= last {
					taken[(v-first)/64] |= 1 << ((v - first) % 64)
				}
			}
		}
		for _, iv := range excl {
			for i := iv.first - first; i <= iv.last-first; {
				if i%64 == 0 && iv.last-first-i >= 63 {
					taken[i/64] = ^uint64(0)
					i += 64
					continue
				}
				taken[i/64] |= 1 << (i % 64)
				i++
			}
		}
		freeRuns(taken, n, func(i, j uint64) {
			yield(interval{u128{lo: first + i}, u128{lo: first + j}})
		})
		return
	}
	vals := make([]uint32, 0, len(used))
	for _, addr := range used {
		if u, ok := a.inside(addr); ok {
			vals = append(vals, uint32(u.lo))
		}
	}
	slices.Sort(vals)
	sw := sweeper4{excl: excl, cursor: first, last: last, yield: yield}
	for _, v := range vals {
		sw.add(uint64(v))
	}
	sw.finish()
}

// freeRuns calls yield(i, j) for every run of clear bits i…j (inclusive)
// among the first n bits of taken, in order, a word at a time.
func freeRuns(taken []uint64, n uint64, yield func(i, j uint64)) {
	// next returns the first index ≥ i whose bit is set (want true) or
	// clear (want false), or n.
	next := func(i uint64, want bool) uint64 {
		for i < n {
			w := taken[i/64]
			if !want {
				w = ^w
			}
			if w >>= i % 64; w != 0 {
				return min(n, i+uint64(mbits.TrailingZeros64(w)))
			}
			i = (i/64 + 1) * 64
		}
		return n
	}
	for i := next(0, false); i < n; {
		j := next(i, true)
		yield(i, j-1)
		i = next(j, false)
	}
}

// sweeper4 is the state of one IPv4 sweep: the sorted exclusions not yet
// passed, the lowest address not yet known to be excluded or free, and the
// subnet's last address.
type sweeper4 struct {
	excl   []interval4
	cursor uint64
	last   uint64
	yield  func(interval)
}

func (sw *sweeper4) emit(f, l uint64) { sw.yield(interval{u128{lo: f}, u128{lo: l}}) }

// exclude accounts for the excluded interval [f, l]; f never decreases
// between calls.
func (sw *sweeper4) exclude(f, l uint64) {
	if l < sw.cursor {
		return
	}
	if sw.cursor < f {
		sw.emit(sw.cursor, f-1)
	}
	sw.cursor = l + 1
}

// add accounts for used address v; v never decreases between calls.
// sweep4 repeats its body inline.
func (sw *sweeper4) add(v uint64) {
	if len(sw.excl) > 0 && sw.excl[0].first <= v {
		sw.passExclusions(v)
	}
	if v < sw.cursor || v > sw.last {
		return // below the subnet, a duplicate, already excluded, or above the subnet
	}
	if sw.cursor < v {
		sw.emit(sw.cursor, v-1)
	}
	sw.cursor = v + 1
}

// passExclusions accounts for the exclusions that start at or before v.
func (sw *sweeper4) passExclusions(v uint64) {
	for len(sw.excl) > 0 && sw.excl[0].first <= v {
		sw.exclude(sw.excl[0].first, sw.excl[0].last)
		sw.excl = sw.excl[1:]
	}
}

// finish accounts for the remaining exclusions and the tail of the subnet.
func (sw *sweeper4) finish() {
	for _, iv := range sw.excl {
		sw.exclude(iv.first, iv.last)
	}
	if sw.cursor <= sw.last {
		sw.emit(sw.cursor, sw.last)
	}
}

// fixed4 returns the fixed exclusions plus the extra addresses inside the
// subnet, sorted by first address (not merged: sweep4 tolerates overlap).
func (a *Allocator) fixed4(extra []netip.Addr) []interval4 {
	out := make([]interval4, 0, len(a.fixed)+len(extra))
	for _, iv := range a.fixed {
		out = append(out, interval4{iv.first.lo, iv.last.lo})
	}
	added := false
	for _, e := range extra {
		if u, ok := a.inside(e); ok {
			out = append(out, interval4{u.lo, u.lo})
			added = true
		}
	}
	if added {
		slices.SortFunc(out, func(x, y interval4) int { return cmp.Compare(x.first, y.first) })
	}
	return out
}

// addr4 returns an IPv4 address as an integer.
func addr4(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(binary.BigEndian.Uint32(b[:]))
}
