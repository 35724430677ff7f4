package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/lifecycle"
)

// Machine is a physical server the region manages.
type Machine struct {
	// SystemID is the machine's stable identifier (6 characters; generated
	// when empty on CreateMachine).
	SystemID     string
	Hostname     string
	Architecture string // "amd64/generic", ...
	// Status, PreviousStatus and Locked are the lifecycle state; they change
	// only through Transition.
	Status         lifecycle.Status
	PreviousStatus lifecycle.Status
	Locked         bool
	// Owner is the user the machine is allocated to ("" when unowned).
	Owner  string
	ZoneID int64
	PoolID int64
	Power  Power
	// Interfaces are the machine's network interfaces; their MACs are unique
	// across all machines.
	Interfaces []Interface
	// Inventory is the commissioning result (CPU, memory, disks, NICs, ...)
	// as JSON; nil until commissioned.
	Inventory json.RawMessage
	// StatusDeadline is when the in-progress status expires without a
	// heartbeat; zero when the status has none.
	StatusDeadline time.Time
	// Version counts the machine's changes; pass it back (TransitionRequest,
	// UpdateMachine) to fail with ErrConflict instead of overwriting a change
	// made since it was read.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// State returns the part of the machine lifecycle decides on.
func (m *Machine) State() lifecycle.State {
	return lifecycle.State{Status: m.Status, Previous: m.PreviousStatus, Locked: m.Locked}
}

// Interface is a machine's network interface.
type Interface struct {
	ID     int64
	Name   string // "eth0"; defaults to eth<index> on CreateMachine
	MAC    net.HardwareAddr
	VLANID int64 // the VLAN it is connected to; 0 when unknown
}

// Power says how the region powers the machine: the driver name and its
// parameters. Parameters whose names the Store considers secret
// (WithSecretPowerParams) are encrypted at rest with the region key.
type Power struct {
	Type   string            // "ipmi", "redfish", "webhook", "manual", ...
	Params map[string]string // "power_address", "power_user", "power_pass", ...
}

// Event is one line of a machine's history.
type Event struct {
	ID       int64
	SystemID string
	// Type is the lifecycle action or internal event ("commission",
	// "deployment-done", ...) or "created", "deleted", or a caller's type
	// (AddEvent).
	Type   string
	From   lifecycle.Status // empty when the status did not change
	To     lifecycle.Status
	User   string
	Reason string
	Time   time.Time
}

// Event types the Store writes besides lifecycle actions.
const (
	EventCreated = "created"
	EventDeleted = "deleted"
)

// machineRows reads machines and their interfaces into Machines.
func (s *Store) machinesFromRows(ctx context.Context, db bun.IDB, rows []machineRow) ([]*Machine, error) {
	out := make([]*Machine, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	byID := make(map[string]*Machine, len(rows))
	ids := make([]string, len(rows))
	for i := range rows {
		m, err := s.machineFromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out[i] = m
		byID[m.SystemID] = m
		ids[i] = m.SystemID
	}
	var ifaces []interfaceRow
	if err := db.NewSelect().Model(&ifaces).Where("system_id IN (?)", bun.In(ids)).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	for _, r := range ifaces {
		mac, _ := net.ParseMAC(r.MAC)
		byID[r.SystemID].Interfaces = append(byID[r.SystemID].Interfaces, Interface{ID: r.ID, Name: r.Name, MAC: mac, VLANID: r.VLANID})
	}
	return out, nil
}

func (s *Store) machineFromRow(r *machineRow) (*Machine, error) {
	m := &Machine{
		SystemID: r.SystemID, Hostname: r.Hostname, Architecture: r.Architecture,
		Status: lifecycle.Status(r.Status), PreviousStatus: lifecycle.Status(r.PreviousStatus),
		Locked: r.Locked, Owner: r.Owner, ZoneID: r.ZoneID, PoolID: r.PoolID,
		Power:     Power{Type: r.PowerType, Params: maps.Clone(r.PowerParams)},
		Inventory: r.Inventory, StatusDeadline: timeOrZero(r.StatusDeadline),
		Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if m.Power.Params == nil {
		m.Power.Params = map[string]string{}
	}
	if len(r.PowerSecrets) > 0 {
		pt, err := s.open(r.PowerSecrets, powerAAD(r.SystemID))
		if err != nil {
			return nil, fmt.Errorf("machine %s power parameters: %w", r.SystemID, err)
		}
		var secrets map[string]string
		if err := json.Unmarshal(pt, &secrets); err != nil {
			return nil, fmt.Errorf("machine %s power parameters: %w", r.SystemID, err)
		}
		maps.Copy(m.Power.Params, secrets)
	}
	return m, nil
}

func powerAAD(systemID string) string { return "machine/" + systemID + "/power" }

// sealPower splits the power parameters into those stored in clear and the
// secret ones, sealed under the region key.
func (s *Store) sealPower(systemID string, p Power) (map[string]string, []byte, error) {
	clear, secret := map[string]string{}, map[string]string{}
	for k, v := range p.Params {
		if s.cfg.secretParam(k) {
			secret[k] = v
		} else {
			clear[k] = v
		}
	}
	if len(secret) == 0 {
		return clear, nil, nil
	}
	pt, err := json.Marshal(secret)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := s.seal(pt, powerAAD(systemID))
	return clear, sealed, err
}

// systemIDAlphabet leaves out characters that are easy to misread.
const systemIDAlphabet = "abcdefghjkmnpqrstwxy3456789"

func newSystemID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = systemIDAlphabet[int(b[i])%len(systemIDAlphabet)]
	}
	return string(b)
}

// validHostname reports whether h is a DNS name: dot-separated labels of
// 1–63 lower-case letters, digits and '-', not starting or ending with '-'.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validateMachine checks the fields a caller sets; object names the machine.
func validateMachine(m *Machine) error {
	object := "machine " + m.SystemID
	if m.Hostname != "" {
		object = fmt.Sprintf("machine %s (%s)", m.SystemID, m.Hostname)
	}
	var errs []error
	if !validHostname(m.Hostname) {
		errs = append(errs, invalid(object, "hostname", m.Hostname, "not a DNS name: use lower-case letters, digits and '-' in dot-separated labels of at most 63 characters"))
	}
	if m.Architecture == "" || strings.ContainsAny(m.Architecture, " \t\n") {
		errs = append(errs, invalid(object, "architecture", m.Architecture, "missing or malformed: use arch/subarch, e.g. amd64/generic"))
	}
	if !m.Status.Valid() {
		errs = append(errs, invalid(object, "status", m.Status, "unknown status: use one of %v", lifecycle.Statuses()))
	}
	seen := map[string]bool{}
	for i, ifc := range m.Interfaces {
		mac := ifc.MAC.String()
		switch {
		case len(ifc.MAC) != 6 && len(ifc.MAC) != 8 && len(ifc.MAC) != 20:
			errs = append(errs, invalid(object, fmt.Sprintf("interfaces[%d].mac", i), mac, "not a MAC address: use six colon-separated hex bytes, e.g. 52:54:00:12:34:56"))
		case seen[mac]:
			errs = append(errs, invalid(object, fmt.Sprintf("interfaces[%d].mac", i), mac, "listed twice: each interface has its own MAC"))
		}
		seen[mac] = true
	}
	return errors.Join(errs...)
}

// CreateMachine stores a new machine with its interfaces and a "created"
// event by user. Empty fields get defaults: a random SystemID, hostname
// "node-<system id>", status New, the default zone and pool, interface names
// eth0, eth1, ... Invalid fields fail with a *netmodel.ValidationError naming
// them; a MAC or hostname already in use with a *DuplicateError; either way
// nothing is stored.
func (s *Store) CreateMachine(ctx context.Context, m Machine, user string) (*Machine, error) {
	// Generated system ids are short (six characters, as MAAS's are), so two
	// can collide in a large fleet; a collision on a generated id, or on the
	// hostname derived from it, is retried with a fresh id.
	genID, genHost := m.SystemID == "", m.Hostname == ""
	for attempt := 1; ; attempt++ {
		c := m
		if genID {
			c.SystemID = s.cfg.newSystemID()
		}
		if genHost {
			c.Hostname = "node-" + c.SystemID
		}
		out, err := s.createMachine(ctx, c, user)
		var dup *DuplicateError
		if attempt < 5 && errors.As(err, &dup) && dup.Object == "machine" &&
			((genID && dup.Field == "system_id") || (genID && genHost && dup.Field == "hostname")) {
			continue
		}
		return out, err
	}
}

func (s *Store) createMachine(ctx context.Context, m Machine, user string) (*Machine, error) {
	m.Hostname = strings.ToLower(m.Hostname)
	if m.Status == "" {
		m.Status = lifecycle.New
	}
	for i := range m.Interfaces {
		if m.Interfaces[i].Name == "" {
			m.Interfaces[i].Name = fmt.Sprintf("eth%d", i)
		}
	}
	if err := validateMachine(&m); err != nil {
		return nil, err
	}
	params, sealed, err := s.sealPower(m.SystemID, m.Power)
	if err != nil {
		return nil, err
	}
	now := s.now()
	row := &machineRow{
		SystemID: m.SystemID, Hostname: m.Hostname, Architecture: m.Architecture,
		Status: string(m.Status), PreviousStatus: string(m.PreviousStatus), Owner: m.Owner,
		ZoneID: m.ZoneID, PoolID: m.PoolID, PowerType: m.Power.Type, PowerParams: params,
		PowerSecrets: sealed, Inventory: m.Inventory, Locked: m.Locked, Version: 1,
		CreatedAt: now, UpdatedAt: now,
	}
	if d, ok := s.cfg.deadlines.Start(m.Status, now); ok {
		row.StatusDeadline = d
	}
	var out *Machine
	err = s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		if err := s.resolvePlacement(ctx, tx, row); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return mapUnique(err, "")
		}
		for _, ifc := range m.Interfaces {
			if _, err := s.insertInterface(ctx, tx, m.SystemID, ifc, now); err != nil {
				return err
			}
		}
		if err := insertEvent(ctx, tx, &eventRow{
			SystemID: m.SystemID, Type: EventCreated, ToStatus: string(m.Status),
			Username: user, CreatedAt: now,
		}); err != nil {
			return err
		}
		tx.changed(KindMachine, m.SystemID, OpInsert)
		out, err = s.loadMachine(ctx, tx, m.SystemID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// resolvePlacement fills in the default zone and pool and checks given ones.
func (s *Store) resolvePlacement(ctx context.Context, tx *txn, row *machineRow) error {
	object := fmt.Sprintf("machine %s (%s)", row.SystemID, row.Hostname)
	for _, p := range []struct {
		table, field string
		id           *int64
	}{{"zones", "zone_id", &row.ZoneID}, {"resource_pools", "pool_id", &row.PoolID}} {
		if *p.id == 0 {
			if err := tx.NewSelect().Table(p.table).Column("id").Where("name = ?", DefaultName).Scan(ctx, p.id); err != nil {
				return fmt.Errorf("default %s: %w", p.table, err)
			}
			continue
		}
		ok, err := exists(ctx, tx, p.table, *p.id)
		if err != nil {
			return err
		}
		if !ok {
			return invalid(object, p.field, *p.id, "no such %s: use an existing id, or 0 for %q", strings.TrimSuffix(p.table, "s"), DefaultName)
		}
	}
	return nil
}

func (s *Store) insertInterface(ctx context.Context, tx *txn, systemID string, ifc Interface, now time.Time) (int64, error) {
	mac := ifc.MAC.String()
	var owner string
	err := tx.NewSelect().Model((*interfaceRow)(nil)).Column("system_id").Where("mac = ?", mac).Scan(ctx, &owner)
	if err == nil {
		return 0, &DuplicateError{Object: "interface", Field: "mac", Value: mac, Holder: "on machine " + owner}
	}
	if ifc.VLANID != 0 {
		ok, err := exists(ctx, tx, "vlans", ifc.VLANID)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, invalid("interface "+ifc.Name+" of machine "+systemID, "vlan_id", ifc.VLANID, "no such VLAN: use an existing VLAN's id or 0")
		}
	}
	r := &interfaceRow{SystemID: systemID, Name: ifc.Name, MAC: mac, VLANID: ifc.VLANID, CreatedAt: now, UpdatedAt: now}
	if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
		return 0, mapUnique(err, mac)
	}
	return r.ID, nil
}

