package pxe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Defaults.
const (
	DefaultTFTPAddr = ":69"
	DefaultHTTPAddr = ":5248"
	// DefaultSendAhead is the TFTP send-ahead window in blocks (pin's
	// SetAnticipate) for clients that do not offer RFC 7440 windowsize: 1,
	// lock-step. Measured (README.md): GRUB on UEFI drops ACKs when a burst
	// arrives, and pin's send-ahead needs every ACK, so each window stalls
	// for a timeout — its 8 MB kernel took 128 s instead of 2.6 s.
	DefaultSendAhead = 1
	// DefaultMaxSendAhead caps the send-ahead window for clients that offer
	// windowsize (they announce they buffer that many blocks; pin cannot
	// acknowledge the option, so they ACK every block as in lock-step).
	DefaultMaxSendAhead = 16
	// DefaultMaxBlockSize caps the negotiated TFTP blksize; the interface
	// MTU − 28 caps it further.
	DefaultMaxBlockSize = 65464
	// DefaultTFTPTimeout is how long the TFTP server waits for an ACK
	// before resending (pin: per round trip), DefaultTFTPRetries how often.
	// (1 s like tftpd-hpa; pin's own extra random 0–1 s back-off is off).
	DefaultTFTPTimeout = time.Second
	DefaultTFTPRetries = 5
)

// Option configures a TFTPServer or HTTPServer; options that concern only
// one of them are ignored by the other.
type Option func(*config)

type config struct {
	addr      string
	log       *slog.Logger
	metrics   *Metrics
	resolver  Resolver
	sendAhead uint
	maxWindow uint
	maxBlock  int
	timeout   time.Duration
	retries   int
	macLookup func(netip.Addr) net.HardwareAddr
}

func newConfig(defaultAddr string, opts []Option) config {
	c := config{
		addr:      defaultAddr,
		log:       slog.New(slog.DiscardHandler),
		sendAhead: DefaultSendAhead,
		maxWindow: DefaultMaxSendAhead,
		maxBlock:  DefaultMaxBlockSize,
		timeout:   DefaultTFTPTimeout,
		retries:   DefaultTFTPRetries,
	}
	c.macLookup = NewARPCache().Lookup
	for _, o := range opts {
		o(&c)
	}
	if c.metrics == nil {
		c.metrics = newMetrics()
	}
	return c
}

// WithAddr sets the listen address ("host:port"; port 0 picks one).
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithMetrics makes the server count into m (shared by both servers).
func WithMetrics(m *Metrics) Option { return func(c *config) { c.metrics = m } }

// WithResolver sets the resolver consulted before Files for every name.
func WithResolver(r Resolver) Option { return func(c *config) { c.resolver = r } }

// WithSendAhead sets the TFTP send-ahead window, in blocks, for clients that
// do not offer windowsize (1, the default, is lock-step; pin caps it at 60).
// Raise it only for client populations measured to keep up (atftp,
// PXELINUX, iPXE did here; GRUB did not).
func WithSendAhead(blocks uint) Option { return func(c *config) { c.sendAhead = blocks } }

// WithMaxSendAhead caps the send-ahead window for clients that offer RFC 7440
// windowsize: they get min(windowsize, blocks). 1 turns it off.
func WithMaxSendAhead(blocks uint) Option { return func(c *config) { c.maxWindow = blocks } }

// WithMaxBlockSize caps the TFTP blksize (512..65464).
func WithMaxBlockSize(n int) Option { return func(c *config) { c.maxBlock = n } }

// WithTFTPTimeout sets the TFTP retransmission timeout and retry count.
func WithTFTPTimeout(d time.Duration, retries int) Option {
	return func(c *config) { c.timeout, c.retries = d, retries }
}

// WithMACLookup sets how a client's MAC is found for logging when the name
// does not carry it (e.g. the rack's DHCP lease table); the default is a
// per-server ARPCache (NewARPCache().Lookup), nil turns the lookup off.
func WithMACLookup(f func(netip.Addr) net.HardwareAddr) Option {
	return func(c *config) { c.macLookup = f }
}

// result classifies a request for logs and metrics.
type result string

const (
	resultOK       result = "ok"
	resultNotFound result = "not_found"
	resultRefused  result = "refused"
	resultAborted  result = "aborted" // the client stopped the transfer
	resultError    result = "error"
)

func classify(err error) result {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, ErrInvalidName):
		return resultRefused
	case errors.Is(err, ErrNotFound):
		return resultNotFound
	case errors.Is(err, errClientAborted):
		return resultAborted
	default:
		return resultError
	}
}

// errClientAborted marks a transfer the client ended with an ERROR packet
// (UEFI PXE asks for tsize and aborts after the OACK, then asks again).
var errClientAborted = errors.New("client aborted the transfer")

// openTimeout bounds how long a request waits for the resolver (which may
// ask the region through the rack) and Files to answer.
const openTimeout = 10 * time.Second

// open resolves a cleaned name: the resolver first, then files.
func open(ctx context.Context, files Files, r Resolver, req Request) (f *File, generated bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if r != nil {
		f, err := r.Resolve(ctx, req)
		if err == nil {
			return f, true, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, true, err
		}
	}
	if files == nil {
		return nil, false, fmt.Errorf("%w: %s", ErrNotFound, req.Name)
	}
	f, err = files.Open(ctx, req.Name)
	return f, false, err
}

// macFromName finds a MAC in a boot-config file name, if any.
func macFromName(name string) net.HardwareAddr {
	base := name
	if i := lastSlash(name); i >= 0 {
		base = name[i+1:]
	}
	for _, cand := range []string{base, trimPrefixes(base, "01-", "grub.cfg-01-", "grub.cfg-"), trimSuffix(base, ".ipxe")} {
		if m, err := parseMAC(cand); err == nil {
			return m
		}
	}
	return nil
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func trimPrefixes(s string, ps ...string) string {
	for _, p := range ps {
		if len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

func trimSuffix(s, suf string) string {
	if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)]
	}
	return s
}
