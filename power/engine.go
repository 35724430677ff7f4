package power

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Target is one BMC the engine acts on: a name for messages and logs
// (the machine's hostname or id) and its driver.
type Target struct {
	Name   string
	Driver Driver
}

func (t Target) label() string {
	if t.Name != "" {
		return t.Name
	}
	if s, ok := t.Driver.(fmt.Stringer); ok {
		return s.String()
	}
	return "BMC"
}

// Request is a power action, optionally preceded by a boot override.
type Request struct {
	Action Action
	Boot   *BootOverride
}

// Result is what [Engine.Do] achieved.
type Result struct {
	State    State // last state read while verifying (Unknown when not verified)
	Verified bool  // the BMC reported the action's target state
	Attempts int   // tries of the power action itself
}

// Engine performs power requests with retries, verification and quirk
// handling around any [Driver]. It holds no per-BMC state and is safe for
// concurrent use.
type Engine struct {
	log           *slog.Logger
	attempts      int
	backoff       time.Duration
	maxBackoff    time.Duration
	callTimeout   time.Duration
	bmcTimeout    time.Duration
	verifyTimeout time.Duration
	pollInterval  time.Duration
	bootDelay     time.Duration
	clearBoot     bool
	metrics       *engineMetrics
}

// EngineOption configures an [Engine].
type EngineOption func(*Engine)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) EngineOption { return func(e *Engine) { e.log = l } }

// WithRetries sets how many times a retryable failure is tried in all
// (default 3) and the back-off: initial, doubled per attempt up to max, with
// jitter (default 500ms up to 5s).
func WithRetries(attempts int, initial, max time.Duration) EngineOption {
	return func(e *Engine) { e.attempts, e.backoff, e.maxBackoff = attempts, initial, max }
}

// WithCallTimeout bounds each driver call (default 20s).
func WithCallTimeout(d time.Duration) EngineOption { return func(e *Engine) { e.callTimeout = d } }

// WithBMCTimeout bounds everything done for one BMC in a bulk query,
// retries included (default 30s).
func WithBMCTimeout(d time.Duration) EngineOption { return func(e *Engine) { e.bmcTimeout = d } }

// WithVerify sets how long to poll for the target state after an action
// and how often (default 60s, every 2s). A zero timeout disables verification.
func WithVerify(timeout, interval time.Duration) EngineOption {
	return func(e *Engine) { e.verifyTimeout, e.pollInterval = timeout, interval }
}

// WithBootDelay waits d between setting the boot device and powering on.
// Older BMCs reset themselves when both arrive together (default 0).
func WithBootDelay(d time.Duration) EngineOption { return func(e *Engine) { e.bootDelay = d } }

// WithClearPendingBoot clears a pending boot override before a power-on
// that asks for no boot device, so a stale one-time PXE override left by an
// earlier request cannot send the machine to the network. Drivers that
// cannot clear (no [BootDeviceClearer]) are skipped.
func WithClearPendingBoot(on bool) EngineOption { return func(e *Engine) { e.clearBoot = on } }

// WithMetrics registers the engine's collectors on reg:
// ironkit_power_operations_total{op,result} and
// ironkit_power_operation_seconds{op}.
func WithMetrics(reg prometheus.Registerer) EngineOption {
	return func(e *Engine) { e.metrics = newEngineMetrics(reg) }
}

// NewEngine returns an engine with safe defaults.
func NewEngine(opts ...EngineOption) *Engine {
	e := &Engine{
		log: slog.New(slog.DiscardHandler), attempts: 3, backoff: 500 * time.Millisecond, maxBackoff: 5 * time.Second,
		callTimeout: 20 * time.Second, bmcTimeout: 30 * time.Second,
		verifyTimeout: time.Minute, pollInterval: 2 * time.Second,
	}
	for _, o := range opts {
		o(e)
	}
	if e.attempts < 1 {
		e.attempts = 1
	}
	if e.pollInterval <= 0 {
		e.pollInterval = time.Second
	}
	return e
}

