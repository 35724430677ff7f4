package auth

import "strconv"

// Kind is the kind of caller a request comes from.
type Kind string

// Principal kinds. A request without credentials is Anonymous.
const (
	Anonymous Kind = "anonymous"
	User      Kind = "user"
	Admin     Kind = "admin"
	Rack      Kind = "rack"
	Machine   Kind = "machine"
)

// Kinds returns every principal kind in a stable order.
func Kinds() []Kind { return []Kind{Anonymous, User, Admin, Rack, Machine} }

// Principal is an authenticated (or anonymous) caller.
type Principal struct {
	Kind Kind
	// UserID and Username are set for User and Admin.
	UserID   int64
	Username string
	// RackID is set for Rack.
	RackID int64
	// SystemID is set for Machine: the only machine the token reaches.
	SystemID string
}

// IsAdmin reports whether p is an administrator.
func (p Principal) IsAdmin() bool { return p.Kind == Admin }

// IsUser reports whether p is a person (admin or not).
func (p Principal) IsUser() bool { return p.Kind == User || p.Kind == Admin }

// String names the principal for logs and events.
func (p Principal) String() string {
	switch p.Kind {
	case User, Admin:
		return p.Username
	case Rack:
		return "rack:" + strconv.FormatInt(p.RackID, 10)
	case Machine:
		return "machine:" + p.SystemID
	}
	return string(p.Kind)
}