// AddInterface adds a network interface to a machine (enlistment and
// commissioning discover them); its MAC must be unused.
func (s *Store) AddInterface(ctx context.Context, systemID string, ifc Interface) (Interface, error) {
	if len(ifc.MAC) != 6 && len(ifc.MAC) != 8 && len(ifc.MAC) != 20 {
		return Interface{}, invalid("interface of machine "+systemID, "mac", ifc.MAC.String(), "not a MAC address: use six colon-separated hex bytes, e.g. 52:54:00:12:34:56")
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		ok, err := tx.NewSelect().Model((*machineRow)(nil)).Where("system_id = ?", systemID).Exists(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("machine", "system_id", systemID)
		}
		if ifc.Name == "" {
			n, err := tx.NewSelect().Model((*interfaceRow)(nil)).Where("system_id = ?", systemID).Count(ctx)
			if err != nil {
				return err
			}
			ifc.Name = fmt.Sprintf("eth%d", n)
		}
		now := s.now()
		if ifc.ID, err = s.insertInterface(ctx, tx, systemID, ifc, now); err != nil {
			return err
		}
		if err := bumpVersion(ctx, tx, systemID, now); err != nil {
			return err
		}
		tx.changed(KindMachine, systemID, OpUpdate)
		return nil
	})
	return ifc, err
}