// Do performs req on t: the boot override (if any), the configured delay,
// the power action, then polls until the BMC reports the target state.
// Errors are *[Error] naming the BMC and the step.
func (e *Engine) Do(ctx context.Context, t Target, req Request) (Result, error) {
	start := time.Now()
	res, err := e.do(ctx, t, req)
	e.metrics.observe("power "+string(req.Action), start, err)
	return res, err
}

func (e *Engine) do(ctx context.Context, t Target, req Request) (Result, error) {
	name := t.label()
	log := e.log.With("bmc", name, "action", string(req.Action))
	if err := req.Action.Validate(); err != nil {
		return Result{}, &Error{BMC: name, Op: "power " + string(req.Action), Err: err}
	}
	powersOn := req.Action == ActionOn || req.Action == ActionCycle
	if req.Boot != nil {
		op := "set boot device " + string(req.Boot.Device)
		if err := req.Boot.Validate(); err != nil {
			return Result{}, &Error{BMC: name, Op: op, Err: err}
		}
		b := *req.Boot
		if n, err := e.retry(ctx, log, func(ctx context.Context) error { return t.Driver.SetBootDevice(ctx, b) }); err != nil {
			return Result{}, &Error{BMC: name, Op: op, Err: err, Attempts: n}
		}
		if powersOn && e.bootDelay > 0 {
			log.Debug("waiting between boot device and power on", "delay", e.bootDelay)
			if err := sleepCtx(ctx, e.bootDelay); err != nil {
				return Result{}, &Error{BMC: name, Op: "boot delay", Err: err}
			}
		}
	} else if powersOn && e.clearBoot {
		// Best effort: some BMCs cannot clear an override (they only take
		// a target); the power-on itself must not fail for that.
		if c, ok := t.Driver.(BootDeviceClearer); ok {
			if _, err := e.retry(ctx, log, c.ClearBootDevice); err != nil {
				if errors.Is(err, ErrAuth) || ctx.Err() != nil {
					return Result{}, &Error{BMC: name, Op: "clear pending boot device", Err: err}
				}
				log.Warn("could not clear the pending boot device; powering on anyway", "err", err)
			}
		}
	}
	op := "power " + string(req.Action)
	n, err := e.retry(ctx, log, func(ctx context.Context) error { return t.Driver.SetPower(ctx, req.Action) })
	res := Result{State: Unknown, Attempts: n}
	if err != nil {
		return res, &Error{BMC: name, Op: op, Err: err, Attempts: n}
	}
	target, verifiable := req.Action.Target()
	if !verifiable || e.verifyTimeout <= 0 {
		return res, nil
	}
	st, err := e.verify(ctx, t, target)
	res.State = st
	switch {
	case err == nil:
		res.Verified = true
		log.Info("power action verified", "state", st, "attempts", n)
		return res, nil
	case errors.Is(err, ErrUnsupported):
		log.Info("power action sent; this driver cannot verify it", "attempts", n)
		return res, nil
	}
	return res, &Error{BMC: name, Op: op, Err: err, Attempts: n, LastState: st}
}

// verify polls until the state is target or the verify timeout passes.
func (e *Engine) verify(ctx context.Context, t Target, target State) (State, error) {
	ctx, cancel := context.WithTimeout(ctx, e.verifyTimeout)
	defer cancel()
	last := Unknown
	var lastErr error
	for {
		cctx, ccancel := context.WithTimeout(ctx, e.callTimeout)
		st, err := t.Driver.PowerState(cctx)
		ccancel()
		switch {
		case err == nil:
			last, lastErr = st, nil
			if st == target {
				return st, nil
			}
		case errors.Is(err, ErrUnsupported):
			return Unknown, err
		case !Retryable(err):
			return last, err
		default:
			lastErr = err
		}
		if err := sleepCtx(ctx, e.pollInterval); err != nil {
			detail := ""
			if lastErr != nil {
				detail = fmt.Sprintf(" (last query failed: %v)", lastErr)
			}
			return last, fmt.Errorf("%w: wanted %s within %s, last state seen: %s%s", ErrNeverTransitioned, target, e.verifyTimeout, last, detail)
		}
	}
}

