package rack_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ironkit/ironkit/dhcpsrv"
	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/netmodel"
)

func TestBuildDHCP(t *testing.T) {
	pfx := netip.MustParsePrefix
	base := func(primary, secondary int64) rpc.Config {
		return rpc.Config{
			RackID:  1,
			VLANs:   []netmodel.VLAN{{ID: 10, MTU: 1500, DHCPOn: true, PrimaryRack: primary, SecondaryRack: secondary}},
			Subnets: []netmodel.Subnet{{ID: 100, VLANID: 10, CIDR: pfx("10.5.0.0/24"), Gateway: netip.MustParseAddr("10.5.0.1")}},
			Ranges: []netmodel.IPRange{{ID: 1, SubnetID: 100, Type: netmodel.RangeDynamic,
				Start: netip.MustParseAddr("10.5.0.100"), End: netip.MustParseAddr("10.5.0.150")}},
			Static: []netmodel.StaticAddress{{ID: 1, SubnetID: 100, Addr: netip.MustParseAddr("10.5.0.20"), AllocType: netmodel.AllocSticky, InterfaceID: 7}},
			Hosts:  map[int64]rpc.Host{7: {MAC: "52:54:00:00:00:07", Hostname: "n7"}},
			Racks:  []rpc.RackInfo{{ID: 1}, {ID: 2, Addresses: []netip.Prefix{pfx("10.5.0.3/24")}}},
		}
	}
	ifs := []rpc.Interface{{Name: "eth1", Addresses: []netip.Prefix{pfx("10.5.0.2/24")}}, {Name: "eth0", Addresses: []netip.Prefix{pfx("192.168.0.9/24")}}}
	cases := map[string]struct {
		cfg     rpc.Config
		ifs     []rpc.Interface
		n       int
		role    dhcpsrv.Role // 0: no failover
		peer    string
		wantErr string
	}{
		"serves no VLAN":             {base(3, 0), ifs, 0, 0, "", ""},
		"single rack":                {base(1, 0), ifs, 1, 0, "", ""},
		"primary of a pair":          {base(1, 2), ifs, 1, dhcpsrv.Primary, "10.5.0.3:647", ""},
		"secondary of a pair":        {base(2, 1), ifs, 1, dhcpsrv.Secondary, "10.5.0.3:647", ""},
		"no address on the subnet":   {base(1, 0), ifs[1:], 0, 0, "", "Interfaces has no interface"},
		"partner without an address": {func() rpc.Config { c := base(1, 2); c.Racks = nil; return c }(), ifs, 0, 0, "", "has not reported an address"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := rack.BuildDHCP(c.cfg, rack.DHCPOptions{Interfaces: c.ifs, LeaseDir: "/leases"})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || len(got) != c.n {
				t.Fatalf("BuildDHCP = %d configs, %v; want %d", len(got), err, c.n)
			}
			if c.n == 0 {
				return
			}
			sn := got[0].Subnets[0]
			if got[0].Interfaces[0] != "eth1" || sn.ServerAddr.String() != "10.5.0.2" || len(sn.Pools) != 1 || len(sn.Reservations) != 1 ||
				sn.Reservations[0].Addr.String() != "10.5.0.20" {
				t.Fatalf("config %+v", got[0])
			}
			fo := got[0].Failover
			switch {
			case c.role == 0 && fo != nil:
				t.Fatalf("unexpected failover %+v", fo)
			case c.role != 0 && (fo == nil || fo.Role != c.role || fo.Peer.String() != c.peer || fo.Listen.String() != "10.5.0.2:647"):
				t.Fatalf("failover %+v, want role %v peer %s", fo, c.role, c.peer)
			}
		})
	}
}