func bumpVersion(ctx context.Context, tx *txn, systemID string, now time.Time) error {
	_, err := tx.NewUpdate().Model((*machineRow)(nil)).
		Set("version = version + 1").Set("updated_at = ?", now).
		Where("system_id = ?", systemID).Exec(ctx)
	return err
}

func insertEvent(ctx context.Context, db bun.IDB, e *eventRow) error {
	_, err := db.NewInsert().Model(e).Exec(ctx)
	return err
}

// machineIfacesRow is a machine row with its interfaces as a JSON array
// (see loadMachine).
type machineIfacesRow struct {
	machineRow `bun:",extend"`
	Ifaces     string         `bun:"ifaces"`
	Extra      sql.NullString `bun:"extra"`
}

// ifaceJSON is one element of machineIfacesRow.Ifaces.
type ifaceJSON struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	MAC    string `json:"mac"`
	VLANID *int64 `json:"vlan_id"`
}

// ifacesExpr aggregates a machine's interfaces, by id, into a JSON array
// in the machine's own query: one round trip for a machine instead of two.
var ifacesExpr = map[Backend]string{
	Postgres: `(SELECT COALESCE(json_agg(json_build_object('id', i.id, 'name', i.name, 'mac', i.mac, 'vlan_id', i.vlan_id) ORDER BY i.id), '[]')::text
 FROM interfaces AS i WHERE i.system_id = ?TableAlias.system_id) AS ifaces`,
	SQLite: `(SELECT json_group_array(json_object('id', i.id, 'name', i.name, 'mac', i.mac, 'vlan_id', i.vlan_id))
 FROM (SELECT id, name, mac, vlan_id FROM interfaces WHERE system_id = ?TableAlias.system_id ORDER BY id) AS i) AS ifaces`,
}