// Query reads t's power state with retries.
func (e *Engine) Query(ctx context.Context, t Target) (State, error) {
	start := time.Now()
	var st State
	n, err := e.retry(ctx, e.log.With("bmc", t.label()), func(ctx context.Context) error {
		var err error
		st, err = t.Driver.PowerState(ctx)
		return err
	})
	e.metrics.observe("query", start, err)
	if err != nil {
		return Unknown, &Error{BMC: t.label(), Op: "query power state", Err: err, Attempts: n}
	}
	return st, nil
}

// retry runs f until it succeeds, fails with a non-retryable error, the
// attempts are used up or ctx ends. It returns the number of attempts.
func (e *Engine) retry(ctx context.Context, log *slog.Logger, f func(context.Context) error) (int, error) {
	wait := e.backoff
	for n := 1; ; n++ {
		cctx, cancel := context.WithTimeout(ctx, e.callTimeout)
		err := f(cctx)
		cancel()
		if err == nil {
			return n, nil
		}
		if !Retryable(err) || n >= e.attempts || ctx.Err() != nil {
			return n, err
		}
		e.metrics.retry()
		// Full jitter keeps a rack of BMCs that failed together from
		// retrying together.
		d := wait/2 + rand.N(wait/2+1)
		log.Debug("retrying after retryable BMC error", "attempt", n, "wait", d, "err", err)
		if serr := sleepCtx(ctx, d); serr != nil {
			return n, err
		}
		wait = min(wait*2, e.maxBackoff)
	}
}

// QueryResult is one BMC's answer in a bulk query.
type QueryResult struct {
	Index    int // position in the targets slice
	Name     string
	State    State
	Err      error
	Duration time.Duration
}

// QueryAll queries every target's power state with at most concurrency
// queries in flight, each bounded by the BMC timeout, and streams results
// in completion order. The channel is closed when all are done or ctx ends;
// the caller must read until it is closed or cancel ctx. No goroutine
// outlives the channel's closing.
func (e *Engine) QueryAll(ctx context.Context, targets []Target, concurrency int) <-chan QueryResult {
	if concurrency < 1 {
		concurrency = 1
	}
	concurrency = min(concurrency, max(len(targets), 1))
	out := make(chan QueryResult, concurrency)
	idx := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				start := time.Now()
				bctx, cancel := context.WithTimeout(ctx, e.bmcTimeout)
				st, err := e.Query(bctx, targets[i])
				cancel()
				r := QueryResult{Index: i, Name: targets[i].label(), State: st, Err: err, Duration: time.Since(start)}
				select {
				case out <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(out)
		defer wg.Wait()
		defer close(idx)
		for i := range targets {
			select {
			case idx <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type engineMetrics struct {
	ops     *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	retries prometheus.Counter
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ironkit_power_operations_total", Help: "Power operations by operation and result (ok, auth, config, timeout, unreachable, busy, rejected, never_transitioned, error).",
		}, []string{"op", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ironkit_power_operation_seconds", Help: "Duration of power operations, retries and verification included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"op"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ironkit_power_retries_total", Help: "Driver calls retried after a retryable error.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.ops, m.seconds, m.retries)
	}
	return m
}

// errorResults labels results for metrics, first match wins.
var errorResults = []struct {
	err   error
	label string
}{
	{ErrNeverTransitioned, "never_transitioned"}, {ErrAuth, "auth"}, {ErrConfig, "config"},
	{ErrTimeout, "timeout"}, {context.DeadlineExceeded, "timeout"}, {ErrUnreachable, "unreachable"},
	{ErrBusy, "busy"}, {ErrRejected, "rejected"}, {ErrUnsupported, "unsupported"},
}

func (m *engineMetrics) observe(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
		for _, r := range errorResults {
			if errors.Is(err, r.err) {
				result = r.label
				break
			}
		}
	}
	m.ops.WithLabelValues(op, result).Inc()
	m.seconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (m *engineMetrics) retry() {
	if m != nil {
		m.retries.Inc()
	}
}
