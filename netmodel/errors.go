package netmodel

import (
	"errors"
	"fmt"
)

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

// Error names the object, the field, the value and the fix.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("netmodel: %s: %s %q: %s", e.Object, e.Field, e.Value, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// problems collects the validation errors of one object.
type problems struct {
	object string
	errs   []error
}

func (p *problems) add(field string, value any, format string, args ...any) {
	p.errs = append(p.errs, &ValidationError{
		Object: p.object,
		Field:  field,
		Value:  fmt.Sprint(value),
		Reason: fmt.Sprintf(format, args...),
	})
}

// err returns nil, the one error, or all of them joined (errors.Is and
// errors.As see each).
func (p *problems) err() error {
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	return errors.Join(p.errs...)
}
