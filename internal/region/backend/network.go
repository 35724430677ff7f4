package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// The plain collections. Where the store offers an operation it is used
// (validation, events, change notifications); the updates and deletes it
// does not offer yet are done here on its tables after netmodel's
// validation.

func rowsOrNotFound(n int64, err error, object string, id int64) error {
	if err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") || strings.Contains(err.Error(), "23503") {
			return fmt.Errorf("%s %d is still in use: delete what refers to it first: %w", object, id, api.ErrConflict)
		}
		if isUnique(err) {
			return fmt.Errorf("%s %d: the name is taken: choose another: %w", object, id, api.ErrConflict)
		}
		return err
	}
	if n == 0 {
		return notFound("%s %d", object, id)
	}
	return nil
}

func affected(res interface{ RowsAffected() (int64, error) }, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// --- fabrics ---------------------------------------------------------------

type fabrics struct{ b *Backend }

func fabricAPI(f netmodel.Fabric) api.Fabric {
	return api.Fabric{ID: f.ID, Name: f.Name, Description: f.Description}
}

func (c fabrics) List(ctx context.Context) ([]api.Fabric, error) {
	fs, err := c.b.st.Fabrics(ctx)
	return mapSlice(fs, fabricAPI), err
}

func (c fabrics) Get(ctx context.Context, id int64) (api.Fabric, error) {
	f, err := c.b.st.Fabric(ctx, id)
	return fabricAPI(f), mapErr(err)
}

func (c fabrics) Create(ctx context.Context, v api.Fabric) (api.Fabric, error) {
	f, err := c.b.st.CreateFabric(ctx, netmodel.Fabric{Name: v.Name, Description: v.Description})
	return fabricAPI(f), mapErr(err)
}

func (c fabrics) Update(ctx context.Context, v api.Fabric) (api.Fabric, error) {
	f := netmodel.Fabric{ID: v.ID, Name: v.Name, Description: v.Description}
	if err := f.Validate(); err != nil {
		return api.Fabric{}, err
	}
	n, err := affected(c.b.db.NewUpdate().Table("fabrics").Set("name = ?, description = ?, updated_at = ?", f.Name, f.Description, now()).
		Where("id = ?", f.ID).Exec(ctx))
	if err := rowsOrNotFound(n, err, "fabric", f.ID); err != nil {
		return api.Fabric{}, err
	}
	return c.Get(ctx, f.ID)
}

func (c fabrics) Delete(ctx context.Context, id int64) error {
	return mapErr(c.b.st.DeleteFabric(ctx, id))
}

// --- VLANs -----------------------------------------------------------------

type vlans struct{ b *Backend }

func vlanAPI(v netmodel.VLAN) api.VLAN {
	return api.VLAN{ID: v.ID, FabricID: v.FabricID, VID: v.VID, Name: v.Name, MTU: v.MTU, DHCPOn: v.DHCPOn,
		PrimaryRack: v.PrimaryRack, SecondaryRack: v.SecondaryRack, RelayVLANID: v.RelayVLANID, SpaceID: v.SpaceID,
		Description: v.Description}
}

func vlanModel(v api.VLAN) netmodel.VLAN {
	return netmodel.VLAN{ID: v.ID, FabricID: v.FabricID, VID: v.VID, Name: v.Name, MTU: v.MTU, DHCPOn: v.DHCPOn,
		PrimaryRack: v.PrimaryRack, SecondaryRack: v.SecondaryRack, RelayVLANID: v.RelayVLANID, SpaceID: v.SpaceID,
		Description: v.Description}
}

func (c vlans) List(ctx context.Context) ([]api.VLAN, error) {
	vs, err := c.b.st.VLANs(ctx, 0)
	return mapSlice(vs, vlanAPI), err
}

func (c vlans) Get(ctx context.Context, id int64) (api.VLAN, error) {
	v, err := c.b.st.VLAN(ctx, id)
	return vlanAPI(v), mapErr(err)
}

func (c vlans) Create(ctx context.Context, v api.VLAN) (api.VLAN, error) {
	if v.MTU == 0 {
		v.MTU = netmodel.DefaultMTU
	}
	if err := c.b.racksExist(ctx, v); err != nil {
		return api.VLAN{}, err
	}
	out, err := c.b.st.CreateVLAN(ctx, vlanModel(v))
	return vlanAPI(out), mapErr(err)
}

func (c vlans) Update(ctx context.Context, v api.VLAN) (api.VLAN, error) {
	if err := c.b.racksExist(ctx, v); err != nil {
		return api.VLAN{}, err
	}
	out, err := c.b.st.UpdateVLAN(ctx, vlanModel(v))
	return vlanAPI(out), mapErr(err)
}

// racksExist checks the VLAN's racks are registered: the store has no rack
// table of its own to refer to.
func (b *Backend) racksExist(ctx context.Context, v api.VLAN) error {
	for _, r := range []struct {
		field string
		id    int64
	}{{"primary_rack", v.PrimaryRack}, {"secondary_rack", v.SecondaryRack}} {
		if r.id == 0 {
			continue
		}
		if _, err := b.GetRack(ctx, r.id); err != nil {
			if errors.Is(err, api.ErrNotFound) {
				return api.BadField(r.field, fmt.Sprint(r.id), "no such rack: use an id from GET /api/v1/racks")
			}
			return err
		}
	}
	return nil
}

func (c vlans) Delete(ctx context.Context, id int64) error {
	// Deleting a VLAN deletes its subnets and their addresses (shown in
	// machines).
	n, err := c.b.announced(ctx, store.KindVLAN, id, store.OpDelete, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewDelete().Table("vlans").Where("id = ?", id).Exec(ctx)
	})
	return rowsOrNotFound(n, err, "vlan", id)
}

