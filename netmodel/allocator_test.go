package netmodel

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func rng(typ RangeType, start, end string) IPRange {
	return IPRange{SubnetID: 1, Type: typ, Start: netip.MustParseAddr(start), End: netip.MustParseAddr(end)}
}

func TestAllocatorNext(t *testing.T) {
	sub := Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.0.1"),
		DNSServers: addrs("10.0.0.2", "192.0.2.53")}
	tests := []struct {
		name   string
		subnet Subnet
		ranges []IPRange
		used   []netip.Addr
		extra  []netip.Addr
		want   string // "" means ErrExhausted
	}{
		{name: "empty subnet: after gateway and DNS", subnet: sub, want: "10.0.0.3"},
		{name: "used addresses are skipped", subnet: sub, used: addrs("10.0.0.3", "10.0.0.4"), want: "10.0.0.5"},
		{name: "smallest hole first", subnet: sub,
			ranges: []IPRange{rng(RangeDynamic, "10.0.0.100", "10.0.0.200")},
			used:   addrs("10.0.0.3", "10.0.0.4", "10.0.0.6", "10.0.0.250"),
			want:   "10.0.0.5"},
		{name: "smallest block after a range", subnet: sub,
			ranges: []IPRange{rng(RangeDynamic, "10.0.0.3", "10.0.0.240"), rng(RangeReserved, "10.0.0.245", "10.0.0.254")},
			want:   "10.0.0.241"},
		{name: "ties go to the lowest address", subnet: sub,
			ranges: []IPRange{rng(RangeReserved, "10.0.0.3", "10.0.0.9"), rng(RangeDynamic, "10.0.0.12", "10.0.0.252")},
			want:   "10.0.0.10"},
		{name: "extra addresses (retry) are excluded", subnet: sub, used: addrs("10.0.0.3"), extra: addrs("10.0.0.4"), want: "10.0.0.5"},
		{name: "unsorted input with duplicates and strangers", subnet: sub,
			used: addrs("10.0.0.4", "172.16.0.1", "10.0.0.3", "2001:db8::1", "10.0.0.4", "10.0.0.5"), want: "10.0.0.6"},
		{name: "ranges of other subnets are ignored", subnet: sub,
			ranges: []IPRange{{SubnetID: 2, Type: RangeDynamic, Start: netip.MustParseAddr("10.0.0.3"), End: netip.MustParseAddr("10.0.0.9")}},
			want:   "10.0.0.3"},
		{name: "exhausted", subnet: sub,
			ranges: []IPRange{rng(RangeDynamic, "10.0.0.3", "10.0.0.200"), rng(RangeReserved, "10.0.0.201", "10.0.0.254")}},
		{name: "exhausted by used addresses", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.0.0.0/30")},
			used: addrs("10.0.0.1", "10.0.0.2")},
		{name: "/31 uses both addresses", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.0.0.0/31")},
			used: addrs("10.0.0.0"), want: "10.0.0.1"},
		{name: "/32 is its own address", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.9.9.9/32")}, want: "10.9.9.9"},
		{name: "broadcast is never handed out", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.0.0.0/29")},
			used: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), want: "10.0.0.6"},
		{name: "whole IPv4 space", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("0.0.0.0/0")},
			used: addrs("0.0.0.1"), want: "0.0.0.2"},
		{name: "IPv6 skips the subnet-router anycast", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("2001:db8::/64"),
			Gateway: netip.MustParseAddr("2001:db8::1")}, want: "2001:db8::2"},
		{name: "IPv6 smallest block", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("2001:db8::/64")},
			ranges: []IPRange{rng(RangeDynamic, "2001:db8::1:0", "2001:db8::ffff:ffff:ffff:fff0")},
			want:   "2001:db8::ffff:ffff:ffff:fff1"},
		{name: "IPv6 range to the end of the space", subnet: Subnet{ID: 1, CIDR: netip.MustParsePrefix("::/0")},
			ranges: []IPRange{rng(RangeReserved, "::1", "::ffff"), rng(RangeReserved, "8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
			used:   addrs("::1:0"), want: "::1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAllocator(tt.subnet, tt.ranges)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Next(tt.used, tt.extra...)
			if tt.want == "" {
				if !errors.Is(err, ErrExhausted) {
					t.Fatalf("Next = %v, %v; want ErrExhausted", got, err)
				}
				return
			}
			if err != nil || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("Next = %v, %v; want %s", got, err, tt.want)
			}
			if tt.subnet.CIDR.Addr().Is4() && tt.subnet.CIDR.Bits() >= 16 {
				if want := naiveNext(tt.subnet, tt.ranges, append(slices.Clone(tt.used), tt.extra...)); want != got {
					t.Errorf("reference implementation says %v", want)
				}
			}
		})
	}
}