func (s *Store) loadMachine(ctx context.Context, db bun.IDB, systemID string) (*Machine, error) {
	m, _, err := s.loadMachineExtra(ctx, db, systemID, "")
	return m, err
}

// loadMachineExtra is loadMachine that also evaluates extra, an SQL
// expression of text type on the machine's row, in the same query ("":
// none).
func (s *Store) loadMachineExtra(ctx context.Context, db bun.IDB, systemID, extra string) (*Machine, string, error) {
	var rows []machineIfacesRow
	q := db.NewSelect().Model(&rows).ColumnExpr("?TableAlias.*").ColumnExpr(ifacesExpr[s.backend])
	if extra != "" {
		q = q.ColumnExpr("(" + extra + ") AS extra")
	} else {
		q = q.ColumnExpr("'' AS extra")
	}
	if err := q.Where("?TableAlias.system_id = ?", systemID).Scan(ctx); err != nil {
		return nil, "", err
	}
	m, err := s.machineFromIfacesRows(rows, systemID)
	if err != nil {
		return nil, "", err
	}
	return m, rows[0].Extra.String, nil
}

func (s *Store) machineFromIfacesRows(rows []machineIfacesRow, systemID string) (*Machine, error) {
	if len(rows) == 0 {
		return nil, notFound("machine", "system_id", systemID)
	}
	m, err := s.machineFromRow(&rows[0].machineRow)
	if err != nil {
		return nil, err
	}
	var ifs []ifaceJSON
	if err := json.Unmarshal([]byte(rows[0].Ifaces), &ifs); err != nil {
		return nil, fmt.Errorf("machine %s interfaces: %w", systemID, err)
	}
	for _, r := range ifs {
		mac, _ := net.ParseMAC(r.MAC)
		ifc := Interface{ID: r.ID, Name: r.Name, MAC: mac}
		if r.VLANID != nil {
			ifc.VLANID = *r.VLANID
		}
		m.Interfaces = append(m.Interfaces, ifc)
	}
	return m, nil
}

