package store_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// seedNetwork creates a fabric and a /24 subnet 10.<x>.0.0/24 on its
// untagged VLAN with gateway .1.
func seedNetwork(t *testing.T, s *store.Store, cidr string) (netmodel.Fabric, netmodel.VLAN, netmodel.Subnet) {
	t.Helper()
	ctx := ctxT(t)
	f, err := s.CreateFabric(ctx, netmodel.Fabric{Name: "fabric-" + strings.NewReplacer(".", "-", "/", "-").Replace(cidr)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.UntaggedVLAN(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(cidr)
	sn, err := s.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: p, Gateway: p.Addr().Next()})
	if err != nil {
		t.Fatal(err)
	}
	return f, v, sn
}

// assertValidation checks that err is a netmodel.ValidationError for field
// whose message names the value.
func assertValidation(t *testing.T, err error, field, value string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a validation error for %s=%s, got nil", field, value)
	}
	if !errors.Is(err, netmodel.ErrInvalid) {
		t.Fatalf("err = %v; want it to wrap netmodel.ErrInvalid", err)
	}
	var ve *netmodel.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v; want a *netmodel.ValidationError", err)
	}
	if ve.Field != field || ve.Value != value {
		t.Fatalf("validation error names %s=%q, want %s=%q (%v)", ve.Field, ve.Value, field, value, err)
	}
	if !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), value) {
		t.Fatalf("message %q does not name %s and %s", err, field, value)
	}
}

func TestNetworkModel(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		f, untagged, sn := seedNetwork(t, s, "10.20.0.0/24")
		if untagged.VID != 0 || untagged.MTU != netmodel.DefaultMTU || untagged.FabricID != f.ID {
			t.Fatalf("untagged VLAN = %+v", untagged)
		}
		space, err := s.CreateSpace(ctx, netmodel.Space{Name: "storage"})
		if err != nil {
			t.Fatal(err)
		}
		v100, err := s.CreateVLAN(ctx, netmodel.VLAN{FabricID: f.ID, VID: 100, Name: "storage", SpaceID: space.ID, MTU: 9000})
		if err != nil {
			t.Fatal(err)
		}
		v100.DHCPOn, v100.PrimaryRack = true, 7
		if v100, err = s.UpdateVLAN(ctx, v100); err != nil {
			t.Fatal(err)
		}
		got, err := s.VLAN(ctx, v100.ID)
		if err != nil || got != v100 {
			t.Fatalf("VLAN(%d) = %+v, %v; want %+v", v100.ID, got, err, v100)
		}
		vlans, _ := s.VLANs(ctx, f.ID)
		if len(vlans) != 2 {
			t.Fatalf("fabric has %d VLANs, want 2", len(vlans))
		}

		gotSn, err := s.Subnet(ctx, sn.ID)
		if err != nil || gotSn.CIDR != sn.CIDR || gotSn.Gateway != sn.Gateway {
			t.Fatalf("Subnet = %+v, %v; want %+v", gotSn, err, sn)
		}
		dyn, err := s.CreateIPRange(ctx, netmodel.IPRange{SubnetID: sn.ID, Type: netmodel.RangeDynamic,
			Start: netip.MustParseAddr("10.20.0.100"), End: netip.MustParseAddr("10.20.0.199")})
		if err != nil {
			t.Fatal(err)
		}
		if rs, _ := s.IPRanges(ctx, sn.ID); len(rs) != 1 || rs[0] != dyn {
			t.Fatalf("IPRanges = %+v, want [%+v]", rs, dyn)
		}
		if in, err := s.SubnetFor(ctx, netip.MustParseAddr("10.20.0.150")); err != nil || in.ID != sn.ID {
			t.Fatalf("SubnetFor = %+v, %v", in, err)
		}
		if _, err := s.SubnetFor(ctx, netip.MustParseAddr("192.0.2.1")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SubnetFor(outside) err = %v, want ErrNotFound", err)
		}
		z, err := s.CreateZone(ctx, netmodel.Zone{Name: "rack-a"})
		if err != nil {
			t.Fatal(err)
		}
		if zs, _ := s.Zones(ctx); len(zs) != 2 || zs[0].Name != store.DefaultName || zs[1] != z {
			t.Fatalf("Zones = %+v", zs)
		}
		if _, err := s.CreateResourcePool(ctx, netmodel.ResourcePool{Name: "gpu"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateZone(ctx, netmodel.Zone{Name: "rack-a"}); !errors.Is(err, store.ErrDuplicate) || !strings.Contains(err.Error(), "rack-a") {
			t.Fatalf("duplicate zone err = %v", err)
		}
		if err := s.DeleteFabric(ctx, f.ID); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("DeleteFabric with a subnet: err = %v, want ErrInUse", err)
		}
		f2, _ := s.CreateFabric(ctx, netmodel.Fabric{Name: "empty"})
		if err := s.DeleteFabric(ctx, f2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Fabric(ctx, f2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted fabric: err = %v", err)
		}
	})
}

