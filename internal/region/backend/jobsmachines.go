package backend

import (
	"context"
	"errors"
	"net/netip"

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

// RecordPowerState stores the last known power state of a machine.
func (b *Backend) RecordPowerState(ctx context.Context, id string, st jobs.PowerState) error {
	_, err := b.db.NewInsert().Model(&detailRow{SystemID: id, PowerState: string(st), UpdatedAt: now()}).
		On("CONFLICT (system_id) DO UPDATE").Set("power_state = EXCLUDED.power_state, updated_at = EXCLUDED.updated_at").Exec(ctx)
	return err
}

// ClaimIPs gives each interface on a known VLAN an auto address on that
// VLAN's first subnet, unless it has one. Interfaces whose VLAN is unknown
// (no rack reported it yet) boot with DHCP.
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
	var out []netip.Addr
	for _, ifc := range m.Interfaces {
		if ifc.VLANID == 0 {
			continue
		}
		have, err := b.st.InterfaceAddresses(ctx, ifc.ID)
		if err != nil {
			return nil, err
		}
		if len(have) > 0 {
			for _, a := range have {
				if a.Addr.IsValid() {
					out = append(out, a.Addr)
				}
			}
			continue
		}
		for _, sn := range subnets {
			if sn.VLANID != ifc.VLANID || !sn.CIDR.Addr().Is4() {
				continue
			}
			a, err := b.st.AllocateIP(ctx, sn.ID, store.AllocRequest{Type: netmodel.AllocAuto, InterfaceID: ifc.ID})
			if err != nil {
				return nil, err
			}
			out = append(out, a.Addr)
			break
		}
	}
	return out, nil
}

func (j jobMachines) ReleaseIPs(ctx context.Context, id string) error {
	_, err := j.b.db.NewDelete().Table("ip_addresses").
		Where("alloc_type = ? AND interface_id IN (SELECT id FROM interfaces WHERE system_id = ?)", string(netmodel.AllocAuto), id).
		Exec(ctx)
	return err
}