func TestAllocatorFreeBlocks(t *testing.T) {
	sub := Subnet{ID: 1, CIDR: netip.MustParsePrefix("192.168.1.0/24"), Gateway: netip.MustParseAddr("192.168.1.254")}
	a, err := NewAllocator(sub, []IPRange{rng(RangeDynamic, "192.168.1.100", "192.168.1.199")})
	if err != nil {
		t.Fatal(err)
	}
	got := a.FreeBlocks(addrs("192.168.1.10"))
	want := []Block{
		{netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("192.168.1.9")},
		{netip.MustParseAddr("192.168.1.11"), netip.MustParseAddr("192.168.1.99")},
		{netip.MustParseAddr("192.168.1.200"), netip.MustParseAddr("192.168.1.253")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("FreeBlocks = %v\nwant         %v", got, want)
	}
	// Unsorted input (restarting the sweep) gives the same blocks.
	if got := a.FreeBlocks(addrs("192.168.1.60", "192.168.1.10", "192.168.1.11")); len(got) != 4 ||
		got[0] != want[0] || got[1].First != netip.MustParseAddr("192.168.1.12") {
		t.Errorf("FreeBlocks(unsorted) = %v", got)
	}
	if a.Prefix() != sub.CIDR {
		t.Errorf("Prefix() = %v", a.Prefix())
	}
}

func TestNewAllocatorRejectsBadSubnet(t *testing.T) {
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("::ffff:10.0.0.0/120")} {
		if _, err := NewAllocator(Subnet{CIDR: p}, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewAllocator(%v): err = %v, want ErrInvalid", p, err)
		}
	}
}

// TestAllocatorMatchesReference compares Next with a per-address reference
// on random IPv4 subnets.
func TestAllocatorMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		bits := 22 + r.IntN(11) // /22 … /32
		sub := Subnet{ID: 1, CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), 0, 0}), bits).Masked()}
		size := 1 << (32 - bits)
		at := func(off int) netip.Addr {
			a := sub.CIDR.Addr()
			for range off {
				a = a.Next()
			}
			return a
		}
		if r.IntN(2) == 0 {
			sub.Gateway = at(r.IntN(size))
		}
		for range r.IntN(3) {
			sub.DNSServers = append(sub.DNSServers, at(r.IntN(size)))
		}
		var ranges []IPRange
		for range r.IntN(5) {
			s := r.IntN(size)
			e := min(size-1, s+r.IntN(size/4+1))
			ranges = append(ranges, IPRange{SubnetID: 1, Type: RangeDynamic, Start: at(s), End: at(e)})
		}
		var used []netip.Addr
		for range r.IntN(size + 1) {
			used = append(used, at(r.IntN(size)))
		}
		a, err := NewAllocator(sub, ranges)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Next(used)
		want := naiveNext(sub, ranges, used)
		if got != want || (err != nil) != !want.IsValid() {
			t.Fatalf("case %d: %v %d ranges %v, %d used: Next = %v, %v; reference %v", i, sub.CIDR, len(ranges), ranges, len(used), got, err, want)
		}
	}
}

