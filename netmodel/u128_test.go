package netmodel

import (
	"net/netip"
	"testing"
)

func TestBounds(t *testing.T) {
	tests := []struct{ prefix, first, last string }{
		{"10.0.0.0/8", "10.0.0.0", "10.255.255.255"},
		{"10.1.2.3/32", "10.1.2.3", "10.1.2.3"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
		{"2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"},
		{"2001:db8::/63", "2001:db8::", "2001:db8:0:1:ffff:ffff:ffff:ffff"},
		{"2001:db8::/65", "2001:db8::", "2001:db8::7fff:ffff:ffff:ffff"},
		{"2001:db8::1/128", "2001:db8::1", "2001:db8::1"},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		first, last := bounds(p)
		is4 := p.Addr().Is4()
		if got := first.addr(is4); got != netip.MustParseAddr(tt.first) {
			t.Errorf("bounds(%s) first = %v, want %s", tt.prefix, got, tt.first)
		}
		if got := last.addr(is4); got != netip.MustParseAddr(tt.last) {
			t.Errorf("bounds(%s) last = %v, want %s", tt.prefix, got, tt.last)
		}
	}
	max := u128{^uint64(0), ^uint64(0)}
	if max.addOne() != (u128{}) || (u128{}).subOne() != max {
		t.Error("u128 wrap-around is wrong")
	}
	if (u128{1, 0}).subOne() != (u128{0, ^uint64(0)}) || (u128{0, ^uint64(0)}).addOne() != (u128{1, 0}) {
		t.Error("u128 carry is wrong")
	}
	if (u128{2, 1}).sub(u128{1, 2}) != (u128{0, ^uint64(0)}) {
		t.Error("u128 borrow is wrong")
	}
}