// --- subnets ---------------------------------------------------------------

type subnets struct{ b *Backend }

func subnetAPI(s netmodel.Subnet) api.Subnet {
	out := api.Subnet{ID: s.ID, Name: s.Name, VLANID: s.VLANID, CIDR: s.CIDR.String(), Description: s.Description}
	if s.Gateway.IsValid() {
		out.GatewayIP = s.Gateway.String()
	}
	for _, d := range s.DNSServers {
		out.DNSServers = append(out.DNSServers, d.String())
	}
	return out
}

func subnetModel(s api.Subnet) (netmodel.Subnet, error) {
	out := netmodel.Subnet{ID: s.ID, Name: s.Name, VLANID: s.VLANID, Description: s.Description}
	p, err := netip.ParsePrefix(s.CIDR)
	if err != nil {
		return out, api.BadField("cidr", s.CIDR, "use a prefix such as 10.0.0.0/24")
	}
	out.CIDR = p
	if s.GatewayIP != "" {
		if out.Gateway, err = netip.ParseAddr(s.GatewayIP); err != nil {
			return out, api.BadField("gateway_ip", s.GatewayIP, "use an address inside the subnet")
		}
	}
	for i, d := range s.DNSServers {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return out, api.BadField(fmt.Sprintf("dns_servers[%d]", i), d, "use IP addresses")
		}
		out.DNSServers = append(out.DNSServers, a)
	}
	return out, nil
}

func (c subnets) List(ctx context.Context) ([]api.Subnet, error) {
	ss, err := c.b.st.Subnets(ctx)
	return mapSlice(ss, subnetAPI), err
}

func (c subnets) Get(ctx context.Context, id int64) (api.Subnet, error) {
	s, err := c.b.st.Subnet(ctx, id)
	return subnetAPI(s), mapErr(err)
}

func (c subnets) Create(ctx context.Context, v api.Subnet) (api.Subnet, error) {
	m, err := subnetModel(v)
	if err != nil {
		return api.Subnet{}, err
	}
	out, err := c.b.st.CreateSubnet(ctx, m)
	return subnetAPI(out), mapErr(err)
}