// naiveNext is the per-address reference: mark every excluded IPv4 address
// in a map, then walk the subnet address by address.
func naiveNext(s Subnet, ranges []IPRange, used []netip.Addr) netip.Addr {
	p := s.CIDR.Masked()
	excluded := map[netip.Addr]bool{s.Gateway: true}
	for _, d := range s.DNSServers {
		excluded[d] = true
	}
	for _, u := range used {
		excluded[u] = true
	}
	for _, r := range ranges {
		if r.SubnetID != s.ID {
			continue
		}
		for a := r.Start; a.IsValid() && !r.End.Less(a); a = a.Next() {
			excluded[a] = true
		}
	}
	first := p.Addr()
	var last netip.Addr
	for a := first; a.IsValid() && p.Contains(a); a = a.Next() {
		last = a
	}
	if p.Bits() < 31 {
		excluded[first], excluded[last] = true, true
	}
	var best, cur netip.Addr
	bestSize, curSize := 0, 0
	flush := func() {
		if curSize > 0 && (bestSize == 0 || curSize < bestSize) {
			best, bestSize = cur, curSize
		}
		curSize = 0
	}
	for a := first; a.IsValid() && p.Contains(a); a = a.Next() {
		if excluded[a] {
			flush()
			continue
		}
		if curSize == 0 {
			cur = a
		}
		curSize++
	}
	flush()
	return best
}

