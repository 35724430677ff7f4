package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ironkit/ironkit/netmodel"
)

// --- subnets ---------------------------------------------------------------

// CreateSubnet stores a subnet after netmodel.ValidateSubnet (canonical
// CIDR, gateway inside it, CIDR not already defined) on an existing VLAN.
func (s *Store) CreateSubnet(ctx context.Context, sn netmodel.Subnet) (netmodel.Subnet, error) {
	sn.ID = 0
	if err := sn.Validate(); err != nil {
		return netmodel.Subnet{}, err
	}
	now := s.now()
	row := subnetToRow(sn)
	row.CreatedAt, row.UpdatedAt = now, now
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		ok, err := exists(ctx, tx, "vlans", sn.VLANID)
		if err != nil {
			return err
		}
		if !ok {
			return invalid("subnet "+sn.CIDR.String(), "vlan_id", sn.VLANID, "no such VLAN: use the id of an existing VLAN (every fabric has an untagged one)")
		}
		var rows []subnetRow
		if err := tx.NewSelect().Model(&rows).Scan(ctx); err != nil {
			return err
		}
		existing := make([]netmodel.Subnet, len(rows))
		for i := range rows {
			existing[i] = rows[i].model()
		}
		if err := netmodel.ValidateSubnet(sn, existing); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return mapUnique(err, sn.CIDR.String())
		}
		tx.changed(KindSubnet, row.ID, OpInsert)
		return nil
	})
	if err != nil {
		return netmodel.Subnet{}, err
	}
	return row.model(), nil
}

// Subnet returns the subnet with that id.
func (s *Store) Subnet(ctx context.Context, id int64) (netmodel.Subnet, error) {
	row := new(subnetRow)
	if err := s.db.NewSelect().Model(row).Where("id = ?", id).Scan(ctx); err != nil {
		return netmodel.Subnet{}, rowErr(err, "subnet", "id", id)
	}
	return row.model(), nil
}

// Subnets returns every subnet by id.
func (s *Store) Subnets(ctx context.Context) ([]netmodel.Subnet, error) {
	var rows []subnetRow
	if err := s.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]netmodel.Subnet, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// SubnetFor returns the most specific subnet containing addr
// (netmodel.SubnetFor over the stored subnets).
func (s *Store) SubnetFor(ctx context.Context, addr netip.Addr) (netmodel.Subnet, error) {
	all, err := s.Subnets(ctx)
	if err != nil {
		return netmodel.Subnet{}, err
	}
	sn, ok := netmodel.SubnetFor(addr, all)
	if !ok {
		return netmodel.Subnet{}, notFound("subnet", "containing address", addr)
	}
	return sn, nil
}

// --- IP ranges -------------------------------------------------------------

// CreateIPRange stores a range after netmodel.ValidateRange against the
// subnet's other ranges. The subnet row is locked meanwhile, so two
// overlapping ranges created at once cannot both pass.
func (s *Store) CreateIPRange(ctx context.Context, r netmodel.IPRange) (netmodel.IPRange, error) {
	r.ID = 0
	now := s.now()
	row := rangeToRow(r)
	row.CreatedAt, row.UpdatedAt = now, now
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		sn, ranges, err := s.subnetWithRanges(ctx, tx, r.SubnetID, true)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return invalid(fmt.Sprintf("%s range %s-%s", r.Type, r.Start, r.End), "subnet_id", r.SubnetID, "no such subnet: use the id of an existing subnet")
			}
			return err
		}
		if err := netmodel.ValidateRange(r, sn, ranges); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return err
		}
		tx.changed(KindIPRange, row.ID, OpInsert)
		return nil
	})
	if err != nil {
		return netmodel.IPRange{}, err
	}
	return row.model(), nil
}

