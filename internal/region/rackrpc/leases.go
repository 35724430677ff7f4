package rackrpc

import (
	"context"
	"errors"
	"net"
	"slices"

	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// Lease events become IP addresses (MAAS's "observed" leases): a commit or
// renew records the address as a "dhcp" address of the subnet containing
// it (tied to the machine interface with the lease's MAC when one exists),
// or "discovered" when it lies outside every dynamic range; a release or an
// expiry removes it. Each row's comment names the MAC ("dhcp lease to
// MAC"), so a failover pair reporting the same lease twice, or a batch
// resent after a lost reply, changes nothing; a MAC's newer lease on the
// same subnet replaces its older one. These rows are the racks' reports,
// not config: BuildConfig leaves them out, so leases never move a rack's
// config revision.

// leaseComment is the comment of the address row recording mac's lease.
func leaseComment(mac string) string { return "dhcp lease to " + mac }

type leaseRow struct {
	ID          int64  `bun:"id"`
	IP          string `bun:"ip"`
	Comment     string `bun:"comment"`
	InterfaceID *int64 `bun:"interface_id"`
}

// ApplyLease reflects one lease event in IPAM (idempotent).
func (s *Server) ApplyLease(ctx context.Context, e rpc.LeaseEvent) error {
	st, _ := s.deps()
	hw, err := net.ParseMAC(e.MAC)
	if err != nil || !e.Addr.IsValid() {
		return nil // nothing to tie it to
	}
	mac := hw.String()
	sn, err := st.SubnetFor(ctx, e.Addr)
	if errors.Is(err, store.ErrNotFound) {
		return nil // a subnet the region does not model
	}
	if err != nil {
		return err
	}
	var rows []leaseRow
	if err := s.db().NewSelect().Table("ip_addresses").Column("id", "ip", "comment", "interface_id").
		Where("subnet_id = ? AND alloc_type IN (?)", sn.ID, bunIn([]string{string(netmodel.AllocDHCP), string(netmodel.AllocDiscovered)})).
		Where("(ip = ? OR comment = ?)", e.Addr.String(), leaseComment(mac)).Scan(ctx, &rows); err != nil {
		return err
	}
	release := func(keep func(leaseRow) bool) error {
		for _, r := range rows {
			if keep(r) {
				continue
			}
			if err := st.ReleaseIP(ctx, r.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	}
	switch e.Type {
	case "release", "expire":
		// Only this MAC's lease of this address goes.
		return release(func(r leaseRow) bool { return r.IP != e.Addr.String() || r.Comment != leaseComment(mac) })
	case "commit", "renew":
	default:
		return nil
	}
	var ifcID int64
	if m, err := st.MachineByMAC(ctx, hw); err == nil {
		for _, ifc := range m.Interfaces {
			if ifc.MAC.String() == mac {
				ifcID = ifc.ID
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	current := func(r leaseRow) bool {
		var got int64
		if r.InterfaceID != nil {
			got = *r.InterfaceID
		}
		return r.IP == e.Addr.String() && r.Comment == leaseComment(mac) && got == ifcID
	}
	if slices.ContainsFunc(rows, current) && len(rows) == 1 {
		return nil // already recorded
	}
	// Drop whatever else held the address, and this MAC's older lease.
	if err := release(current); err != nil {
		return err
	}
	if slices.ContainsFunc(rows, current) {
		return nil
	}
	a := netmodel.StaticAddress{SubnetID: sn.ID, Addr: e.Addr, AllocType: netmodel.AllocDHCP, InterfaceID: ifcID, Comment: leaseComment(mac)}
	_, err = st.ReserveIP(ctx, a)
	if errors.Is(err, netmodel.ErrInvalid) {
		// Outside every dynamic range (a range edited since): observed.
		a.AllocType = netmodel.AllocDiscovered
		_, err = st.ReserveIP(ctx, a)
	}
	if errors.Is(err, store.ErrDuplicate) {
		s.log.Warn("lease of an address the region manages otherwise; not recorded", "addr", e.Addr, "mac", mac, "subnet", sn.CIDR)
		return nil
	}
	return err
}