// benchSubnet is the benchmark: a /16 with 100 ranges and 60,000
// used addresses, sorted as the store returns them (ORDER BY ip).
func benchSubnet() (Subnet, []IPRange, []netip.Addr) {
	sub := Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.20.0.0/16"), Gateway: netip.MustParseAddr("10.20.0.1"),
		DNSServers: addrs("10.20.0.2", "10.20.0.3")}
	at := func(off int) netip.Addr { return netip.AddrFrom4([4]byte{10, 20, byte(off >> 8), byte(off)}) }
	var ranges []IPRange
	inRanges := map[int]bool{}
	for i := range 100 {
		start := 300 + i*650 // one range of 20 addresses every 650
		typ := RangeReserved
		if i%2 == 0 {
			typ = RangeDynamic
		}
		ranges = append(ranges, IPRange{SubnetID: 1, Type: typ, Start: at(start), End: at(start + 19)})
		for o := start; o <= start+19; o++ {
			inRanges[o] = true
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	chosen := map[int]bool{}
	for len(chosen) < 60000 {
		off := 4 + r.IntN(65530)
		if !inRanges[off] {
			chosen[off] = true
		}
	}
	used := make([]netip.Addr, 0, len(chosen))
	for off := range chosen {
		used = append(used, at(off))
	}
	slices.SortFunc(used, netip.Addr.Compare)
	return sub, ranges, used
}

// reportCPU reports the process CPU time per operation since start
// ("cpu-ns/op"): on a loaded machine it stays close to the unloaded ns/op
// while wall time does not.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkNext(b *testing.B) {
	sub, ranges, used := benchSubnet()
	a, err := NewAllocator(sub, ranges)
	if err != nil {
		b.Fatal(err)
	}
	cpu := processCPU()
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Next(used); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkNextWithNewAllocator includes building the allocator, as a store
// that loads the subnet and its ranges per request does.
func BenchmarkNextWithNewAllocator(b *testing.B) {
	sub, ranges, used := benchSubnet()
	cpu := processCPU()
	for b.Loop() {
		a, err := NewAllocator(sub, ranges)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Next(used); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkNextUnsorted passes the used addresses in random order: Next
// sorts a copy.
func BenchmarkNextUnsorted(b *testing.B) {
	sub, ranges, used := benchSubnet()
	shuffled := slices.Clone(used)
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	a, err := NewAllocator(sub, ranges)
	if err != nil {
		b.Fatal(err)
	}
	cpu := processCPU()
	for b.Loop() {
		if _, err := a.Next(shuffled); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkNextReference is the per-address map approach, for the ratio.
func BenchmarkNextReference(b *testing.B) {
	sub, ranges, used := benchSubnet()
	cpu := processCPU()
	for b.Loop() {
		naiveNext(sub, ranges, used)
	}
	reportCPU(b, cpu)
}

func TestBenchSubnetAgreesWithReference(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	sub, ranges, used := benchSubnet()
	a, err := NewAllocator(sub, ranges)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Next(used)
	if want := naiveNext(sub, ranges, used); err != nil || got != want {
		t.Errorf("Next = %v, %v; reference %v", got, err, want)
	}
}

// TestSweepPathsAgree checks the 128-bit sweep (used for IPv6) against the
// IPv4 fast path on random IPv4 subnets, so both are held to the reference.
func TestSweepPathsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		bits := 20 + r.IntN(13)
		if i%10 == 0 {
			bits = 8 + r.IntN(4) // larger than the bitmap: the sorting path
		}
		sub := Subnet{ID: 1, CIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, 0, 0}), bits).Masked(),
			Gateway: netip.AddrFrom4([4]byte{10, 1, 0, byte(r.IntN(256))})}
		size := 1 << (32 - bits)
		at := func(off int) netip.Addr {
			return netip.AddrFrom4([4]byte{10, 1, byte(off >> 8), byte(off)})
		}
		var ranges []IPRange
		for range r.IntN(6) {
			s := r.IntN(size)
			ranges = append(ranges, IPRange{SubnetID: 1, Type: RangeReserved, Start: at(s), End: at(min(size-1, s+r.IntN(40)))})
		}
		size = min(size, 4096)
		var used, extra []netip.Addr
		for range r.IntN(size) {
			used = append(used, at(r.IntN(size+50))) // some outside the subnet
		}
		if r.IntN(2) == 0 {
			slices.SortFunc(used, netip.Addr.Compare)
		}
		for range r.IntN(3) {
			extra = append(extra, at(r.IntN(size)))
		}
		a, err := NewAllocator(sub, ranges)
		if err != nil {
			t.Fatal(err)
		}
		var fast, wide []interval
		a.sweep4(used, extra, func(iv interval) { fast = append(fast, iv) }, func() { fast = fast[:0] })
		a.sweep128(used, extra, func(iv interval) { wide = append(wide, iv) }, func() { wide = wide[:0] })
		if !slices.Equal(fast, wide) {
			t.Fatalf("case %d (%v, %d used): IPv4 path %v, 128-bit path %v", i, sub.CIDR, len(used), fast, wide)
		}
	}
}

// BenchmarkNextIPv6 is the benchmark on a /64 (the 128-bit path):
// 60,000 used addresses in the low /112 and 100 ranges.
func BenchmarkNextIPv6(b *testing.B) {
	sub := Subnet{ID: 1, CIDR: netip.MustParsePrefix("2001:db8:1::/64"), Gateway: netip.MustParseAddr("2001:db8:1::1")}
	at := func(off int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(off >> 8), 15: byte(off)})
	}
	_, ranges4, used4 := benchSubnet()
	var ranges []IPRange
	for _, r := range ranges4 {
		s, e := r.Start.As4(), r.End.As4()
		ranges = append(ranges, IPRange{SubnetID: 1, Type: r.Type,
			Start: at(int(s[2])<<8 | int(s[3])), End: at(int(e[2])<<8 | int(e[3]))})
	}
	used := make([]netip.Addr, len(used4))
	for i, u := range used4 {
		b := u.As4()
		used[i] = at(int(b[2])<<8 | int(b[3]))
	}
	a, err := NewAllocator(sub, ranges)
	if err != nil {
		b.Fatal(err)
	}
	cpu := processCPU()
	for b.Loop() {
		if _, err := a.Next(used); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}
