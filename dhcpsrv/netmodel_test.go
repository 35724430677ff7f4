package dhcpsrv

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ironkit/ironkit/netmodel"
)

func netmodelSource() NetmodelSource {
	return NetmodelSource{
		Rack: 7,
		VLANs: []netmodel.VLAN{
			{ID: 1, VID: 0, MTU: 9000, DHCPOn: true, PrimaryRack: 7, SecondaryRack: 8},
			{ID: 2, VID: 100, MTU: 1500, RelayVLANID: 1},               // relayed to VLAN 1's racks
			{ID: 3, VID: 200, MTU: 1500, DHCPOn: true, PrimaryRack: 9}, // another rack's
		},
		Subnets: []netmodel.Subnet{
			{ID: 10, Name: "pxe", VLANID: 1, CIDR: netip.MustParsePrefix("10.20.0.0/24"), Gateway: netip.MustParseAddr("10.20.0.254"),
				DNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.53")}},
			{ID: 11, VLANID: 2, CIDR: netip.MustParsePrefix("10.21.0.0/24"), Gateway: netip.MustParseAddr("10.21.0.1")},
			{ID: 12, VLANID: 3, CIDR: netip.MustParsePrefix("10.22.0.0/24")},
			{ID: 13, VLANID: 1, CIDR: netip.MustParsePrefix("fd00::/64")},
		},
		Ranges: []netmodel.IPRange{
			{SubnetID: 10, Type: netmodel.RangeDynamic, Start: netip.MustParseAddr("10.20.0.100"), End: netip.MustParseAddr("10.20.0.199")},
			{SubnetID: 10, Type: netmodel.RangeReserved, Start: netip.MustParseAddr("10.20.0.240"), End: netip.MustParseAddr("10.20.0.250")},
			{SubnetID: 11, Type: netmodel.RangeDynamic, Start: netip.MustParseAddr("10.21.0.100"), End: netip.MustParseAddr("10.21.0.150")},
		},
		Static: []netmodel.StaticAddress{
			{SubnetID: 10, Addr: netip.MustParseAddr("10.20.0.10"), AllocType: netmodel.AllocSticky, InterfaceID: 501},
			{SubnetID: 10, Addr: netip.MustParseAddr("10.20.0.11"), AllocType: netmodel.AllocAuto, InterfaceID: 502},
			{SubnetID: 10, Addr: netip.MustParseAddr("10.20.0.12"), AllocType: netmodel.AllocUserReserved},
			{SubnetID: 10, Addr: netip.MustParseAddr("10.20.0.13"), AllocType: netmodel.AllocDiscovered, InterfaceID: 503},
		},
		Hosts: map[int64]Host{
			501: {MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 5, 1}, Hostname: "node-1"},
			502: {MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 5, 2}, Hostname: "node-2"},
			503: {MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 5, 3}, Hostname: "stranger"},
		},
		Interfaces: map[int64]string{1: "eth0"},
		RackAddrs:  map[int64]netip.Addr{10: netip.MustParseAddr("10.20.0.2")},
		Defaults:   Subnet{LeaseTime: 2 * time.Hour, PXELeaseTime: 5 * time.Minute, DomainName: "maas"},
	}
}

func TestFromNetmodel(t *testing.T) {
	dir := t.TempDir()
	base := Config{LeaseDir: dir, Failover: &Failover{Mode: HotStandby,
		Listen: netip.MustParseAddrPort("10.20.0.2:647"), Peer: netip.MustParseAddrPort("10.20.0.3:647")}}
	cfg, err := FromNetmodel(netmodelSource(), base)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Subnets) != 2 || len(cfg.Interfaces) != 1 || cfg.Interfaces[0] != "eth0" {
		t.Fatalf("want the PXE subnet and the relayed one on eth0, got %+v", cfg)
	}
	pxe, rel := cfg.Subnets[0], cfg.Subnets[1]
	if pxe.Name != "pxe" || pxe.Interface != "eth0" || pxe.ServerAddr.String() != "10.20.0.2" || pxe.MTU != 9000 ||
		pxe.Routers[0].String() != "10.20.0.254" || pxe.DNS[0].String() != "10.20.0.53" || pxe.LeaseTime != 2*time.Hour || pxe.DomainName != "maas" {
		t.Errorf("pxe subnet wrong: %+v", pxe)
	}
	if len(pxe.Pools) != 1 || pxe.Pools[0].Start.String() != "10.20.0.100" {
		t.Errorf("pools %+v: want only the dynamic range", pxe.Pools)
	}
	if len(pxe.Reservations) != 2 || pxe.Reservations[0].Hostname != "node-1" || pxe.Reservations[1].Addr.String() != "10.20.0.11" {
		t.Errorf("reservations %+v: want the sticky and auto addresses of known hosts", pxe.Reservations)
	}
	if rel.Interface != "" || rel.ServerAddr.String() != "10.20.0.2" || len(rel.Pools) != 1 {
		t.Errorf("relayed subnet wrong: %+v", rel)
	}
	if cfg.Failover == nil || cfg.Failover.Role != Primary || cfg.LeaseDir != dir {
		t.Errorf("failover role / base fields not carried: %+v", cfg)
	}
	if _, err := New(cfg); err != nil {
		t.Fatalf("the config does not start a server: %v", err)
	}

	// The partner rack gets the secondary role.
	src := netmodelSource()
	src.Rack = 8
	src.RackAddrs = map[int64]netip.Addr{10: netip.MustParseAddr("10.20.0.3")}
	cfg2, err := FromNetmodel(src, base)
	if err != nil || cfg2.Failover.Role != Secondary {
		t.Fatalf("rack 8: %v %+v", err, cfg2.Failover)
	}

	// A rack serving nothing is told so.
	src.Rack = 99
	if _, err := FromNetmodel(src, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("rack 99: err %v, want ErrInvalidConfig", err)
	}
}
