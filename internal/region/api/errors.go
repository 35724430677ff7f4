package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/netmodel"
)

// Sentinel errors backends wrap so handlers map them to HTTP statuses.
var (
	// ErrNotFound: the object does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the current state, e.g. a
	// duplicate name or a concurrent update (409).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a value is not acceptable (400); prefer *Error with Field.
	ErrInvalid = errors.New("invalid request")
)

// Error is the JSON body of every error response.
type Error struct {
	// Status repeats the HTTP status code.
	Status int `json:"status"`
	// Code is a stable machine-readable name (bad_request, not_found, …).
	Code string `json:"code"`
	// Message says what went wrong and how to fix it.
	Message string `json:"message"`
	// Field and Value name the offending request field and its value (400).
	Field string `json:"field,omitempty"`
	Value string `json:"value,omitempty"`
	// MachineStatus, Action and AllowedActions describe an invalid
	// lifecycle transition (409).
	MachineStatus  lifecycle.Status   `json:"machine_status,omitempty"`
	Action         lifecycle.Action   `json:"action,omitempty"`
	AllowedActions []lifecycle.Action `json:"allowed_actions,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s = %q: %s", e.Code, e.Field, e.Value, e.Message)
	}
	return e.Code + ": " + e.Message
}

// BadField is a 400 naming the field, its value and the fix.
func BadField(field, value, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Field: field, Value: value, Message: message}
}

// NotFound is a 404 naming the object.
func NotFound(object string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: object + " does not exist"}
}

func forbidden(msg string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
}

func unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
}

// toError maps any error a handler returns to the JSON error model. The
// second result is false for errors that are the server's fault (500), whose
// details are logged but not shown.
func toError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var te *lifecycle.TransitionError
	if errors.As(err, &te) {
		code := "invalid_transition"
		status := http.StatusConflict
		switch {
		case errors.Is(err, lifecycle.ErrLocked):
			code = "locked"
		case errors.Is(err, lifecycle.ErrAdminRequired):
			code, status = "admin_required", http.StatusForbidden
		}
		return &Error{Status: status, Code: code, Message: te.Error(),
			MachineStatus: te.Status, Action: te.Action, AllowedActions: te.Allowed}, true
	}
	var ve *netmodel.ValidationError
	if errors.As(err, &ve) {
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Field: ve.Field, Value: ve.Value,
			Message: ve.Error()}, true
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}, true
	case errors.Is(err, ErrConflict), errors.Is(err, netmodel.ErrExhausted):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: err.Error()}, true
	case errors.Is(err, ErrInvalid), errors.Is(err, netmodel.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: err.Error()}, true
	case errors.Is(err, auth.ErrBadPassword), errors.Is(err, auth.ErrUnknownToken):
		return unauthorized(err.Error()), true
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Code: "timeout", Message: "the operation timed out; retry"}, false
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal",
		Message: "internal error; the region's log has the details"}, false
}