// Machine returns the machine with that system id.
func (s *Store) Machine(ctx context.Context, systemID string) (*Machine, error) {
	return s.loadMachine(ctx, s.db, systemID)
}

// MachineByMAC returns the machine that has an interface with that MAC.
func (s *Store) MachineByMAC(ctx context.Context, mac net.HardwareAddr) (*Machine, error) {
	var sid string
	err := s.db.NewSelect().Model((*interfaceRow)(nil)).Column("system_id").Where("mac = ?", mac.String()).Scan(ctx, &sid)
	if err != nil {
		return nil, rowErr(err, "machine", "mac", mac)
	}
	return s.Machine(ctx, sid)
}

// MachineFilter selects machines; zero fields match everything.
type MachineFilter struct {
	Status       lifecycle.Status
	Owner        string
	Architecture string
	ZoneID       int64
	PoolID       int64
	Limit        int
}

// Machines returns the machines matching f, by hostname.
func (s *Store) Machines(ctx context.Context, f MachineFilter) ([]*Machine, error) {
	var rows []machineRow
	q := s.db.NewSelect().Model(&rows).Order("hostname")
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Owner != "" {
		q = q.Where("owner = ?", f.Owner)
	}
	if f.Architecture != "" {
		q = q.Where("architecture = ?", f.Architecture)
	}
	if f.ZoneID != 0 {
		q = q.Where("zone_id = ?", f.ZoneID)
	}
	if f.PoolID != 0 {
		q = q.Where("pool_id = ?", f.PoolID)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	return s.machinesFromRows(ctx, s.db, rows)
}

// UpdateMachine saves m's hostname, architecture, zone, pool, power and
// inventory (not its lifecycle state, owner or interfaces: see Transition
// and AddInterface). m.Version must be the version read: if the machine
// changed since, it fails with ErrConflict and changes nothing.
func (s *Store) UpdateMachine(ctx context.Context, m *Machine) (*Machine, error) {
	m.Hostname = strings.ToLower(m.Hostname)
	check := *m
	check.Interfaces = nil
	if err := validateMachine(&check); err != nil {
		return nil, err
	}
	params, sealed, err := s.sealPower(m.SystemID, m.Power)
	if err != nil {
		return nil, err
	}
	var out *Machine
	err = s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		row := &machineRow{SystemID: m.SystemID, Hostname: m.Hostname, ZoneID: m.ZoneID, PoolID: m.PoolID}
		if err := s.resolvePlacement(ctx, tx, row); err != nil {
			return err
		}
		res, err := tx.NewUpdate().Model((*machineRow)(nil)).
			Set("hostname = ?", m.Hostname).
			Set("architecture = ?", m.Architecture).
			Set("zone_id = ?", row.ZoneID).
			Set("pool_id = ?", row.PoolID).
			Set("power_type = ?", m.Power.Type).
			Set("power_params = ?", jsonValue(params)).
			Set("power_secrets = ?", sealed).
			Set("inventory = ?", nullJSON(m.Inventory)).
			Set("version = version + 1").
			Set("updated_at = ?", s.now()).
			Where("system_id = ? AND version = ?", m.SystemID, m.Version).
			Exec(ctx)
		if err != nil {
			return mapUnique(err, m.Hostname)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.conflictOrNotFound(ctx, tx, m.SystemID, m.Version)
		}
		tx.changed(KindMachine, m.SystemID, OpUpdate)
		out, err = s.loadMachine(ctx, tx, m.SystemID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// conflictOrNotFound explains an UPDATE ... WHERE version = ? that matched
// nothing.
func (s *Store) conflictOrNotFound(ctx context.Context, db bun.IDB, systemID string, version int64) error {
	ok, err := db.NewSelect().Model((*machineRow)(nil)).Where("system_id = ?", systemID).Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("machine", "system_id", systemID)
	}
	return &ConflictError{Object: "machine", Key: systemID, Version: version}
}

// DeleteMachine deletes a machine, its interfaces and their addresses, and
// records a "deleted" event (events outlive the machine).
func (s *Store) DeleteMachine(ctx context.Context, systemID, user string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		m, err := s.loadMachine(ctx, tx, systemID)
		if err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*machineRow)(nil)).Where("system_id = ?", systemID).Exec(ctx); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, &eventRow{
			SystemID: systemID, Type: EventDeleted, FromStatus: string(m.Status),
			Username: user, CreatedAt: s.now(),
		}); err != nil {
			return err
		}
		tx.changed(KindMachine, systemID, OpDelete)
		return nil
	})
}

// Events returns a machine's events, oldest first.
func (s *Store) Events(ctx context.Context, systemID string) ([]Event, error) {
	var rows []eventRow
	if err := s.db.NewSelect().Model(&rows).Where("system_id = ?", systemID).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]Event, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// AddEvent records an event that is not a status change (a power failure,
// a script result, ...). Time defaults to now.
func (s *Store) AddEvent(ctx context.Context, e Event) (Event, error) {
	if e.Type == "" {
		return Event{}, invalid("event of machine "+e.SystemID, "type", "", "missing: name what happened")
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	row := &eventRow{
		SystemID: e.SystemID, Type: e.Type, FromStatus: string(e.From), ToStatus: string(e.To),
		Username: e.User, Reason: e.Reason, CreatedAt: e.Time.UTC(),
	}
	if err := insertEvent(ctx, s.db, row); err != nil {
		return Event{}, err
	}
	return row.model(), nil
}

// jsonValue and nullJSON format values for Set clauses, where bun does not
// apply the model's json type.
func jsonValue(v map[string]string) string {
	if v == nil {
		v = map[string]string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}
