package netmodel

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// wantErr checks err against a list of fragments: none means valid; each
// fragment must appear in the message, which must wrap ErrInvalid and carry
// a *ValidationError.
func wantErr(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if len(fragments) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var ve *ValidationError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) {
		t.Fatalf("err = %v; want a *ValidationError wrapping ErrInvalid", err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %q", err, f)
		}
	}
}

func TestValidateVLAN(t *testing.T) {
	ok := VLAN{ID: 10, FabricID: 1, VID: 100, MTU: 1500}
	tests := []struct {
		name string
		mod  func(*VLAN)
		want []string
	}{
		{"valid", func(*VLAN) {}, nil},
		{"untagged", func(v *VLAN) { v.VID = 0 }, nil},
		{"highest vid", func(v *VLAN) { v.VID = 4094 }, nil},
		{"vid too high", func(v *VLAN) { v.VID = 4095 }, []string{`vlan 10 (vid 4095 on fabric 1): vid "4095": out of range: use 0–4094`}},
		{"negative vid", func(v *VLAN) { v.VID = -1 }, []string{"vid", "0–4094"}},
		{"mtu too small", func(v *VLAN) { v.MTU = 551 }, []string{`mtu "551": out of range: use 552–65535`}},
		{"mtu too big", func(v *VLAN) { v.MTU = 65536 }, []string{`mtu "65536"`}},
		{"jumbo", func(v *VLAN) { v.MTU = 9000 }, nil},
		{"smallest mtu", func(v *VLAN) { v.MTU = 552 }, nil},
		{"dhcp without rack", func(v *VLAN) { v.DHCPOn = true }, []string{`dhcp_on "true"`, "set primary_rack"}},
		{"dhcp with rack", func(v *VLAN) { v.DHCPOn, v.PrimaryRack = true, 7 }, nil},
		{"failover pair", func(v *VLAN) { v.DHCPOn, v.PrimaryRack, v.SecondaryRack = true, 7, 8 }, nil},
		{"primary equals secondary", func(v *VLAN) { v.DHCPOn, v.PrimaryRack, v.SecondaryRack = true, 7, 7 },
			[]string{`secondary_rack "7": same rack as primary_rack`}},
		{"secondary without primary", func(v *VLAN) { v.SecondaryRack = 8 }, []string{"set primary_rack first"}},
		{"relay with dhcp", func(v *VLAN) { v.DHCPOn, v.PrimaryRack, v.RelayVLANID = true, 7, 20 },
			[]string{`relay_vlan "20"`, "turn dhcp_on off"}},
		{"relay to itself", func(v *VLAN) { v.RelayVLANID = 10 }, []string{"cannot relay to itself"}},
		{"several problems at once", func(v *VLAN) { v.VID, v.MTU = 5000, 100 }, []string{"vid", "mtu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ok
			tt.mod(&v)
			wantErr(t, v.Validate(), tt.want...)
		})
	}
}

func TestValidateVLANAgainstOthers(t *testing.T) {
	existing := []VLAN{
		{ID: 1, FabricID: 1, VID: 0, MTU: 1500, DHCPOn: true, PrimaryRack: 3},
		{ID: 2, FabricID: 1, VID: 100, MTU: 1500},
		{ID: 3, FabricID: 2, VID: 200, MTU: 1500, RelayVLANID: 1},
	}
	tests := []struct {
		name string
		v    VLAN
		want []string
	}{
		{"new vid", VLAN{FabricID: 1, VID: 101, MTU: 1500}, nil},
		{"same vid on another fabric", VLAN{FabricID: 2, VID: 100, MTU: 1500}, nil},
		{"vid taken", VLAN{FabricID: 1, VID: 100, MTU: 1500}, []string{`vid "100": already used by vlan 2 on fabric 1`}},
		{"updating itself", VLAN{ID: 2, FabricID: 1, VID: 100, MTU: 9000}, nil},
		{"relay to a DHCP VLAN", VLAN{FabricID: 2, VID: 300, MTU: 1500, RelayVLANID: 1}, nil},
		{"relay to a VLAN without DHCP", VLAN{FabricID: 2, VID: 300, MTU: 1500, RelayVLANID: 2}, []string{"does not serve DHCP"}},
		{"relay to a relayed VLAN", VLAN{FabricID: 2, VID: 300, MTU: 1500, RelayVLANID: 3}, []string{"is relayed itself"}},
		{"relay to nowhere", VLAN{FabricID: 2, VID: 300, MTU: 1500, RelayVLANID: 99}, []string{"no such VLAN"}},
		{"own and shared problems", VLAN{FabricID: 1, VID: 100, MTU: 1}, []string{"mtu", "already used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, ValidateVLAN(tt.v, existing), tt.want...)
		})
	}
}

func TestValidateSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	tests := []struct {
		name string
		s    Subnet
		want []string
	}{
		{"valid", Subnet{CIDR: p("10.0.0.0/24"), Gateway: a("10.0.0.1"), DNSServers: []netip.Addr{a("10.0.0.2"), a("1.1.1.1")}}, nil},
		{"no gateway", Subnet{CIDR: p("10.0.0.0/24")}, nil},
		{"ipv6", Subnet{CIDR: p("2001:db8::/64"), Gateway: a("2001:db8::1"), DNSServers: []netip.Addr{a("2001:db8::53")}}, nil},
		{"missing cidr", Subnet{ID: 4}, []string{`subnet 4: cidr "invalid Prefix": not a prefix`}},
		{"host bits", Subnet{CIDR: p("10.0.0.5/24")}, []string{`subnet 10.0.0.5/24: cidr "10.0.0.5/24": has host bits set: use 10.0.0.0/24`}},
		{"mapped", Subnet{CIDR: p("::ffff:10.0.0.0/120")}, []string{"IPv4-mapped"}},
		{"gateway outside", Subnet{CIDR: p("10.0.0.0/24"), Gateway: a("10.0.1.1")},
			[]string{`gateway_ip "10.0.1.1": outside 10.0.0.0/24`}},
		{"gateway of another family", Subnet{CIDR: p("10.0.0.0/24"), Gateway: a("2001:db8::1")}, []string{"gateway_ip", "outside"}},
		{"gateway is the network address", Subnet{CIDR: p("10.0.0.0/24"), Gateway: a("10.0.0.0")}, []string{"network or broadcast"}},
		{"gateway is the broadcast address", Subnet{CIDR: p("10.0.0.0/24"), Gateway: a("10.0.0.255")}, []string{"network or broadcast"}},
		{"gateway on a /31", Subnet{CIDR: p("10.0.0.0/31"), Gateway: a("10.0.0.0")}, nil},
		{"unspecified dns", Subnet{CIDR: p("10.0.0.0/24"), DNSServers: []netip.Addr{a("0.0.0.0")}}, []string{`dns_servers "0.0.0.0": not a unicast address`}},
		{"multicast dns", Subnet{CIDR: p("10.0.0.0/24"), DNSServers: []netip.Addr{a("224.0.0.1")}}, []string{"not a unicast"}},
		{"zoned dns", Subnet{CIDR: p("2001:db8::/64"), DNSServers: []netip.Addr{a("fe80::1%eth0")}}, []string{`dns_servers "fe80::1%eth0": has an IPv6 zone`, "drop the %eth0"}},
		{"duplicate dns", Subnet{CIDR: p("10.0.0.0/24"), DNSServers: []netip.Addr{a("10.0.0.2"), a("10.0.0.2")}}, []string{"listed twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.s.Validate(), tt.want...)
		})
	}

	existing := []Subnet{{ID: 1, CIDR: p("10.0.0.0/24")}, {ID: 2, CIDR: p("10.0.1.0/24")}}
	wantErr(t, ValidateSubnet(Subnet{CIDR: p("10.0.2.0/24")}, existing))
	wantErr(t, ValidateSubnet(Subnet{ID: 1, CIDR: p("10.0.0.0/24"), Gateway: a("10.0.0.1")}, existing))
	wantErr(t, ValidateSubnet(Subnet{CIDR: p("10.0.1.0/24")}, existing), `cidr "10.0.1.0/24": already used by subnet 2`)
}

