package netmodel

import (
	"net/netip"
	"testing"
)

func TestSubnetFor(t *testing.T) {
	subnets := []Subnet{
		{ID: 1, CIDR: netip.MustParsePrefix("10.0.0.0/16")},
		{ID: 2, CIDR: netip.MustParsePrefix("10.0.5.0/24")},
		{ID: 3, CIDR: netip.MustParsePrefix("2001:db8::/64")},
		{ID: 4}, // invalid CIDR, never matches
	}
	tests := []struct {
		addr string
		want int64
	}{
		{"10.0.5.7", 2},
		{"10.0.6.7", 1},
		{"2001:db8::42", 3},
		{"192.168.0.1", 0},
		{"::ffff:10.0.5.7", 0}, // IPv4-mapped is not IPv4
	}
	for _, tt := range tests {
		s, ok := SubnetFor(netip.MustParseAddr(tt.addr), subnets)
		if s.ID != tt.want || ok != (tt.want != 0) {
			t.Errorf("SubnetFor(%s) = %d, %v; want %d", tt.addr, s.ID, ok, tt.want)
		}
	}
}
