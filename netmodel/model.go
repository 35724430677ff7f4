package netmodel

import "net/netip"

// IDs are assigned by the store; 0 means "none" (for references) or "not yet
// stored" (for an object's own ID).

// Fabric is a set of interconnected VLANs (one L2 broadcast domain per VLAN).
type Fabric struct {
	ID          int64
	Name        string
	Description string
}

// VLAN limits, as in IEEE 802.1Q and MAAS.
const (
	// MinVID and MaxVID bound a VLAN id; 0 is the fabric's untagged VLAN.
	MinVID = 0
	MaxVID = 4094
	// MinMTU and MaxMTU bound a VLAN's MTU.
	MinMTU = 552
	MaxMTU = 65535
	// DefaultMTU is the MTU of a new VLAN.
	DefaultMTU = 1500
)

// VLAN is one broadcast domain of a fabric.
type VLAN struct {
	ID       int64
	FabricID int64
	// VID is the 802.1Q tag, 0–4094, unique per fabric (0: untagged).
	VID  int
	Name string
	// MTU is 552–65535.
	MTU int
	// DHCPOn: ironkit's racks serve DHCP on this VLAN. Requires PrimaryRack.
	DHCPOn bool
	// PrimaryRack and SecondaryRack are the rack controllers serving DHCP
	// (a failover pair when both are set); 0 means none. They differ.
	PrimaryRack   int64
	SecondaryRack int64
	// RelayVLANID, when non-zero, names the VLAN whose racks serve DHCP for
	// this one through a DHCP relay; such a VLAN does not have DHCPOn.
	RelayVLANID int64
	// SpaceID is the space the VLAN belongs to; 0 means none.
	SpaceID     int64
	Description string
}

// Space is a named set of VLANs with the same purpose (e.g. "storage").
type Space struct {
	ID          int64
	Name        string
	Description string
}

// Subnet is an IP prefix on a VLAN.
type Subnet struct {
	ID     int64
	Name   string
	VLANID int64
	// CIDR is canonical (no host bits) and unique among subnets.
	CIDR netip.Prefix
	// Gateway is the default router, inside CIDR; the zero Addr means none.
	Gateway netip.Addr
	// DNSServers are handed to machines on this subnet, in order.
	DNSServers  []netip.Addr
	Description string
}

// RangeType says what an IP range is for.
type RangeType string

const (
	// RangeDynamic addresses are leased by DHCP to unknown or enlisting
	// machines; never used for static allocation.
	RangeDynamic RangeType = "dynamic"
	// RangeReserved addresses are left alone by ironkit (routers, appliances);
	// users may still reserve addresses inside them by hand.
	RangeReserved RangeType = "reserved"
)

// IPRange is an inclusive range of addresses of one subnet. Ranges of a
// subnet never overlap.
type IPRange struct {
	ID       int64
	SubnetID int64
	Type     RangeType
	// Start and End are inclusive, inside the subnet, Start ≤ End.
	Start   netip.Addr
	End     netip.Addr
	Comment string
}

// AllocType says how a static address came to be.
type AllocType string

const (
	// AllocAuto: chosen by the Allocator when a machine is deployed, freed on
	// release. May be stored without an address until deployment.
	AllocAuto AllocType = "auto"
	// AllocSticky: kept by an interface across deployments (set by a user or
	// by the region), outside dynamic ranges.
	AllocSticky AllocType = "sticky"
	// AllocUserReserved: reserved by a user, not tied to a machine.
	AllocUserReserved AllocType = "user-reserved"
	// AllocDHCP: leased from a dynamic range by ironkit's DHCP server.
	AllocDHCP AllocType = "dhcp"
	// AllocDiscovered: observed on the network (ARP, foreign DHCP), not
	// managed by ironkit.
	AllocDiscovered AllocType = "discovered"
)

// StaticAddress is an address of a subnet known to ironkit, with how it was
// allocated and to whom.
type StaticAddress struct {
	ID       int64
	SubnetID int64
	// Addr is inside the subnet; it may be the zero Addr only for AllocAuto
	// before deployment.
	Addr      netip.Addr
	AllocType AllocType
	// InterfaceID is the machine interface holding the address; 0 means none
	// (user-reserved and discovered addresses).
	InterfaceID int64
	// Owner is the user who reserved the address (AllocUserReserved).
	Owner   string
	Comment string
}

// Zone is an availability zone: a failure domain machines are placed in.
type Zone struct {
	ID          int64
	Name        string
	Description string
}

// ResourcePool is a set of machines allocated together under one policy.
type ResourcePool struct {
	ID          int64
	Name        string
	Description string
}
