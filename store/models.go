package store

import (
	"encoding/json"
	"net/netip"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
)

// The bun models below mirror the tables of migrations/*.sql one to one.
// They stay unexported: the API speaks netmodel's values and Machine, and
// conversion happens here, in one place.

type zoneRow struct {
	bun.BaseModel `bun:"table:zones"`

	ID          int64     `bun:"id,pk,autoincrement"`
	Name        string    `bun:"name,notnull"`
	Description string    `bun:"description,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

type poolRow struct {
	bun.BaseModel `bun:"table:resource_pools"`

	ID          int64     `bun:"id,pk,autoincrement"`
	Name        string    `bun:"name,notnull"`
	Description string    `bun:"description,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

type spaceRow struct {
	bun.BaseModel `bun:"table:spaces"`

	ID          int64     `bun:"id,pk,autoincrement"`
	Name        string    `bun:"name,notnull"`
	Description string    `bun:"description,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

type fabricRow struct {
	bun.BaseModel `bun:"table:fabrics"`

	ID          int64     `bun:"id,pk,autoincrement"`
	Name        string    `bun:"name,notnull"`
	Description string    `bun:"description,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

type vlanRow struct {
	bun.BaseModel `bun:"table:vlans"`

	ID            int64     `bun:"id,pk,autoincrement"`
	FabricID      int64     `bun:"fabric_id,notnull"`
	VID           int       `bun:"vid,notnull"`
	Name          string    `bun:"name,notnull"`
	MTU           int       `bun:"mtu,notnull"`
	DHCPOn        bool      `bun:"dhcp_on,notnull"`
	PrimaryRack   int64     `bun:"primary_rack,nullzero"`
	SecondaryRack int64     `bun:"secondary_rack,nullzero"`
	RelayVLANID   int64     `bun:"relay_vlan_id,nullzero"`
	SpaceID       int64     `bun:"space_id,nullzero"`
	Description   string    `bun:"description,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
}

type subnetRow struct {
	bun.BaseModel `bun:"table:subnets"`

	ID          int64     `bun:"id,pk,autoincrement"`
	Name        string    `bun:"name,notnull"`
	VLANID      int64     `bun:"vlan_id,notnull"`
	CIDR        string    `bun:"cidr,notnull"`
	GatewayIP   string    `bun:"gateway_ip,nullzero"`
	DNSServers  []string  `bun:"dns_servers,type:json,notnull"`
	Description string    `bun:"description,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

type ipRangeRow struct {
	bun.BaseModel `bun:"table:ip_ranges"`

	ID        int64     `bun:"id,pk,autoincrement"`
	SubnetID  int64     `bun:"subnet_id,notnull"`
	Type      string    `bun:"type,notnull"`
	StartIP   string    `bun:"start_ip,notnull"`
	EndIP     string    `bun:"end_ip,notnull"`
	Comment   string    `bun:"comment,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

type ipAddressRow struct {
	bun.BaseModel `bun:"table:ip_addresses"`

	ID          int64     `bun:"id,pk,autoincrement"`
	SubnetID    int64     `bun:"subnet_id,notnull"`
	IP          string    `bun:"ip,nullzero"`
	AllocType   string    `bun:"alloc_type,notnull"`
	InterfaceID int64     `bun:"interface_id,nullzero"`
	Owner       string    `bun:"owner,notnull"`
	Comment     string    `bun:"comment,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

type machineRow struct {
	bun.BaseModel `bun:"table:machines"`

	SystemID       string            `bun:"system_id,pk"`
	Hostname       string            `bun:"hostname,notnull"`
	Architecture   string            `bun:"architecture,notnull"`
	Status         string            `bun:"status,notnull"`
	PreviousStatus string            `bun:"previous_status,notnull"`
	Owner          string            `bun:"owner,notnull"`
	ZoneID         int64             `bun:"zone_id,notnull"`
	PoolID         int64             `bun:"pool_id,notnull"`
	PowerType      string            `bun:"power_type,notnull"`
	PowerParams    map[string]string `bun:"power_params,type:json,notnull"`
	PowerSecrets   []byte            `bun:"power_secrets,nullzero"`
	Inventory      json.RawMessage   `bun:"inventory,type:json,nullzero"`
	StatusDeadline time.Time         `bun:"status_deadline,nullzero"`
	Locked         bool              `bun:"locked,notnull"`
	Version        int64             `bun:"version,notnull"`
	CreatedAt      time.Time         `bun:"created_at,notnull"`
	UpdatedAt      time.Time         `bun:"updated_at,notnull"`
}

type interfaceRow struct {
	bun.BaseModel `bun:"table:interfaces"`

	ID        int64     `bun:"id,pk,autoincrement"`
	SystemID  string    `bun:"system_id,notnull"`
	Name      string    `bun:"name,notnull"`
	MAC       string    `bun:"mac,notnull"`
	VLANID    int64     `bun:"vlan_id,nullzero"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

type eventRow struct {
	bun.BaseModel `bun:"table:events"`

	ID         int64     `bun:"id,pk,autoincrement"`
	SystemID   string    `bun:"system_id,notnull"`
	Type       string    `bun:"type,notnull"`
	FromStatus string    `bun:"from_status,notnull"`
	ToStatus   string    `bun:"to_status,notnull"`
	Username   string    `bun:"username,notnull"`
	Reason     string    `bun:"reason,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
}

// Conversions between rows and domain values.

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func parseAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s) // written by addrString: valid or empty
	return a
}

func (r *fabricRow) model() netmodel.Fabric {
	return netmodel.Fabric{ID: r.ID, Name: r.Name, Description: r.Description}
}

func (r *spaceRow) model() netmodel.Space {
	return netmodel.Space{ID: r.ID, Name: r.Name, Description: r.Description}
}

func (r *zoneRow) model() netmodel.Zone {
	return netmodel.Zone{ID: r.ID, Name: r.Name, Description: r.Description}
}

func (r *poolRow) model() netmodel.ResourcePool {
	return netmodel.ResourcePool{ID: r.ID, Name: r.Name, Description: r.Description}
}

func vlanToRow(v netmodel.VLAN) *vlanRow {
	return &vlanRow{
		ID: v.ID, FabricID: v.FabricID, VID: v.VID, Name: v.Name, MTU: v.MTU,
		DHCPOn: v.DHCPOn, PrimaryRack: v.PrimaryRack, SecondaryRack: v.SecondaryRack,
		RelayVLANID: v.RelayVLANID, SpaceID: v.SpaceID, Description: v.Description,
	}
}

func (r *vlanRow) model() netmodel.VLAN {
	return netmodel.VLAN{
		ID: r.ID, FabricID: r.FabricID, VID: r.VID, Name: r.Name, MTU: r.MTU,
		DHCPOn: r.DHCPOn, PrimaryRack: r.PrimaryRack, SecondaryRack: r.SecondaryRack,
		RelayVLANID: r.RelayVLANID, SpaceID: r.SpaceID, Description: r.Description,
	}
}

func subnetToRow(s netmodel.Subnet) *subnetRow {
	dns := make([]string, 0, len(s.DNSServers))
	for _, a := range s.DNSServers {
		dns = append(dns, a.String())
	}
	return &subnetRow{
		ID: s.ID, Name: s.Name, VLANID: s.VLANID, CIDR: s.CIDR.String(),
		GatewayIP: addrString(s.Gateway), DNSServers: dns, Description: s.Description,
	}
}

func (r *subnetRow) model() netmodel.Subnet {
	s := netmodel.Subnet{ID: r.ID, Name: r.Name, VLANID: r.VLANID, Gateway: parseAddr(r.GatewayIP), Description: r.Description}
	s.CIDR, _ = netip.ParsePrefix(r.CIDR)
	for _, d := range r.DNSServers {
		s.DNSServers = append(s.DNSServers, parseAddr(d))
	}
	return s
}

func rangeToRow(r netmodel.IPRange) *ipRangeRow {
	return &ipRangeRow{
		ID: r.ID, SubnetID: r.SubnetID, Type: string(r.Type),
		StartIP: addrString(r.Start), EndIP: addrString(r.End), Comment: r.Comment,
	}
}

func (r *ipRangeRow) model() netmodel.IPRange {
	return netmodel.IPRange{
		ID: r.ID, SubnetID: r.SubnetID, Type: netmodel.RangeType(r.Type),
		Start: parseAddr(r.StartIP), End: parseAddr(r.EndIP), Comment: r.Comment,
	}
}

func addressToRow(a netmodel.StaticAddress) *ipAddressRow {
	return &ipAddressRow{
		ID: a.ID, SubnetID: a.SubnetID, IP: addrString(a.Addr), AllocType: string(a.AllocType),
		InterfaceID: a.InterfaceID, Owner: a.Owner, Comment: a.Comment,
	}
}

func (r *ipAddressRow) model() netmodel.StaticAddress {
	return netmodel.StaticAddress{
		ID: r.ID, SubnetID: r.SubnetID, Addr: parseAddr(r.IP), AllocType: netmodel.AllocType(r.AllocType),
		InterfaceID: r.InterfaceID, Owner: r.Owner, Comment: r.Comment,
	}
}

func (r *eventRow) model() Event {
	return Event{
		ID: r.ID, SystemID: r.SystemID, Type: r.Type,
		From: lifecycle.Status(r.FromStatus), To: lifecycle.Status(r.ToStatus),
		User: r.Username, Reason: r.Reason, Time: r.CreatedAt.UTC(),
	}
}
