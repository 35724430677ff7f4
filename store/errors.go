package store

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Sentinel errors for errors.Is. Errors about network objects wrap
// netmodel.ErrInvalid (*netmodel.ValidationError) and netmodel.ErrExhausted;
// errors about transitions wrap lifecycle's sentinels.
var (
	// ErrNotFound: no object with that key.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object changed since it was read (its version moved
	// on); re-read it and retry the change if it still applies.
	ErrConflict = errors.New("conflicting concurrent change")
	// ErrDuplicate: a unique field already holds that value.
	ErrDuplicate = errors.New("already exists")
	// ErrInUse: the object is still referenced (a VLAN with subnets, ...).
	ErrInUse = errors.New("still in use")
	// ErrDecrypt: a secret cannot be decrypted with the region key (wrong
	// key, or the ciphertext was tampered with).
	ErrDecrypt = errors.New("cannot decrypt secret with the region key")
)

// NotFoundError names the object that does not exist. It wraps ErrNotFound.
type NotFoundError struct {
	Object string // "machine", "subnet", ...
	Key    string // "system_id", "id", "mac", ...
	Value  string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s with %s %q not found", e.Object, e.Key, e.Value)
}

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

func notFound(object, key string, value any) error {
	return &NotFoundError{Object: object, Key: key, Value: fmt.Sprint(value)}
}

// DuplicateError names the object and the unique field whose value is
// already taken. It wraps ErrDuplicate.
type DuplicateError struct {
	Object string
	Field  string
	Value  string
	// Holder names who has the value when known ("machine abc123").
	Holder string
}

func (e *DuplicateError) Error() string {
	v, h := "", ""
	if e.Value != "" {
		v = fmt.Sprintf(" %q", e.Value)
	}
	if e.Holder != "" {
		h = " (" + e.Holder + ")"
	}
	return fmt.Sprintf("%s %s%s already exists%s: choose another %s or change the existing %s", e.Object, e.Field, v, h, e.Field, e.Object)
}

func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// ConflictError names the object whose version moved on. It wraps ErrConflict.
type ConflictError struct {
	Object  string
	Key     string
	Version int64 // the version the caller expected
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %s changed concurrently (expected version %d): re-read it and retry", e.Object, e.Key, e.Version)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// uniqueConstraints maps a unique constraint or index (PostgreSQL names it;
// SQLite names its columns) to the object and field it protects.
var uniqueConstraints = []struct {
	pgName, sqliteCols string
	object, field      string
}{
	{"interfaces_mac_key", "interfaces.mac", "interface", "mac"},
	{"interfaces_machine_name_key", "interfaces.system_id, interfaces.name", "interface", "name"},
	{"machines_hostname_key", "machines.hostname", "machine", "hostname"},
	{"machines_pkey", "machines.system_id", "machine", "system_id"},
	{"vlans_fabric_vid_key", "vlans.fabric_id, vlans.vid", "vlan", "vid"},
	{"subnets_cidr_key", "subnets.cidr", "subnet", "cidr"},
	{"ip_addresses_subnet_ip_key", "ip_addresses.subnet_id, ip_addresses.ip", "ip address", "ip"},
	{"fabrics_name_key", "fabrics.name", "fabric", "name"},
	{"spaces_name_key", "spaces.name", "space", "name"},
	{"zones_name_key", "zones.name", "zone", "name"},
	{"resource_pools_name_key", "resource_pools.name", "resource pool", "name"},
	{"secrets_pkey", "secrets.name", "secret", "name"},
}

// SQLite extended result codes.
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// uniqueViolation reports whether err is a unique-constraint violation and,
// if so, which object and field it concerns (empty when unknown).
func uniqueViolation(err error) (object, field string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code != "23505" {
			return "", "", false
		}
		name := pgErr.ConstraintName
		for _, u := range uniqueConstraints {
			if u.pgName == name {
				return u.object, u.field, true
			}
		}
		return "", "", true
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		if c := sqErr.Code(); c != sqliteConstraintUnique && c != sqliteConstraintPrimaryKey {
			return "", "", false
		}
		msg := sqErr.Error()
		for _, u := range uniqueConstraints {
			if strings.Contains(msg, "constraint failed: "+u.sqliteCols) {
				return u.object, u.field, true
			}
		}
		return "", "", true
	}
	return "", "", false
}

// foreignKeyViolation reports whether err is a foreign-key violation.
func foreignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23503"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqliteConstraintForeignKey
	}
	return false
}

var pgDetailValue = regexp.MustCompile(`\)=\((.*)\) already exists`)

// mapUnique turns a unique violation into a *DuplicateError; value is what
// the caller tried to store (used when the database does not say).
func mapUnique(err error, value string) error {
	object, field, ok := uniqueViolation(err)
	if !ok {
		return err
	}
	if object == "" {
		return fmt.Errorf("%w: %v", ErrDuplicate, err)
	}
	if value == "" {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			if m := pgDetailValue.FindStringSubmatch(pgErr.Detail); m != nil {
				value = m[1]
			}
		}
	}
	return &DuplicateError{Object: object, Field: field, Value: value}
}