func TestValidateRange(t *testing.T) {
	a := netip.MustParseAddr
	sub := Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.0.0.0/24"), Gateway: a("10.0.0.1")}
	existing := []IPRange{
		{ID: 1, SubnetID: 1, Type: RangeDynamic, Start: a("10.0.0.100"), End: a("10.0.0.199")},
		{ID: 2, SubnetID: 1, Type: RangeReserved, Start: a("10.0.0.2"), End: a("10.0.0.9")},
		{ID: 3, SubnetID: 2, Type: RangeReserved, Start: a("10.0.0.10"), End: a("10.0.0.50")}, // another subnet
	}
	r := func(typ RangeType, start, end string) IPRange {
		return IPRange{SubnetID: 1, Type: typ, Start: a(start), End: a(end)}
	}
	tests := []struct {
		name string
		r    IPRange
		want []string
	}{
		{"fits between", r(RangeDynamic, "10.0.0.10", "10.0.0.99"), nil},
		{"single address", r(RangeReserved, "10.0.0.200", "10.0.0.200"), nil},
		{"updating itself", IPRange{ID: 1, SubnetID: 1, Type: RangeDynamic, Start: a("10.0.0.100"), End: a("10.0.0.210")}, nil},
		{"unknown type", r("static", "10.0.0.10", "10.0.0.20"), []string{`type "static": unknown range type`}},
		{"outside", r(RangeDynamic, "10.0.0.250", "10.0.1.5"), []string{`end_ip "10.0.1.5": outside 10.0.0.0/24`}},
		{"broadcast", r(RangeDynamic, "10.0.0.250", "10.0.0.255"), []string{"end_ip", "network or broadcast"}},
		{"missing start", IPRange{SubnetID: 1, Type: RangeDynamic, End: a("10.0.0.20")}, []string{"start_ip", "missing"}},
		{"reversed", r(RangeDynamic, "10.0.0.20", "10.0.0.10"), []string{`end_ip "10.0.0.10": before start_ip 10.0.0.20: swap them`}},
		{"dynamic over the gateway", IPRange{SubnetID: 1, Type: RangeDynamic, Start: a("10.0.0.1"), End: a("10.0.0.1")}, []string{"contains the gateway 10.0.0.1"}},
		{"reserved over the gateway", IPRange{ID: 2, SubnetID: 1, Type: RangeReserved, Start: a("10.0.0.1"), End: a("10.0.0.9")}, nil},
		{"overlap", r(RangeReserved, "10.0.0.190", "10.0.0.210"), []string{"overlaps dynamic range 10.0.0.100-10.0.0.199 (id 1)"}},
		{"overlap at one end", r(RangeReserved, "10.0.0.9", "10.0.0.9"), []string{"overlaps reserved range 10.0.0.2-10.0.0.9 (id 2)"}},
		{"covers two", r(RangeReserved, "10.0.0.5", "10.0.0.150"), []string{"(id 1)", "(id 2)"}},
		{"ipv4 range in ipv6 subnet", IPRange{SubnetID: 1, Type: RangeDynamic, Start: a("2001:db8::10"), End: a("2001:db8::20")}, []string{"outside 10.0.0.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, ValidateRange(tt.r, sub, existing), tt.want...)
		})
	}
}

func TestValidateStaticAddress(t *testing.T) {
	a := netip.MustParseAddr
	sub := Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.0.0.0/24"), Gateway: a("10.0.0.1")}
	ranges := []IPRange{
		{ID: 1, SubnetID: 1, Type: RangeDynamic, Start: a("10.0.0.100"), End: a("10.0.0.199")},
		{ID: 2, SubnetID: 1, Type: RangeReserved, Start: a("10.0.0.2"), End: a("10.0.0.9")},
	}
	addr := func(typ AllocType, ip string) StaticAddress {
		s := StaticAddress{SubnetID: 1, AllocType: typ}
		if ip != "" {
			s.Addr = a(ip)
		}
		return s
	}
	tests := []struct {
		name string
		s    StaticAddress
		want []string
	}{
		{"auto", addr(AllocAuto, "10.0.0.20"), nil},
		{"auto before deployment", addr(AllocAuto, ""), nil},
		{"sticky without address", addr(AllocSticky, ""), []string{`ip "invalid IP": missing`}},
		{"unknown type", addr("manual", "10.0.0.20"), []string{`alloc_type "manual": unknown allocation type`}},
		{"outside", addr(AllocSticky, "10.0.1.20"), []string{"outside 10.0.0.0/24"}},
		{"broadcast", addr(AllocUserReserved, "10.0.0.255"), []string{"network or broadcast"}},
		{"sticky in dynamic", addr(AllocSticky, "10.0.0.150"), []string{"inside dynamic range 10.0.0.100-10.0.0.199"}},
		{"user-reserved in reserved", addr(AllocUserReserved, "10.0.0.5"), nil},
		{"auto in reserved", addr(AllocAuto, "10.0.0.5"), []string{"inside reserved range", "Allocator.Next"}},
		{"auto on the gateway", addr(AllocAuto, "10.0.0.1"), []string{"is the subnet's gateway"}},
		{"dhcp lease", addr(AllocDHCP, "10.0.0.150"), nil},
		{"dhcp outside dynamic", addr(AllocDHCP, "10.0.0.50"), []string{`record it as "discovered"`}},
		{"discovered anywhere", addr(AllocDiscovered, "10.0.0.1"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, ValidateStaticAddress(tt.s, sub, ranges), tt.want...)
		})
	}
}

func TestValidateNames(t *testing.T) {
	for _, err := range []error{
		Fabric{Name: "fabric-0"}.Validate(), Space{Name: "storage"}.Validate(),
		Zone{Name: "dc1.row_2"}.Validate(), ResourcePool{Name: "default"}.Validate(),
	} {
		wantErr(t, err)
	}
	wantErr(t, Fabric{ID: 3}.Validate(), `fabric 3: name "": invalid name`)
	wantErr(t, Zone{Name: "bad zone"}.Validate(), `zone "bad zone": name "bad zone": invalid name: use 1–256 letters`)
	wantErr(t, Space{Name: "-x"}.Validate(), "invalid name")
	wantErr(t, ResourcePool{Name: strings.Repeat("p", 257)}.Validate(), "invalid name")
}
