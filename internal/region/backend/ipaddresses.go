package backend

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

type addressView struct {
	ID        int64  `bun:"id"`
	SubnetID  int64  `bun:"subnet_id"`
	IP        string `bun:"ip"`
	AllocType string `bun:"alloc_type"`
	Owner     string `bun:"owner"`
	Comment   string `bun:"comment"`
	SystemID  string `bun:"system_id"`
}

func (b *Backend) addressQuery() *bun.SelectQuery {
	return b.db.NewSelect().TableExpr("ip_addresses AS a").Join("LEFT JOIN interfaces AS i ON i.id = a.interface_id").
		ColumnExpr("a.id, a.subnet_id, COALESCE(a.ip, '') AS ip, a.alloc_type, a.owner, a.comment, COALESCE(i.system_id, '') AS system_id")
}

func (v addressView) api() api.IPAddress {
	return api.IPAddress{ID: v.ID, SubnetID: v.SubnetID, IP: v.IP, AllocType: v.AllocType, SystemID: v.SystemID, Owner: v.Owner, Comment: v.Comment}
}

// ListIPAddresses implements api.IPAddresses.
func (b *Backend) ListIPAddresses(ctx context.Context, subnetID int64) ([]api.IPAddress, error) {
	var rows []addressView
	q := b.addressQuery().OrderExpr("a.id")
	if subnetID != 0 {
		q = q.Where("a.subnet_id = ?", subnetID)
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, err
	}
	return mapSlice(rows, addressView.api), nil
}

// ReserveIP implements api.IPAddresses: a user-reserved address, the one
// asked for or the subnet's next free one.
func (b *Backend) ReserveIP(ctx context.Context, p auth.Principal, r api.IPReserve) (api.IPAddress, error) {
	var (
		a   netmodel.StaticAddress
		err error
	)
	if r.IP == "" {
		a, err = b.st.AllocateIP(ctx, r.SubnetID, store.AllocRequest{Type: netmodel.AllocUserReserved, Owner: p.Username, Comment: r.Comment})
	} else {
		addr, perr := netip.ParseAddr(r.IP)
		if perr != nil {
			return api.IPAddress{}, api.BadField("ip", r.IP, "use an IP address inside the subnet")
		}
		a, err = b.st.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: r.SubnetID, Addr: addr, AllocType: netmodel.AllocUserReserved,
			Owner: p.Username, Comment: r.Comment})
	}
	if err != nil {
		return api.IPAddress{}, mapErr(err)
	}
	return api.IPAddress{ID: a.ID, SubnetID: a.SubnetID, IP: a.Addr.String(), AllocType: string(a.AllocType), Owner: a.Owner, Comment: a.Comment}, nil
}

// ReleaseIP implements api.IPAddresses: users release the addresses they
// reserved; addresses of machines go with their machines.
func (b *Backend) ReleaseIP(ctx context.Context, p auth.Principal, id int64) error {
	var v addressView
	if err := b.addressQuery().Where("a.id = ?", id).Scan(ctx, &v); err != nil {
		if errors.Is(err, errNoRows) {
			return notFound("ip address %d", id)
		}
		return err
	}
	if v.AllocType != string(netmodel.AllocUserReserved) {
		return &api.Error{Status: 409, Code: "conflict", Field: "id", Value: fmt.Sprint(id),
			Message: fmt.Sprintf("address %s is %s, not user-reserved: it is released with its machine", v.IP, v.AllocType)}
	}
	if !p.IsAdmin() && v.Owner != p.Username {
		return &api.Error{Status: 403, Code: "forbidden", Message: fmt.Sprintf("address %s was reserved by %s", v.IP, v.Owner)}
	}
	return mapErr(b.st.ReleaseIP(ctx, id))
}

type eventView struct {
	ID         int64     `bun:"id"`
	SystemID   string    `bun:"system_id"`
	Type       string    `bun:"type"`
	FromStatus string    `bun:"from_status"`
	ToStatus   string    `bun:"to_status"`
	Username   string    `bun:"username"`
	Reason     string    `bun:"reason"`
	CreatedAt  time.Time `bun:"created_at"`
}

// ListEvents implements api.Events, newest first.
func (b *Backend) ListEvents(ctx context.Context, q api.EventQuery) ([]api.Event, error) {
	var rows []eventView
	sel := b.db.NewSelect().Table("events").Column("id", "system_id", "type", "from_status", "to_status", "username", "reason", "created_at").
		OrderExpr("id DESC").Limit(q.Limit)
	if q.SystemID != "" {
		sel = sel.Where("system_id = ?", q.SystemID)
	}
	if q.Type != "" {
		sel = sel.Where("type = ?", q.Type)
	}
	if !q.Since.IsZero() {
		sel = sel.Where("created_at > ?", q.Since.UTC())
	}
	if q.VisibleTo != "" {
		sel = sel.Where("system_id IN (SELECT system_id FROM machines WHERE status = ? OR owner = ?)", string(lifecycle.Ready), q.VisibleTo)
	}
	if err := sel.Scan(ctx, &rows); err != nil {
		return nil, err
	}
	return mapSlice(rows, func(r eventView) api.Event {
		e := api.Event{ID: r.ID, SystemID: r.SystemID, Type: r.Type, Actor: r.Username,
			FromStatus: lifecycle.Status(r.FromStatus), ToStatus: lifecycle.Status(r.ToStatus), Message: r.Reason, Created: r.CreatedAt.UTC()}
		if a, err := lifecycle.ParseAction(r.Type); err == nil {
			e.Action = a
		}
		return e
	}), nil
}