// IPRanges returns the ranges of a subnet in address order.
func (s *Store) IPRanges(ctx context.Context, subnetID int64) ([]netmodel.IPRange, error) {
	var rows []ipRangeRow
	if err := s.db.NewSelect().Model(&rows).Where("subnet_id = ?", subnetID).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	return rangeModels(rows), nil
}

func rangeModels(rows []ipRangeRow) []netmodel.IPRange {
	out := make([]netmodel.IPRange, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out
}

// DeleteIPRange deletes a range.
func (s *Store) DeleteIPRange(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		res, err := tx.NewDelete().Model((*ipRangeRow)(nil)).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("ip range", "id", id)
		}
		tx.changed(KindIPRange, id, OpDelete)
		return nil
	})
}

// subnetWithRanges reads a subnet (locked on PostgreSQL when lock is set)
// and its ranges inside tx.
func (s *Store) subnetWithRanges(ctx context.Context, tx *txn, id int64, lock bool) (netmodel.Subnet, []netmodel.IPRange, error) {
	row := new(subnetRow)
	q := tx.NewSelect().Model(row).Where("id = ?", id)
	if lock && s.backend == Postgres {
		q = q.For("NO KEY UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return netmodel.Subnet{}, nil, rowErr(err, "subnet", "id", id)
	}
	var rows []ipRangeRow
	if err := tx.NewSelect().Model(&rows).Where("subnet_id = ?", id).Scan(ctx); err != nil {
		return netmodel.Subnet{}, nil, err
	}
	return row.model(), rangeModels(rows), nil
}

// --- static addresses ------------------------------------------------------

// AllocRequest describes an address for AllocateIP to choose.
type AllocRequest struct {
	// Type is AllocAuto (the default), AllocSticky or AllocUserReserved.
	Type netmodel.AllocType
	// InterfaceID is the machine interface that gets the address (0: none).
	InterfaceID int64
	Owner       string
	Comment     string
}

// onConflictIP is the insert clause that turns losing a race for an
// address into "no row inserted" rather than an aborted transaction. It
// names the partial unique index's predicate, as both SQLite and
// PostgreSQL require for a partial index.
const onConflictIP = "CONFLICT (subnet_id, ip) WHERE alloc_type <> 'discovered' DO NOTHING"

// AllocateIP chooses a free address of the subnet with netmodel's Allocator
// and stores it. Uniqueness is the database's: the insert is arbitrated by
// the unique index on (subnet, ip), and an allocator that loses the race
// for an address retries with that address treated as used (up to
// WithAllocRetries times). Discovered addresses are avoided but do not block
// the index. It returns an error wrapping netmodel.ErrExhausted when the
// subnet is full.
func (s *Store) AllocateIP(ctx context.Context, subnetID int64, req AllocRequest) (netmodel.StaticAddress, error) {
	if req.Type == "" {
		req.Type = netmodel.AllocAuto
	}
	switch req.Type {
	case netmodel.AllocAuto, netmodel.AllocSticky, netmodel.AllocUserReserved:
	default:
		return netmodel.StaticAddress{}, invalid(fmt.Sprintf("address allocation in subnet %d", subnetID), "alloc_type", req.Type,
			"AllocateIP chooses auto, sticky or user-reserved addresses; store dhcp and discovered ones, which come with their address, with ReserveIP")
	}
	now := s.now()
	row := &ipAddressRow{
		SubnetID: subnetID, AllocType: string(req.Type), InterfaceID: req.InterfaceID,
		Owner: req.Owner, Comment: req.Comment, CreatedAt: now, UpdatedAt: now,
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		sn, ranges, used, err := allocationInputs(ctx, tx, subnetID)
		if err != nil {
			return err
		}
		alloc, err := netmodel.NewAllocator(sn, ranges)
		if err != nil {
			return err
		}
		var lost []netip.Addr
		for attempt := 0; ; attempt++ {
			if attempt > 0 {
				// Under READ COMMITTED every statement sees what has
				// committed so far, so re-reading after a lost race
				// catches up with all the winners at once.
				if used, err = s.usedAddrs(ctx, tx, subnetID); err != nil {
					return err
				}
			}
			addr, err := alloc.Next(used, lost...)
			if err != nil {
				return fmt.Errorf("subnet %s: %w", sn.CIDR, err)
			}
			row.ID, row.IP = 0, addr.String()
			res, err := tx.NewInsert().Model(row).On(onConflictIP).Exec(ctx)
			if err != nil {
				if foreignKeyViolation(err) {
					return invalid("address "+row.IP, "interface_id", req.InterfaceID, "no such interface: use the id of an existing machine interface or 0")
				}
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				break
			}
			// Another allocator committed this address after we read the
			// used ones: treat it as used and choose again.
			s.lostRaces.Add(1)
			if attempt+1 >= s.cfg.allocRetries {
				return fmt.Errorf("subnet %s: lost the race for an address %d times: %w", sn.CIDR, attempt+1, ErrConflict)
			}
			lost = append(lost, addr)
			if attempt == 0 && s.backend == Postgres {
				// Contention: queue behind the other losers on the subnet
				// row instead of all chasing the same next address. The
				// unique index still decides; the lock only cuts the herd.
				if _, err := s.lockForUpdate(ctx, tx, "subnets", subnetID); err != nil {
					return err
				}
			}
		}
		tx.changed(KindIPAddress, row.ID, OpInsert)
		return machineOfInterfaceChanged(ctx, tx, req.InterfaceID)
	})
	if err != nil {
		return netmodel.StaticAddress{}, err
	}
	s.allocations.Add(1)
	return row.model(), nil
}

