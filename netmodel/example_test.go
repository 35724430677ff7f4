package netmodel_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ironkit/ironkit/netmodel"
)

// Choose the next static address of a subnet: outside the dynamic and
// reserved ranges, the gateway, the DNS servers and the addresses in use,
// filling the smallest hole first.
func Example() {
	subnet := netmodel.Subnet{
		ID:         1,
		CIDR:       netip.MustParsePrefix("10.40.0.0/24"),
		Gateway:    netip.MustParseAddr("10.40.0.1"),
		DNSServers: []netip.Addr{netip.MustParseAddr("10.40.0.2")},
	}
	ranges := []netmodel.IPRange{
		{SubnetID: 1, Type: netmodel.RangeDynamic, Start: netip.MustParseAddr("10.40.0.100"), End: netip.MustParseAddr("10.40.0.199")},
		{SubnetID: 1, Type: netmodel.RangeReserved, Start: netip.MustParseAddr("10.40.0.240"), End: netip.MustParseAddr("10.40.0.254")},
	}
	a, err := netmodel.NewAllocator(subnet, ranges)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Sorted, as the store returns them; 10.40.0.5 left a one-address hole.
	used := []netip.Addr{
		netip.MustParseAddr("10.40.0.3"), netip.MustParseAddr("10.40.0.4"), netip.MustParseAddr("10.40.0.6"),
	}
	next, err := a.Next(used)
	fmt.Println(next, err)

	// The store lost a race for 10.40.0.5 (unique index): retry excluding it.
	next, err = a.Next(used, netip.MustParseAddr("10.40.0.5"))
	fmt.Println(next, err)

	for _, b := range a.FreeBlocks(used) {
		fmt.Println("free:", b.First, "-", b.Last)
	}
	// Output:
	// 10.40.0.5 <nil>
	// 10.40.0.200 <nil>
	// free: 10.40.0.5 - 10.40.0.5
	// free: 10.40.0.7 - 10.40.0.99
	// free: 10.40.0.200 - 10.40.0.239
}

// A full subnet reports ErrExhausted.
func ExampleAllocator_Next_exhausted() {
	a, _ := netmodel.NewAllocator(netmodel.Subnet{CIDR: netip.MustParsePrefix("192.168.7.0/30")}, nil)
	_, err := a.Next([]netip.Addr{netip.MustParseAddr("192.168.7.1"), netip.MustParseAddr("192.168.7.2")})
	fmt.Println(errors.Is(err, netmodel.ErrExhausted))
	// Output:
	// true
}

// Validation errors name the object, the field, the value and the fix.
func ExampleValidateRange() {
	subnet := netmodel.Subnet{ID: 1, CIDR: netip.MustParsePrefix("10.40.0.0/24"), Gateway: netip.MustParseAddr("10.40.0.1")}
	existing := []netmodel.IPRange{
		{ID: 7, SubnetID: 1, Type: netmodel.RangeDynamic, Start: netip.MustParseAddr("10.40.0.100"), End: netip.MustParseAddr("10.40.0.199")},
	}
	r := netmodel.IPRange{SubnetID: 1, Type: netmodel.RangeReserved,
		Start: netip.MustParseAddr("10.40.0.150"), End: netip.MustParseAddr("10.40.0.160")}
	err := netmodel.ValidateRange(r, subnet, existing)
	fmt.Println(errors.Is(err, netmodel.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// netmodel: reserved range 10.40.0.150-10.40.0.160 of subnet 10.40.0.0/24: start_ip "10.40.0.150": overlaps dynamic range 10.40.0.100-10.40.0.199 (id 7): ranges never overlap; move this one or shrink that one
}

func ExampleVLAN_Validate() {
	v := netmodel.VLAN{FabricID: 1, VID: 20, MTU: 9000, DHCPOn: true, PrimaryRack: 3, SecondaryRack: 3}
	var ve *netmodel.ValidationError
	if err := v.Validate(); errors.As(err, &ve) {
		fmt.Println(ve.Field, ve.Value)
		fmt.Println(err)
	}
	// Output:
	// secondary_rack 3
	// netmodel: vlan vid 20 on fabric 1: secondary_rack "3": same rack as primary_rack: choose a different rack or clear secondary_rack
}
