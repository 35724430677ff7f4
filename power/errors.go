package power

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// Sentinel errors. Drivers wrap one of them so callers (and the [Engine])
// can branch with errors.Is.
var (
	// ErrUnreachable: the BMC did not answer (connection refused, reset,
	// no route). Retryable.
	ErrUnreachable = errors.New("BMC unreachable")
	// ErrTimeout: the BMC did not answer in time. Retryable.
	ErrTimeout = errors.New("BMC timed out")
	// ErrBusy: the BMC answered but cannot serve now (no free session,
	// HTTP 503). Retryable.
	ErrBusy = errors.New("BMC busy")
	// ErrAuth: the BMC rejected the credentials. Never retried.
	ErrAuth = errors.New("BMC rejected the credentials")
	// ErrConfig: a driver parameter or request is invalid. Never retried.
	ErrConfig = errors.New("invalid power configuration")
	// ErrUnsupported: the BMC or driver cannot do what was asked (the manual
	// driver cannot read state; a BMC without PXE override). Never retried.
	ErrUnsupported = errors.New("not supported by this BMC")
	// ErrRejected: the BMC understood the request and refused it (HTTP 400,
	// 405, 409 from Redfish). Never retried.
	ErrRejected = errors.New("BMC rejected the request")
	// ErrNeverTransitioned: the action was accepted but the BMC never
	// reported the target state before the verification deadline.
	ErrNeverTransitioned = errors.New("BMC never transitioned")
	// ErrUnknownDriver: no driver of that name is registered.
	ErrUnknownDriver = errors.New("unknown power driver")
)

// Error is what the [Engine] returns: which BMC, which operation, and the
// cause (which wraps one of the sentinels).
type Error struct {
	BMC string // the target's name, e.g. "machine-12 (ipmi 10.0.0.5)"
	Op  string // "power on", "query", "set boot device pxe", ...
	Err error
	// LastState is the last state seen while verifying, for ErrNeverTransitioned.
	LastState State
	// Attempts is how many times the operation was tried.
	Attempts int
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s: %v", e.BMC, e.Op, e.Err)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err is worth retrying: a connection problem, a
// timeout or a busy BMC. Authentication and configuration errors are not:
// retrying them only locks accounts and delays the message the operator needs.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return false
	}
	switch {
	case errors.Is(err, ErrAuth), errors.Is(err, ErrConfig), errors.Is(err, ErrUnsupported), errors.Is(err, ErrRejected),
		errors.Is(err, ErrUnknownDriver), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, ErrUnreachable), errors.Is(err, ErrTimeout), errors.Is(err, ErrBusy),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// classifyNetErr wraps a transport-level error with ErrTimeout or
// ErrUnreachable when it is one, and returns it unchanged otherwise.
func classifyNetErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnreachable) {
		return err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return fmt.Errorf("%w: host %q not found in DNS; check the BMC address", ErrConfig, dns.Name)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}
