package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

type detailRow struct {
	bun.BaseModel `bun:"table:machine_details"`

	SystemID     string    `bun:"system_id,pk"`
	CPUCount     int       `bun:"cpu_count,notnull"`
	MemoryMiB    int64     `bun:"memory_mib,notnull"`
	PowerState   string    `bun:"power_state,notnull"`
	OSystem      string    `bun:"osystem,notnull"`
	DistroSeries string    `bun:"distro_series,notnull"`
	UserData     string    `bun:"user_data,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
}

func (b *Backend) details(ctx context.Context, db bun.IDB, id string) (detailRow, error) {
	d := detailRow{SystemID: id, PowerState: "unknown"}
	err := db.NewSelect().Model(&d).Where("system_id = ?", id).Scan(ctx)
	if err != nil && !errors.Is(err, errNoRows) {
		return d, err
	}
	return d, nil
}

// saveDetails stores a machine's details and announces the machine's
// change (the details are part of what the API shows).
func (b *Backend) saveDetails(ctx context.Context, d detailRow) error {
	d.UpdatedAt = now()
	_, err := b.announced(ctx, store.KindMachine, d.SystemID, store.OpUpdate, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewInsert().Model(&d).On("CONFLICT (system_id) DO UPDATE").
			Set("cpu_count = EXCLUDED.cpu_count, memory_mib = EXCLUDED.memory_mib, power_state = EXCLUDED.power_state, " +
				"osystem = EXCLUDED.osystem, distro_series = EXCLUDED.distro_series, user_data = EXCLUDED.user_data, updated_at = EXCLUDED.updated_at").
			Exec(ctx)
	})
	return err
}

// present converts store machines to API machines with their zone, pool,
// tags, details and addresses, in a constant number of queries.
func (b *Backend) present(ctx context.Context, ms []*store.Machine) ([]api.Machine, error) {
	out := make([]api.Machine, len(ms))
	if len(ms) == 0 {
		return out, nil
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.SystemID
	}
	// Pages are ordered by system id, so the page's rows of the side tables
	// are a primary-key range scan (a long IN list costs more on both
	// backends); rows in the range but not on the page are ignored.
	lo, hi := slices.Min(ids), slices.Max(ids)
	byID, tagsOf, ipsOf, zones, pools, err := b.sideTables(ctx, lo, hi)
	if err != nil {
		return nil, err
	}
	for i, m := range ms {
		d, ok := byID[m.SystemID]
		if !ok {
			d.PowerState = "unknown"
		}
		out[i] = apiMachine(m, d, tagsOf[m.SystemID], ipsOf[m.SystemID], zones[m.ZoneID], pools[m.PoolID])
	}
	return out, nil
}

// apiMachine is the API view of a store machine and its region-table data.
func apiMachine(m *store.Machine, d detailRow, tags, ips []string, zone, pool string) api.Machine {
	am := api.Machine{
		SystemID: m.SystemID, Hostname: m.Hostname, Status: m.Status, PreviousStatus: m.PreviousStatus,
		Locked: m.Locked, Architecture: m.Architecture, CPUCount: d.CPUCount, MemoryMiB: d.MemoryMiB,
		Zone: zone, Pool: pool, Tags: tags, Owner: m.Owner,
		PowerType: m.Power.Type, PowerParameters: m.Power.Params, PowerState: d.PowerState,
		IPAddresses: ips, OSystem: d.OSystem, DistroSeries: d.DistroSeries,
		Inventory: m.Inventory, Created: m.CreatedAt, Updated: m.UpdatedAt, Revision: m.Version,
	}
	for _, ifc := range m.Interfaces {
		am.MACAddresses = append(am.MACAddresses, ifc.MAC.String())
	}
	if !m.StatusDeadline.IsZero() {
		t := m.StatusDeadline
		am.Deadline = &t
	}
	return am
}

// oneExtra is, per backend, the expression store.MachineExtra evaluates on
// a machine's row: its details, tags, addresses (by id) and zone and pool
// names as one JSON object, so a single GET reads everything in the
// machine's own round trip.
var oneExtra = map[store.Backend]string{
	store.Postgres: `json_build_object(
 'd', (SELECT json_build_object('cpu', d.cpu_count, 'mem', d.memory_mib, 'power', d.power_state, 'os', d.osystem, 'series', d.distro_series)
  FROM machine_details AS d WHERE d.system_id = ?TableAlias.system_id),
 't', (SELECT json_agg(t.name) FROM machine_tags AS mt JOIN tags AS t ON t.id = mt.tag_id WHERE mt.system_id = ?TableAlias.system_id),
 'i', (SELECT json_agg(a.ip ORDER BY a.id) FROM ip_addresses AS a JOIN interfaces AS i ON i.id = a.interface_id
  WHERE i.system_id = ?TableAlias.system_id AND a.ip IS NOT NULL),
 'z', (SELECT name FROM zones WHERE id = ?TableAlias.zone_id),
 'p', (SELECT name FROM resource_pools WHERE id = ?TableAlias.pool_id))::text`,
	store.SQLite: `json_object(
 'd', json((SELECT json_object('cpu', d.cpu_count, 'mem', d.memory_mib, 'power', d.power_state, 'os', d.osystem, 'series', d.distro_series)
  FROM machine_details AS d WHERE d.system_id = ?TableAlias.system_id)),
 't', json((SELECT json_group_array(t.name) FROM machine_tags AS mt JOIN tags AS t ON t.id = mt.tag_id WHERE mt.system_id = ?TableAlias.system_id)),
 'i', json((SELECT json_group_array(x.ip) FROM (SELECT a.ip FROM ip_addresses AS a JOIN interfaces AS i ON i.id = a.interface_id
  WHERE i.system_id = ?TableAlias.system_id AND a.ip IS NOT NULL ORDER BY a.id) AS x)),
 'z', (SELECT name FROM zones WHERE id = ?TableAlias.zone_id),
 'p', (SELECT name FROM resource_pools WHERE id = ?TableAlias.pool_id))`,
}

// oneExtraJSON is the value of oneExtra.
type oneExtraJSON struct {
	D *struct {
		CPU    int    `json:"cpu"`
		Mem    int64  `json:"mem"`
		Power  string `json:"power"`
		OS     string `json:"os"`
		Series string `json:"series"`
	} `json:"d"`
	T []string `json:"t"`
	I []string `json:"i"`
	Z *string  `json:"z"`
	P *string  `json:"p"`
}

// sideRow is one row of the side tables' union (see sideTables).
type sideRow struct {
	Kind     string `bun:"k"`
	SystemID string `bun:"system_id"`
	A        string `bun:"a"`
	B        string `bun:"b"`
	C        string `bun:"c"`
	D        string `bun:"d"`
	E        string `bun:"e"`
}

// sideQuery reads machine details, tags and addresses of a system id range,
// and every zone's and pool's name (small tables), in one round trip (a GET
// costs round trips more than rows).
const sideQuery = `SELECT 'd' AS k, system_id, CAST(cpu_count AS TEXT) AS a, CAST(memory_mib AS TEXT) AS b, power_state AS c, osystem AS d, distro_series AS e
 FROM machine_details WHERE system_id BETWEEN ? AND ?
UNION ALL SELECT 't', mt.system_id, t.name, '', '', '', ''
 FROM machine_tags AS mt JOIN tags AS t ON t.id = mt.tag_id WHERE mt.system_id BETWEEN ? AND ?
UNION ALL SELECT 'i', i.system_id, a.ip, CAST(a.id AS TEXT), '', '', ''
 FROM ip_addresses AS a JOIN interfaces AS i ON i.id = a.interface_id WHERE i.system_id BETWEEN ? AND ? AND a.ip IS NOT NULL
UNION ALL SELECT 'z', '', CAST(id AS TEXT), name, '', '', '' FROM zones
UNION ALL SELECT 'p', '', CAST(id AS TEXT), name, '', '', '' FROM resource_pools`

func (b *Backend) sideTables(ctx context.Context, lo, hi string) (details map[string]detailRow, tags, ipsOf map[string][]string, zones, pools map[int64]string, err error) {
	var rows []sideRow
	if err := b.db.NewRaw(sideQuery, lo, hi, lo, hi, lo, hi).Scan(ctx, &rows); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	zones, pools = map[int64]string{}, map[int64]string{}
	details = map[string]detailRow{}
	tags = map[string][]string{}
	type ip struct {
		id int64
		ip string
	}
	ips := map[string][]ip{}
	for _, r := range rows {
		switch r.Kind {
		case "d":
			cpu, _ := strconv.Atoi(r.A)
			mem, _ := strconv.ParseInt(r.B, 10, 64)
			details[r.SystemID] = detailRow{SystemID: r.SystemID, CPUCount: cpu, MemoryMiB: mem, PowerState: r.C, OSystem: r.D, DistroSeries: r.E}
		case "t":
			tags[r.SystemID] = append(tags[r.SystemID], r.A)
		case "i":
			id, _ := strconv.ParseInt(r.B, 10, 64)
			ips[r.SystemID] = append(ips[r.SystemID], ip{id, r.A})
		case "z", "p":
			id, _ := strconv.ParseInt(r.A, 10, 64)
			if r.Kind == "z" {
				zones[id] = r.B
			} else {
				pools[id] = r.B
			}
		}
	}
	for _, ts := range tags {
		slices.Sort(ts)
	}
	out := make(map[string][]string, len(ips))
	for id, list := range ips {
		slices.SortFunc(list, func(a, b ip) int { return int(a.id - b.id) })
		for _, x := range list {
			out[id] = append(out[id], x.ip)
		}
	}
	return details, tags, out, zones, pools, nil
}

func (b *Backend) presentOne(ctx context.Context, m *store.Machine) (api.Machine, error) {
	out, err := b.present(ctx, []*store.Machine{m})
	if err != nil {
		return api.Machine{}, err
	}
	return out[0], nil
}

// placement resolves zone and pool names to ids (0 for "": the default).
func (b *Backend) placement(ctx context.Context, zone, pool string) (int64, int64, error) {
	var zid, pid int64
	if zone != "" {
		z, err := b.st.ZoneByName(ctx, zone)
		if err != nil {
			return 0, 0, api.BadField("zone", zone, "no such zone: create it (POST /api/v1/zones) or use an existing one")
		}
		zid = z.ID
	}
	if pool != "" {
		p, err := b.st.ResourcePoolByName(ctx, pool)
		if err != nil {
			return 0, 0, api.BadField("pool", pool, "no such pool: create it (POST /api/v1/pools) or use an existing one")
		}
		pid = p.ID
	}
	return zid, pid, nil
}

// ListMachines implements api.Machines.
func (b *Backend) ListMachines(ctx context.Context, q api.MachineQuery) ([]api.Machine, error) {
	zid, pid, err := b.placement(ctx, q.Zone, q.Pool)
	if err != nil {
		return nil, err
	}
	// Large pages are read in chunks: each chunk's side queries stay small
	// (measured: 10 chunks of 1,000 are several times faster than one query
	// set over 10,000 machines, on both backends).
	sq := store.MachinePageQuery{
		Status: q.Status, Owner: q.Owner, Architecture: q.Architecture, Hostname: q.Hostname,
		ZoneID: zid, PoolID: pid, MAC: q.MAC, Tag: q.Tag, VisibleTo: q.VisibleTo, After: q.After,
	}
	var out []api.Machine
	for left := q.Limit; left > 0; {
		sq.Limit = min(left, listChunk)
		ms, err := b.st.MachinePage(ctx, sq)
		if err != nil {
			return nil, err
		}
		page, err := b.present(ctx, ms)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(ms) < sq.Limit {
			break
		}
		left -= len(ms)
		sq.After = ms[len(ms)-1].SystemID
	}
	return out, nil
}

// listChunk is how many machines ListMachines reads per query set.
const listChunk = 1000

// GetMachine implements api.Machines: one query (store.MachineExtra with
// oneExtra) reads the machine, its interfaces and its region-table data.
func (b *Backend) GetMachine(ctx context.Context, id string) (api.Machine, error) {
	m, extra, err := b.st.MachineExtra(ctx, id, oneExtra[b.st.Backend()])
	if err != nil {
		return api.Machine{}, mapErr(err)
	}
	var x oneExtraJSON
	if err := json.Unmarshal([]byte(extra), &x); err != nil {
		return api.Machine{}, fmt.Errorf("machine %s region data: %w", id, err)
	}
	d := detailRow{SystemID: id, PowerState: "unknown"}
	if x.D != nil {
		d.CPUCount, d.MemoryMiB, d.PowerState, d.OSystem, d.DistroSeries = x.D.CPU, x.D.Mem, x.D.Power, x.D.OS, x.D.Series
	}
	if len(x.T) == 0 {
		x.T = nil
	}
	if len(x.I) == 0 {
		x.I = nil
	}
	slices.Sort(x.T) // as sideTables: byte order, whatever the collation
	var zone, pool string
	if x.Z != nil {
		zone = *x.Z
	}
	if x.P != nil {
		pool = *x.P
	}
	return apiMachine(m, d, x.T, x.I, zone, pool), nil
}

func interfaces(field string, macs []string) ([]store.Interface, error) {
	out := make([]store.Interface, len(macs))
	for i, s := range macs {
		mac, err := net.ParseMAC(s)
		if err != nil {
			return nil, api.BadField(fmt.Sprintf("%s[%d]", field, i), s, "use six hex pairs such as 52:54:00:12:34:56")
		}
		out[i] = store.Interface{MAC: mac}
	}
	return out, nil
}

// CreateMachine implements api.Machines. With status deployed it imports a
// machine already running elsewhere: stored in Deployed with its owner and
// its addresses as sticky, never powered or booted.
func (b *Backend) CreateMachine(ctx context.Context, p auth.Principal, c api.MachineCreate) (api.Machine, error) {
	ifcs, err := interfaces("mac_addresses", c.MACAddresses)
	if err != nil {
		return api.Machine{}, err
	}
	zid, pid, err := b.placement(ctx, c.Zone, c.Pool)
	if err != nil {
		return api.Machine{}, err
	}
	if err := b.checkPower(c.PowerType, c.PowerParameters); err != nil {
		return api.Machine{}, err
	}
	m := store.Machine{Hostname: c.Hostname, Architecture: c.Architecture, Status: c.Status,
		ZoneID: zid, PoolID: pid, Interfaces: ifcs, Power: store.Power{Type: c.PowerType, Params: c.PowerParameters}}
	var addrs []netip.Addr
	if c.Status == lifecycle.Deployed {
		m.Owner = c.Owner
		if m.Owner == "" {
			m.Owner = p.Username
		}
		for i, s := range c.IPAddresses {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return api.Machine{}, api.BadField(fmt.Sprintf("ip_addresses[%d]", i), s, "use an IP address such as 10.0.0.5")
			}
			addrs = append(addrs, a)
		}
	}
	sm, err := b.st.CreateMachine(ctx, m, p.String())
	if err != nil {
		return api.Machine{}, mapErr(err)
	}
	if c.CPUCount > 0 || c.MemoryMiB > 0 || c.OSystem != "" {
		d := detailRow{SystemID: sm.SystemID, CPUCount: c.CPUCount, MemoryMiB: c.MemoryMiB, PowerState: "unknown",
			OSystem: c.OSystem, DistroSeries: c.DistroSeries}
		if c.Status == lifecycle.Deployed {
			d.PowerState = string(jobs.StateOn)
		}
		if err := b.saveDetails(ctx, d); err != nil {
			return api.Machine{}, err
		}
	}
	for i, a := range addrs {
		sn, err := b.st.SubnetFor(ctx, a)
		if err != nil {
			_ = b.st.DeleteMachine(ctx, sm.SystemID, p.String())
			return api.Machine{}, api.BadField(fmt.Sprintf("ip_addresses[%d]", i), a.String(), "no subnet contains it: create the subnet first")
		}
		ifc := sm.Interfaces[min(i, len(sm.Interfaces)-1)]
		if _, err := b.st.ReserveIP(ctx, netmodel.StaticAddress{SubnetID: sn.ID, Addr: a, AllocType: netmodel.AllocSticky,
			InterfaceID: ifc.ID, Comment: "imported"}); err != nil {
			_ = b.st.DeleteMachine(ctx, sm.SystemID, p.String())
			return api.Machine{}, mapErr(err)
		}
	}
	return b.GetMachine(ctx, sm.SystemID)
}

// UpdateMachine implements api.Machines.
func (b *Backend) UpdateMachine(ctx context.Context, p auth.Principal, id string, u api.MachineUpdate) (api.Machine, error) {
	m, err := b.st.Machine(ctx, id)
	if err != nil {
		return api.Machine{}, mapErr(err)
	}
	if u.Hostname != nil {
		m.Hostname = *u.Hostname
	}
	if u.Architecture != nil {
		m.Architecture = *u.Architecture
	}
	if u.PowerType != nil {
		m.Power.Type = *u.PowerType
	}
	for k, v := range u.PowerParameters {
		if m.Power.Params == nil {
			m.Power.Params = map[string]string{}
		}
		m.Power.Params[k] = v
	}
	if u.PowerType != nil || u.PowerParameters != nil {
		if err := b.checkPower(m.Power.Type, m.Power.Params); err != nil {
			return api.Machine{}, err
		}
	}
	if u.Zone != nil || u.Pool != nil {
		z, pl := "", ""
		if u.Zone != nil {
			z = *u.Zone
		}
		if u.Pool != nil {
			pl = *u.Pool
		}
		zid, pid, err := b.placement(ctx, z, pl)
		if err != nil {
			return api.Machine{}, err
		}
		if u.Zone != nil {
			m.ZoneID = zid
		}
		if u.Pool != nil {
			m.PoolID = pid
		}
	}
	if _, err := b.st.UpdateMachine(ctx, m); err != nil {
		return api.Machine{}, mapErr(err)
	}
	if u.CPUCount != nil || u.MemoryMiB != nil {
		d, err := b.details(ctx, b.db, id)
		if err != nil {
			return api.Machine{}, err
		}
		if u.CPUCount != nil {
			d.CPUCount = *u.CPUCount
		}
		if u.MemoryMiB != nil {
			d.MemoryMiB = *u.MemoryMiB
		}
		if err := b.saveDetails(ctx, d); err != nil {
			return api.Machine{}, err
		}
	}
	if u.Tags != nil {
		if err := b.setTags(ctx, id, *u.Tags); err != nil {
			return api.Machine{}, err
		}
	}
	return b.GetMachine(ctx, id)
}

func (b *Backend) setTags(ctx context.Context, id string, names []string) error {
	return b.st.RunInTx(ctx, func(ctx context.Context, tx store.Tx) error {
		tx.Changed(store.KindMachine, id, store.OpUpdate)
		if _, err := tx.NewDelete().Table("machine_tags").Where("system_id = ?", id).Exec(ctx); err != nil {
			return err
		}
		for i, n := range names {
			var t tagRow
			if err := tx.NewSelect().Model(&t).Where("name = ?", n).Scan(ctx); err != nil {
				if errors.Is(err, errNoRows) {
					return api.BadField(fmt.Sprintf("tags[%d]", i), n, "no such tag: create it (POST /api/v1/tags) first")
				}
				return err
			}
			if _, err := tx.NewInsert().Model(&machineTagRow{SystemID: id, TagID: t.ID}).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteMachine implements api.Machines.
func (b *Backend) DeleteMachine(ctx context.Context, p auth.Principal, id string) error {
	return mapErr(b.st.DeleteMachine(ctx, id, p.String()))
}

// Act implements api.Machines: a lifecycle action (one transaction with an
// event and its job) or a power action.
func (b *Backend) Act(ctx context.Context, p auth.Principal, id, action string, req api.ActionRequest) (api.Machine, error) {
	if op, ok := strings.CutPrefix(action, "power-"); ok {
		return b.powerAction(ctx, id, jobs.PowerOp(op))
	}
	a := lifecycle.Action(action)
	if a == lifecycle.ActionDeploy {
		d, err := b.details(ctx, b.db, id)
		if err != nil {
			return api.Machine{}, err
		}
		d.OSystem, d.DistroSeries, d.UserData = req.OSystem, req.DistroSeries, req.UserData
		if d.OSystem == "" {
			d.OSystem, d.DistroSeries = b.cfg.DefaultOS, b.cfg.DefaultSeries
		}
		if err := b.saveDetails(ctx, d); err != nil {
			return api.Machine{}, err
		}
	}
	m, err := b.st.Transition(ctx, id, store.TransitionRequest{Action: a, User: p.String(), Reason: req.Comment,
		Options: lifecycle.Options{Admin: p.IsAdmin(), Erase: req.Erase},
		// The job is enqueued in the transition's transaction: the status
		// change, its event and its job commit together or not at all.
		InTx: func(ctx context.Context, tx *sql.Tx, m *store.Machine) error { return b.enqueueFor(ctx, tx, m, a) }})
	if err != nil {
		return api.Machine{}, mapErr(err)
	}
	return b.presentOne(ctx, m)
}

// enqueueFor starts the work the machine's new status needs, inside tx.
func (b *Backend) enqueueFor(ctx context.Context, tx *sql.Tx, m *store.Machine, a lifecycle.Action) error {
	if b.cfg.Jobs == nil {
		return nil
	}
	switch m.Status {
	case lifecycle.Commissioning, lifecycle.Testing, lifecycle.EnteringRescueMode:
		return b.cfg.Jobs.Boot(ctx, tx, m.SystemID, m.Status)
	case lifecycle.Deploying:
		return b.cfg.Jobs.Deploy(ctx, tx, m.SystemID)
	case lifecycle.Releasing, lifecycle.DiskErasing:
		return b.cfg.Jobs.Release(ctx, tx, m.SystemID)
	case lifecycle.ExitingRescueMode:
		// Reboot from disk, then back to where rescue mode started.
		return b.cfg.Jobs.Finish(ctx, tx, m.SystemID, m.Status, jobs.PowerCycle, lifecycle.EventRescueExited)
	}
	if a == lifecycle.ActionAbort {
		return b.cfg.Jobs.PowerOffWhile(ctx, tx, m.SystemID, m.Status)
	}
	return nil
}

func (b *Backend) powerAction(ctx context.Context, id string, op jobs.PowerOp) (api.Machine, error) {
	m, err := b.st.Machine(ctx, id)
	if err != nil {
		return api.Machine{}, mapErr(err)
	}
	if m.Power.Type == "" {
		return api.Machine{}, api.BadField("power_type", "", "the machine has no power type: set power_type and power_parameters first")
	}
	switch op {
	case jobs.PowerQuery:
		if b.cfg.Power != nil {
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			st, err := b.cfg.Power.Power(qctx, id, jobs.PowerRequest{Op: jobs.PowerQuery})
			if err != nil {
				return api.Machine{}, &api.Error{Status: 502, Code: "power_error",
					Message: fmt.Sprintf("power query of machine %s failed: %v; check power_parameters and that the BMC is reachable", id, err)}
			}
			if err := b.RecordPowerState(ctx, id, st); err != nil {
				return api.Machine{}, err
			}
		}
	case jobs.PowerOn, jobs.PowerOff:
		if b.cfg.Jobs == nil {
			return api.Machine{}, &api.Error{Status: 503, Code: "no_jobs", Message: "this region runs no jobs: power it through a region that does"}
		}
		if err := b.cfg.Jobs.Power(ctx, nil, id, op, false); err != nil {
			return api.Machine{}, err
		}
	}
	return b.presentOne(ctx, m)
}

// Allocate implements api.Machines: the first Ready, unlocked machine
// matching every constraint, allocated to the caller in one transition
// (a concurrent allocation of the same machine loses and tries the next).
func (b *Backend) Allocate(ctx context.Context, p auth.Principal, req api.AllocateRequest) (api.Machine, error) {
	zid, pid, err := b.placement(ctx, req.Zone, req.Pool)
	if err != nil {
		return api.Machine{}, err
	}
	after := ""
	for {
		ms, err := b.st.MachinePage(ctx, store.MachinePageQuery{Status: lifecycle.Ready, Architecture: req.Architecture,
			Hostname: req.Hostname, ZoneID: zid, PoolID: pid, After: after, Limit: 200})
		if err != nil {
			return api.Machine{}, err
		}
		if len(ms) == 0 {
			return api.Machine{}, &api.Error{Status: 409, Code: "no_match",
				Message: "no Ready machine matches the constraints: relax them or commission more machines"}
		}
		after = ms[len(ms)-1].SystemID
		cands, err := b.present(ctx, ms)
		if err != nil {
			return api.Machine{}, err
		}
		for i, c := range cands {
			if ms[i].Locked || slices.Contains(req.NotIn, c.SystemID) || c.CPUCount < req.MinCPUCount ||
				c.MemoryMiB < req.MinMemoryMiB || !hasAll(c.Tags, req.Tags) {
				continue
			}
			m, err := b.st.Transition(ctx, c.SystemID, store.TransitionRequest{Action: lifecycle.ActionAllocate,
				User: p.String(), Owner: p.Username, Reason: req.Comment, Version: ms[i].Version,
				Options: lifecycle.Options{Admin: p.IsAdmin()}})
			var te *lifecycle.TransitionError
			if errors.Is(err, store.ErrConflict) || errors.As(err, &te) {
				continue // someone else got it first
			}
			if err != nil {
				return api.Machine{}, mapErr(err)
			}
			return b.presentOne(ctx, m)
		}
	}
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// ListMachineIDs implements api.MachineIDs: the page's system ids from one
// query on the machines table (the API's cache has the machines).
func (b *Backend) ListMachineIDs(ctx context.Context, q api.MachineQuery) ([]string, error) {
	zid, pid, err := b.placement(ctx, q.Zone, q.Pool)
	if err != nil {
		return nil, err
	}
	return b.st.MachinePageIDs(ctx, store.MachinePageQuery{
		Status: q.Status, Owner: q.Owner, Architecture: q.Architecture, Hostname: q.Hostname,
		ZoneID: zid, PoolID: pid, MAC: q.MAC, Tag: q.Tag, VisibleTo: q.VisibleTo, After: q.After, Limit: q.Limit,
	})
}