func (c subnets) Update(ctx context.Context, v api.Subnet) (api.Subnet, error) {
	m, err := subnetModel(v)
	if err != nil {
		return api.Subnet{}, err
	}
	all, err := c.b.st.Subnets(ctx)
	if err != nil {
		return api.Subnet{}, err
	}
	var others []netmodel.Subnet
	for _, s := range all {
		if s.ID != m.ID {
			others = append(others, s)
		}
	}
	if err := netmodel.ValidateSubnet(m, others); err != nil {
		return api.Subnet{}, err
	}
	dns, _ := json.Marshal(v.DNSServers)
	if v.DNSServers == nil {
		dns = []byte("[]")
	}
	var gw any
	if m.Gateway.IsValid() {
		gw = m.Gateway.String()
	}
	n, err := c.b.announced(ctx, store.KindSubnet, m.ID, store.OpUpdate, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewUpdate().Table("subnets").
			Set("name = ?, vlan_id = ?, cidr = ?, gateway_ip = ?, dns_servers = ?, description = ?, updated_at = ?",
				m.Name, m.VLANID, m.CIDR.String(), gw, string(dns), m.Description, now()).
			Where("id = ?", m.ID).Exec(ctx)
	})
	if err := rowsOrNotFound(n, err, "subnet", m.ID); err != nil {
		return api.Subnet{}, err
	}
	return c.Get(ctx, m.ID)
}

func (c subnets) Delete(ctx context.Context, id int64) error {
	// Deleting a subnet deletes its addresses (shown in machines).
	n, err := c.b.announced(ctx, store.KindSubnet, id, store.OpDelete, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewDelete().Table("subnets").Where("id = ?", id).Exec(ctx)
	})
	return rowsOrNotFound(n, err, "subnet", id)
}

// --- IP ranges -------------------------------------------------------------

type ipRanges struct{ b *Backend }

func rangeAPI(r netmodel.IPRange) api.IPRange {
	return api.IPRange{ID: r.ID, SubnetID: r.SubnetID, Type: string(r.Type), StartIP: r.Start.String(), EndIP: r.End.String(), Comment: r.Comment}
}

func rangeModel(r api.IPRange) (netmodel.IPRange, error) {
	out := netmodel.IPRange{ID: r.ID, SubnetID: r.SubnetID, Type: netmodel.RangeType(r.Type), Comment: r.Comment}
	var err error
	if out.Start, err = netip.ParseAddr(r.StartIP); err != nil {
		return out, api.BadField("start_ip", r.StartIP, "use an address inside the subnet")
	}
	if out.End, err = netip.ParseAddr(r.EndIP); err != nil {
		return out, api.BadField("end_ip", r.EndIP, "use an address inside the subnet")
	}
	return out, nil
}

func (c ipRanges) List(ctx context.Context) ([]api.IPRange, error) {
	ss, err := c.b.st.Subnets(ctx)
	if err != nil {
		return nil, err
	}
	var out []api.IPRange
	for _, s := range ss {
		rs, err := c.b.st.IPRanges(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, mapSlice(rs, rangeAPI)...)
	}
	return out, nil
}

func (c ipRanges) Get(ctx context.Context, id int64) (api.IPRange, error) {
	var row struct {
		SubnetID int64 `bun:"subnet_id"`
	}
	if err := c.b.db.NewSelect().Table("ip_ranges").Column("subnet_id").Where("id = ?", id).Scan(ctx, &row); err != nil {
		if errors.Is(err, errNoRows) {
			return api.IPRange{}, notFound("ip range %d", id)
		}
		return api.IPRange{}, err
	}
	rs, err := c.b.st.IPRanges(ctx, row.SubnetID)
	if err != nil {
		return api.IPRange{}, err
	}
	for _, r := range rs {
		if r.ID == id {
			return rangeAPI(r), nil
		}
	}
	return api.IPRange{}, notFound("ip range %d", id)
}

func (c ipRanges) Create(ctx context.Context, v api.IPRange) (api.IPRange, error) {
	m, err := rangeModel(v)
	if err != nil {
		return api.IPRange{}, err
	}
	out, err := c.b.st.CreateIPRange(ctx, m)
	return rangeAPI(out), mapErr(err)
}

