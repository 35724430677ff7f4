package auth

import "net/http"

// Access is what a route requires of its caller.
type Access string

// Route access levels.
const (
	// Public routes answer anyone, anonymous included (version, OpenAPI
	// document, metrics, enlistment, login).
	Public Access = "public"
	// Authenticated routes answer any user, admin or not. Per-object rules
	// (ownership, visibility) are applied by the handler.
	Authenticated Access = "user"
	// AdminOnly routes answer administrators only.
	AdminOnly Access = "admin"
	// MachineSelf routes answer the machine token of the machine named in the
	// path, and administrators.
	MachineSelf Access = "machine"
	// RackOnly routes answer rack tokens only (the rack RPC).
	RackOnly Access = "rack"
)

// Verdict is the outcome of an authorization decision.
type Verdict int

// Verdicts.
const (
	// Allow lets the request through.
	Allow Verdict = iota
	// Unauthenticated: credentials are required (HTTP 401).
	Unauthenticated
	// Forbidden: the caller is known but may not do this (HTTP 403).
	Forbidden
	// selfOnly is an intermediate table entry: allowed when the principal's
	// machine is the one in the path, Forbidden otherwise.
	selfOnly
)

// HTTPStatus is the status code a verdict answers with (200 for Allow).
func (v Verdict) HTTPStatus() int {
	switch v {
	case Allow:
		return http.StatusOK
	case Unauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

// decisions is the authorization table: route access × principal kind. A
// missing entry is Forbidden, except for Anonymous which is Unauthenticated.
var decisions = map[Access]map[Kind]Verdict{
	Public: {
		Anonymous: Allow, User: Allow, Admin: Allow, Rack: Allow, Machine: Allow,
	},
	Authenticated: {
		Anonymous: Unauthenticated, User: Allow, Admin: Allow, Rack: Forbidden, Machine: Forbidden,
	},
	AdminOnly: {
		Anonymous: Unauthenticated, User: Forbidden, Admin: Allow, Rack: Forbidden, Machine: Forbidden,
	},
	MachineSelf: {
		Anonymous: Unauthenticated, User: Forbidden, Admin: Allow, Rack: Forbidden, Machine: selfOnly,
	},
	RackOnly: {
		Anonymous: Unauthenticated, User: Forbidden, Admin: Forbidden, Rack: Allow, Machine: Forbidden,
	},
}

// Decide is the authorization decision for a route requiring a, called by p;
// pathMachine is the system id of the machine the path names ("" when none).
func Decide(a Access, p Principal, pathMachine string) Verdict {
	row, ok := decisions[a]
	if !ok {
		return Forbidden // an unknown access level is a programming error; fail closed
	}
	v, ok := row[p.Kind]
	if !ok {
		if p.Kind == Anonymous {
			return Unauthenticated
		}
		return Forbidden
	}
	if v == selfOnly {
		if pathMachine != "" && p.SystemID == pathMachine {
			return Allow
		}
		return Forbidden
	}
	return v
}