// allocationInputs reads, in one query, what the Allocator needs: the
// subnet (CIDR, gateway, DNS servers), its ranges and its used addresses.
// One round trip instead of three matters: an allocation is a handful of
// statements and each costs a round trip.
func allocationInputs(ctx context.Context, tx *txn, subnetID int64) (netmodel.Subnet, []netmodel.IPRange, []netip.Addr, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT 's', cidr, COALESCE(gateway_ip, ''), CAST(dns_servers AS TEXT) FROM subnets WHERE id = ?
		UNION ALL
		SELECT 'r', type, start_ip, end_ip FROM ip_ranges WHERE subnet_id = ?
		UNION ALL
		SELECT 'u', '', ip, '' FROM ip_addresses WHERE subnet_id = ? AND ip IS NOT NULL`,
		subnetID, subnetID, subnetID)
	if err != nil {
		return netmodel.Subnet{}, nil, nil, err
	}
	defer rows.Close()
	var (
		sn     netmodel.Subnet
		found  bool
		ranges []netmodel.IPRange
		used   []netip.Addr
	)
	for rows.Next() {
		var kind, a, b, c string
		if err := rows.Scan(&kind, &a, &b, &c); err != nil {
			return netmodel.Subnet{}, nil, nil, err
		}
		switch kind {
		case "s":
			r := subnetRow{ID: subnetID, CIDR: a, GatewayIP: b}
			if err := json.Unmarshal([]byte(c), &r.DNSServers); err != nil {
				return netmodel.Subnet{}, nil, nil, fmt.Errorf("subnet %d dns_servers: %w", subnetID, err)
			}
			sn, found = r.model(), true
		case "r":
			ranges = append(ranges, netmodel.IPRange{SubnetID: subnetID, Type: netmodel.RangeType(a), Start: parseAddr(b), End: parseAddr(c)})
		case "u":
			used = append(used, parseAddr(b))
		}
	}
	if err := rows.Err(); err != nil {
		return netmodel.Subnet{}, nil, nil, err
	}
	if !found {
		return netmodel.Subnet{}, nil, nil, notFound("subnet", "id", subnetID)
	}
	return sn, ranges, used, nil
}

// usedAddrs returns every address of the subnet with a row, discovered ones
// included: the allocator avoids them even though the index does not.
func (s *Store) usedAddrs(ctx context.Context, tx *txn, subnetID int64) ([]netip.Addr, error) {
	var ips []string
	if err := tx.NewSelect().Model((*ipAddressRow)(nil)).Column("ip").
		Where("subnet_id = ? AND ip IS NOT NULL", subnetID).Scan(ctx, &ips); err != nil {
		return nil, err
	}
	used := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		used = append(used, parseAddr(ip))
	}
	return used, nil
}

// ReserveIP stores an address the caller chose (sticky, user-reserved, a
// DHCP lease, a discovered neighbour) after netmodel.ValidateStaticAddress.
// A managed address already taken fails with a *DuplicateError naming it.
func (s *Store) ReserveIP(ctx context.Context, a netmodel.StaticAddress) (netmodel.StaticAddress, error) {
	a.ID = 0
	now := s.now()
	row := addressToRow(a)
	row.CreatedAt, row.UpdatedAt = now, now
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		sn, ranges, err := s.subnetWithRanges(ctx, tx, a.SubnetID, false)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return invalid("address "+addrString(a.Addr), "subnet_id", a.SubnetID, "no such subnet: use the id of an existing subnet")
			}
			return err
		}
		if err := netmodel.ValidateStaticAddress(a, sn, ranges); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			if foreignKeyViolation(err) {
				return invalid("address "+row.IP, "interface_id", a.InterfaceID, "no such interface: use the id of an existing machine interface or 0")
			}
			return mapUnique(err, row.IP)
		}
		tx.changed(KindIPAddress, row.ID, OpInsert)
		return machineOfInterfaceChanged(ctx, tx, a.InterfaceID)
	})
	if err != nil {
		return netmodel.StaticAddress{}, err
	}
	return row.model(), nil
}

// ReleaseIP deletes a static address, returning it to the free pool.
func (s *Store) ReleaseIP(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		var iface sql.NullInt64
		err := tx.NewSelect().Model((*ipAddressRow)(nil)).Column("interface_id").Where("id = ?", id).Scan(ctx, &iface)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("ip address", "id", id)
		} else if err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*ipAddressRow)(nil)).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("ip address", "id", id)
		}
		tx.changed(KindIPAddress, id, OpDelete)
		return machineOfInterfaceChanged(ctx, tx, iface.Int64)
	})
}

// Addresses returns the static addresses of a subnet by id.
func (s *Store) Addresses(ctx context.Context, subnetID int64) ([]netmodel.StaticAddress, error) {
	return s.addresses(ctx, "subnet_id = ?", subnetID)
}

// InterfaceAddresses returns the static addresses held by an interface.
func (s *Store) InterfaceAddresses(ctx context.Context, interfaceID int64) ([]netmodel.StaticAddress, error) {
	return s.addresses(ctx, "interface_id = ?", interfaceID)
}

func (s *Store) addresses(ctx context.Context, where string, arg any) ([]netmodel.StaticAddress, error) {
	var rows []ipAddressRow
	if err := s.db.NewSelect().Model(&rows).Where(where, arg).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]netmodel.StaticAddress, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// timeOrZero returns t in UTC, or the zero time.
func timeOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// machineOfInterfaceChanged announces a change of the machine that owns
// interface ifaceID (0: none), whose addresses just changed: the machine's
// addresses are part of what the API shows of it, and a change of an
// address alone names no machine.
func machineOfInterfaceChanged(ctx context.Context, tx *txn, ifaceID int64) error {
	if ifaceID == 0 {
		return nil
	}
	var ids []string
	if err := tx.NewSelect().Model((*interfaceRow)(nil)).Column("system_id").Where("id = ?", ifaceID).Scan(ctx, &ids); err != nil {
		return err
	}
	for _, id := range ids {
		tx.changed(KindMachine, id, OpUpdate)
	}
	return nil
}