func (c ipRanges) Update(ctx context.Context, v api.IPRange) (api.IPRange, error) {
	m, err := rangeModel(v)
	if err != nil {
		return api.IPRange{}, err
	}
	sn, err := c.b.st.Subnet(ctx, m.SubnetID)
	if err != nil {
		return api.IPRange{}, mapErr(err)
	}
	rs, err := c.b.st.IPRanges(ctx, m.SubnetID)
	if err != nil {
		return api.IPRange{}, err
	}
	var others []netmodel.IPRange
	for _, r := range rs {
		if r.ID != m.ID {
			others = append(others, r)
		}
	}
	if err := netmodel.ValidateRange(m, sn, others); err != nil {
		return api.IPRange{}, err
	}
	n, err := affected(c.b.db.NewUpdate().Table("ip_ranges").
		Set("subnet_id = ?, type = ?, start_ip = ?, end_ip = ?, comment = ?, updated_at = ?",
			m.SubnetID, string(m.Type), m.Start.String(), m.End.String(), m.Comment, now()).
		Where("id = ?", m.ID).Exec(ctx))
	if err := rowsOrNotFound(n, err, "ip range", m.ID); err != nil {
		return api.IPRange{}, err
	}
	return c.Get(ctx, m.ID)
}

func (c ipRanges) Delete(ctx context.Context, id int64) error {
	return mapErr(c.b.st.DeleteIPRange(ctx, id))
}

// --- zones and pools ---------------------------------------------------------

type zones struct{ b *Backend }

func (c zones) List(ctx context.Context) ([]api.Zone, error) {
	zs, err := c.b.st.Zones(ctx)
	return mapSlice(zs, func(z netmodel.Zone) api.Zone { return api.Zone{ID: z.ID, Name: z.Name, Description: z.Description} }), err
}

func (c zones) Get(ctx context.Context, id int64) (api.Zone, error) {
	zs, err := c.List(ctx)
	if err != nil {
		return api.Zone{}, err
	}
	for _, z := range zs {
		if z.ID == id {
			return z, nil
		}
	}
	return api.Zone{}, notFound("zone %d", id)
}

func (c zones) Create(ctx context.Context, v api.Zone) (api.Zone, error) {
	z, err := c.b.st.CreateZone(ctx, netmodel.Zone{Name: v.Name, Description: v.Description})
	return api.Zone{ID: z.ID, Name: z.Name, Description: z.Description}, mapErr(err)
}

func (c zones) Update(ctx context.Context, v api.Zone) (api.Zone, error) {
	if err := (netmodel.Zone{ID: v.ID, Name: v.Name}).Validate(); err != nil {
		return api.Zone{}, err
	}
	n, err := c.b.announced(ctx, store.KindZone, v.ID, store.OpUpdate, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewUpdate().Table("zones").Set("name = ?, description = ?, updated_at = ?", v.Name, v.Description, now()).
			Where("id = ?", v.ID).Exec(ctx)
	})
	if err := rowsOrNotFound(n, err, "zone", v.ID); err != nil {
		return api.Zone{}, err
	}
	return c.Get(ctx, v.ID)
}

func (c zones) Delete(ctx context.Context, id int64) error {
	n, err := c.b.announced(ctx, store.KindZone, id, store.OpDelete, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewDelete().Table("zones").Where("id = ? AND name <> 'default'", id).Exec(ctx)
	})
	return rowsOrNotFound(n, err, "zone (the default zone stays)", id)
}

type pools struct{ b *Backend }

func (c pools) List(ctx context.Context) ([]api.Pool, error) {
	ps, err := c.b.st.ResourcePools(ctx)
	return mapSlice(ps, func(p netmodel.ResourcePool) api.Pool {
		return api.Pool{ID: p.ID, Name: p.Name, Description: p.Description}
	}), err
}