// TestBadInput: every bad input fails with an error naming the field and
// the value, and nothing is written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		f, v, sn := seedNetwork(t, s, "10.30.0.0/24")
		_, err := s.CreateIPRange(ctx, netmodel.IPRange{SubnetID: sn.ID, Type: netmodel.RangeReserved,
			Start: netip.MustParseAddr("10.30.0.10"), End: netip.MustParseAddr("10.30.0.20")})
		if err != nil {
			t.Fatal(err)
		}
		countRows := func() map[string]int {
			out := map[string]int{}
			for _, table := range []string{"fabrics", "vlans", "subnets", "ip_ranges", "machines", "interfaces", "events", "ip_addresses"} {
				n, err := s.DB().NewSelect().Table(table).Count(ctx)
				if err != nil {
					t.Fatal(err)
				}
				out[table] = n
			}
			return out
		}
		before := countRows()

		t.Run("vlan 5000", func(t *testing.T) {
			_, err := s.CreateVLAN(ctx, netmodel.VLAN{FabricID: f.ID, VID: 5000})
			assertValidation(t, err, "vid", "5000")
		})
		t.Run("vlan on missing fabric", func(t *testing.T) {
			_, err := s.CreateVLAN(ctx, netmodel.VLAN{FabricID: 9999, VID: 10})
			assertValidation(t, err, "fabric_id", "9999")
		})
		t.Run("duplicate vid", func(t *testing.T) {
			_, err := s.CreateVLAN(ctx, netmodel.VLAN{FabricID: f.ID, VID: 0})
			if err == nil || !strings.Contains(err.Error(), "vid") {
				t.Fatalf("err = %v, want one naming vid", err)
			}
		})
		t.Run("invalid cidr", func(t *testing.T) {
			_, err := s.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: netip.MustParsePrefix("10.40.0.7/24")})
			assertValidation(t, err, "cidr", "10.40.0.7/24")
		})
		t.Run("duplicate cidr", func(t *testing.T) {
			_, err := s.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: sn.CIDR})
			assertValidation(t, err, "cidr", sn.CIDR.String())
		})
		t.Run("gateway outside subnet", func(t *testing.T) {
			_, err := s.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: netip.MustParsePrefix("10.41.0.0/24"), Gateway: netip.MustParseAddr("10.99.0.1")})
			assertValidation(t, err, "gateway_ip", "10.99.0.1")
		})
		t.Run("subnet on missing vlan", func(t *testing.T) {
			_, err := s.CreateSubnet(ctx, netmodel.Subnet{VLANID: 4242, CIDR: netip.MustParsePrefix("10.42.0.0/24")})
			assertValidation(t, err, "vlan_id", "4242")
		})
		t.Run("overlapping ranges", func(t *testing.T) {
			_, err := s.CreateIPRange(ctx, netmodel.IPRange{SubnetID: sn.ID, Type: netmodel.RangeDynamic,
				Start: netip.MustParseAddr("10.30.0.15"), End: netip.MustParseAddr("10.30.0.50")})
			assertValidation(t, err, "start_ip", "10.30.0.15")
		})
		t.Run("duplicate mac", func(t *testing.T) {
			mac := mustMAC("52:54:00:00:30:01")
			if _, err := s.CreateMachine(ctx, store.Machine{Hostname: "first", Architecture: "amd64/generic",
				Interfaces: []store.Interface{{MAC: mac}}}, "admin"); err != nil {
				t.Fatal(err)
			}
			before = countRows() // the first machine is legitimately there
			_, err := s.CreateMachine(ctx, store.Machine{Hostname: "second", Architecture: "amd64/generic",
				Interfaces: []store.Interface{{MAC: mustMAC("52:54:00:00:30:02")}, {MAC: mac}}}, "admin")
			var de *store.DuplicateError
			if !errors.As(err, &de) || de.Field != "mac" || !strings.Contains(err.Error(), mac.String()) {
				t.Fatalf("err = %v, want a DuplicateError naming mac %s", err, mac)
			}
			if _, err := s.MachineByMAC(ctx, mustMAC("52:54:00:00:30:02")); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("half-written machine: the second MAC was stored (err=%v)", err)
			}
		})
		t.Run("mac twice in one machine", func(t *testing.T) {
			mac := mustMAC("52:54:00:00:30:09")
			_, err := s.CreateMachine(ctx, store.Machine{Hostname: "twice", Architecture: "amd64/generic",
				Interfaces: []store.Interface{{MAC: mac}, {MAC: mac}}}, "admin")
			assertValidation(t, err, "interfaces[1].mac", mac.String())
		})
		t.Run("bad hostname", func(t *testing.T) {
			_, err := s.CreateMachine(ctx, store.Machine{Hostname: "under_score", Architecture: "amd64/generic"}, "admin")
			assertValidation(t, err, "hostname", "under_score")
		})
		t.Run("duplicate hostname", func(t *testing.T) {
			_, err := s.CreateMachine(ctx, store.Machine{Hostname: "first", Architecture: "amd64/generic"}, "admin")
			var de *store.DuplicateError
			if !errors.As(err, &de) || de.Field != "hostname" {
				t.Fatalf("err = %v, want a DuplicateError naming hostname", err)
			}
		})
		t.Run("missing zone", func(t *testing.T) {
			_, err := s.CreateMachine(ctx, store.Machine{Hostname: "zoneless", Architecture: "amd64/generic", ZoneID: 777}, "admin")
			assertValidation(t, err, "zone_id", "777")
		})
		t.Run("address outside subnet", func(t *testing.T) {
			_, err := s.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn.ID, AllocType: netmodel.AllocUserReserved, Addr: netip.MustParseAddr("10.31.0.5")})
			assertValidation(t, err, "ip", "10.31.0.5")
		})
		t.Run("dhcp alloc type through AllocateIP", func(t *testing.T) {
			_, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{Type: netmodel.AllocDHCP})
			assertValidation(t, err, "alloc_type", "dhcp")
		})
		t.Run("address on missing interface", func(t *testing.T) {
			_, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{InterfaceID: 123456})
			assertValidation(t, err, "interface_id", "123456")
		})
		if after := countRows(); !mapsEqual(before, after) {
			t.Fatalf("bad input wrote rows: before %v, after %v", before, after)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
