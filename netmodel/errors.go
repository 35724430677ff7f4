package netmodel

import "errors"

var (
	// ErrInvalid is wrapped by every *ValidationError.
	ErrInvalid = errors.New("invalid network model")
	// ErrExhausted: the subnet has no free address left for static allocation.
	ErrExhausted = errors.New("no free address")
)

// ValidationError names the object, the field, the value and what is wrong
// with it, with the fix. It wraps ErrInvalid.
type ValidationError struct {
	// Object names the object, e.g. `vlan 42 (fabric 1)` or `subnet 10.0.0.0/24`.
	Object string
	// Field is the field's name as in the API (e.g. "mtu", "gateway_ip").
	Field string
	// Value is the offending value as text.
	Value string
	// Reason says what is wrong and how to fix it.
	Reason string
}
