package backend

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"strings"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// JobMachines is the jobs.Machines view of the backend.
func (b *Backend) JobMachines() jobs.Machines { return jobMachines{b} }

type jobMachines struct{ b *Backend }

func (j jobMachines) Status(ctx context.Context, id string) (lifecycle.Status, error) {
	m, err := j.b.st.Machine(ctx, id)
	if err != nil {
		return "", err
	}
	return m.Status, nil
}

// Event applies ev only while the machine is in status in; a concurrent
// change (version moved) is re-read once.
func (j jobMachines) Event(ctx context.Context, id string, in lifecycle.Status, ev lifecycle.Action, reason string) error {
	for range 2 {
		m, err := j.b.st.Machine(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return jobs.ErrMoved
		}
		if err != nil {
			return err
		}
		if m.Status != in {
			return jobs.ErrMoved
		}
		_, err = j.b.st.Transition(ctx, id, store.TransitionRequest{Action: ev, User: "region", Reason: reason,
			Options: lifecycle.Options{System: true}, Version: m.Version})
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return jobs.ErrMoved
}

func (j jobMachines) FailExpired(ctx context.Context) ([]jobs.Expiry, error) {
	ms, err := j.b.st.FailExpired(ctx, 100)
	if err != nil {
		return nil, err
	}
	out := make([]jobs.Expiry, len(ms))
	for i, m := range ms {
		out[i] = jobs.Expiry{SystemID: m.SystemID, Status: m.Status}
	}
	return out, nil
}

func (j jobMachines) PowerTargets(ctx context.Context) ([]string, error) {
	var ids []string
	err := j.b.db.NewSelect().Table("machines").Column("system_id").
		Where("power_type <> '' AND power_type <> 'manual'").OrderExpr("system_id").Scan(ctx, &ids)
	return ids, err
}

func (j jobMachines) RecordPowerState(ctx context.Context, id string, st jobs.PowerState) error {
	return j.b.RecordPowerState(ctx, id, st)
}

// RecordPowerState stores the last known power state of a machine. An
// unchanged state writes nothing and announces nothing (power polling
// queries every machine periodically; announcing each would empty the
// regions' caches for nothing).
func (b *Backend) RecordPowerState(ctx context.Context, id string, st jobs.PowerState) error {
	_, err := b.announced(ctx, store.KindMachine, id, store.OpUpdate, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewInsert().Model(&detailRow{SystemID: id, PowerState: string(st), UpdatedAt: now()}).
			On("CONFLICT (system_id) DO UPDATE").Set("power_state = EXCLUDED.power_state, updated_at = EXCLUDED.updated_at").
			Where("?TableAlias.power_state <> EXCLUDED.power_state").Exec(ctx)
	})
	return err
}

// ClaimIPs gives each interface an auto address, unless it has one, on
// the network it is known to be on:
//   - an interface on a known VLAN gets one on that VLAN's first IPv4
//     subnet (any address it already holds counts as its claim);
//   - an interface whose VLAN is unknown (no rack reported it) but that is
//     seen on a known subnet gets one on that subnet: the subnet of an
//     address row it holds (a DHCP lease or a discovered address), else of
//     the newest DHCP lease (commit or renew) any rack reported for its
//     MAC. An auto, sticky or user-reserved address it holds is its claim.
//
// An interface seen on no known subnet gets nothing and boots with DHCP:
// there is no subnet to claim in. The VLAN learnt from the subnet is not
// written back to the interface (the store has no interface update).
func (j jobMachines) ClaimIPs(ctx context.Context, id string) ([]netip.Addr, error) {
	b := j.b
	m, err := b.st.Machine(ctx, id)
	if err != nil {
		return nil, err
	}
	subnets, err := b.st.Subnets(ctx)
	if err != nil {
		return nil, err
	}
	var leases map[string]netip.Addr // by MAC, read when first needed
	var out []netip.Addr
	for _, ifc := range m.Interfaces {
		have, err := b.st.InterfaceAddresses(ctx, ifc.ID)
		if err != nil {
			return nil, err
		}
		var subnetID int64
		if ifc.VLANID != 0 {
			if len(have) > 0 {
				for _, a := range have {
					if a.Addr.IsValid() {
						out = append(out, a.Addr)
					}
				}
				continue
			}
			for _, sn := range subnets {
				if sn.VLANID == ifc.VLANID && sn.CIDR.Addr().Is4() {
					subnetID = sn.ID
					break
				}
			}
		} else {
			claimed := false
			for _, a := range have {
				switch a.AllocType {
				case netmodel.AllocAuto, netmodel.AllocSticky, netmodel.AllocUserReserved:
					if a.Addr.IsValid() {
						out = append(out, a.Addr)
						claimed = true
					}
				}
				if subnetID == 0 && a.Addr.Is4() {
					subnetID = a.SubnetID
				}
			}
			if claimed {
				continue
			}
			if subnetID == 0 {
				if leases == nil {
					leases = b.leasedAddrs(ctx, m.Interfaces)
				}
				if a, ok := leases[ifc.MAC.String()]; ok {
					for _, sn := range subnets {
						if sn.CIDR.Contains(a) {
							subnetID = sn.ID
							break
						}
					}
				}
			}
		}
		if subnetID == 0 {
			continue // on no known subnet: DHCP
		}
		a, err := b.st.AllocateIP(ctx, subnetID, store.AllocRequest{Type: netmodel.AllocAuto, InterfaceID: ifc.ID})
		if err != nil {
			return nil, err
		}
		out = append(out, a.Addr)
	}
	return out, nil
}

// leasedAddrs returns, by MAC, the IPv4 address of the newest DHCP lease
// (commit or renew) that any rack reported for the interfaces (the rack
// RPC's rack_lease_events). A failed read is logged and treated as no
// leases: the interfaces then boot with DHCP as before.
func (b *Backend) leasedAddrs(ctx context.Context, ifcs []store.Interface) map[string]netip.Addr {
	out := map[string]netip.Addr{}
	macs := make([]string, 0, len(ifcs))
	for _, ifc := range ifcs {
		macs = append(macs, ifc.MAC.String())
	}
	if len(macs) == 0 {
		return out
	}
	var rows []struct {
		MAC  string `bun:"mac"`
		Addr string `bun:"addr"`
	}
	err := b.db.NewSelect().Table("rack_lease_events").Column("mac", "addr").
		Where("lower(mac) IN (?) AND type IN ('commit', 'renew')", bun.In(macs)).
		OrderExpr("start_at DESC, seq DESC").Scan(ctx, &rows)
	if err != nil {
		b.log.Warn("cannot read DHCP leases to place interfaces without a VLAN; they boot with DHCP", "err", err)
		return out
	}
	for _, r := range rows {
		mac := strings.ToLower(r.MAC)
		if _, seen := out[mac]; seen {
			continue
		}
		if a, err := netip.ParseAddr(r.Addr); err == nil && a.Is4() {
			out[mac] = a
		}
	}
	return out
}

func (j jobMachines) ReleaseIPs(ctx context.Context, id string) error {
	_, err := j.b.announced(ctx, store.KindMachine, id, store.OpUpdate, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewDelete().Table("ip_addresses").
			Where("alloc_type = ? AND interface_id IN (SELECT id FROM interfaces WHERE system_id = ?)", string(netmodel.AllocAuto), id).
			Exec(ctx)
	})
	return err
}