func (c pools) Get(ctx context.Context, id int64) (api.Pool, error) {
	ps, err := c.List(ctx)
	if err != nil {
		return api.Pool{}, err
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return api.Pool{}, notFound("pool %d", id)
}

func (c pools) Create(ctx context.Context, v api.Pool) (api.Pool, error) {
	p, err := c.b.st.CreateResourcePool(ctx, netmodel.ResourcePool{Name: v.Name, Description: v.Description})
	return api.Pool{ID: p.ID, Name: p.Name, Description: p.Description}, mapErr(err)
}

func (c pools) Update(ctx context.Context, v api.Pool) (api.Pool, error) {
	if err := (netmodel.ResourcePool{ID: v.ID, Name: v.Name}).Validate(); err != nil {
		return api.Pool{}, err
	}
	n, err := c.b.announced(ctx, store.KindResourcePool, v.ID, store.OpUpdate, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewUpdate().Table("resource_pools").Set("name = ?, description = ?, updated_at = ?", v.Name, v.Description, now()).
			Where("id = ?", v.ID).Exec(ctx)
	})
	if err := rowsOrNotFound(n, err, "pool", v.ID); err != nil {
		return api.Pool{}, err
	}
	return c.Get(ctx, v.ID)
}

func (c pools) Delete(ctx context.Context, id int64) error {
	n, err := c.b.announced(ctx, store.KindResourcePool, id, store.OpDelete, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewDelete().Table("resource_pools").Where("id = ? AND name <> 'default'", id).Exec(ctx)
	})
	return rowsOrNotFound(n, err, "pool (the default pool stays)", id)
}

// --- tags --------------------------------------------------------------------

type tags struct{ b *Backend }

func (c tags) List(ctx context.Context) ([]api.Tag, error) {
	var rows []tagRow
	if err := c.b.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	return mapSlice(rows, func(r tagRow) api.Tag { return api.Tag{ID: r.ID, Name: r.Name, Comment: r.Comment} }), nil
}

func (c tags) Get(ctx context.Context, id int64) (api.Tag, error) {
	var r tagRow
	if err := c.b.db.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, errNoRows) {
			return api.Tag{}, notFound("tag %d", id)
		}
		return api.Tag{}, err
	}
	return api.Tag{ID: r.ID, Name: r.Name, Comment: r.Comment}, nil
}

func validTag(v api.Tag) error {
	if err := (netmodel.Zone{ID: v.ID, Name: v.Name}).Validate(); err != nil {
		return api.BadField("name", v.Name, "use letters, digits, hyphens and underscores")
	}
	return nil
}

func (c tags) Create(ctx context.Context, v api.Tag) (api.Tag, error) {
	if err := validTag(v); err != nil {
		return api.Tag{}, err
	}
	r := &tagRow{Name: v.Name, Comment: v.Comment, CreatedAt: now()}
	if _, err := c.b.db.NewInsert().Model(r).Returning("id").Exec(ctx); err != nil {
		if isUnique(err) {
			return api.Tag{}, &api.Error{Status: 409, Code: "conflict", Field: "name", Value: v.Name, Message: "a tag with this name exists"}
		}
		return api.Tag{}, err
	}
	return api.Tag{ID: r.ID, Name: r.Name, Comment: r.Comment}, nil
}

func (c tags) Update(ctx context.Context, v api.Tag) (api.Tag, error) {
	if err := validTag(v); err != nil {
		return api.Tag{}, err
	}
	n, err := c.b.announced(ctx, KindTag, v.ID, store.OpUpdate, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewUpdate().Table("tags").Set("name = ?, comment = ?", v.Name, v.Comment).Where("id = ?", v.ID).Exec(ctx)
	})
	if err := rowsOrNotFound(n, err, "tag", v.ID); err != nil {
		return api.Tag{}, err
	}
	return c.Get(ctx, v.ID)
}

func (c tags) Delete(ctx context.Context, id int64) error {
	n, err := c.b.announced(ctx, KindTag, id, store.OpDelete, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewDelete().Table("tags").Where("id = ?", id).Exec(ctx)
	})
	return rowsOrNotFound(n, err, "tag", id)
}

func mapSlice[A, B any](in []A, f func(A) B) []B {
	out := make([]B, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
