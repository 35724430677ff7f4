package rack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ironkit/ironkit/internal/rpc"
)

// ErrUnauthorized is the region refusing the rack's credentials (a revoked
// token, a wrong secret): moving to another region does not help.
var ErrUnauthorized = errors.New("rack: the region refused this rack's credentials")

// ErrNoRegion is every region URL failing.
var ErrNoRegion = errors.New("rack: no region answered")

// Client talks to the regions: it tries the URL that last worked, and on a
// network error or a 5xx moves on to the next one, transparently.
type Client struct {
	urls  []string
	token string
	http  *http.Client
	log   *slog.Logger

	mu  sync.Mutex
	cur int
}

// NewClient returns a client over urls (base URLs such as
// "http://region:5240") with the rack token (empty before registration).
func NewClient(urls []string, token string, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{urls: urls, token: token, log: log,
		http: &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 60 * time.Second, MaxIdleConnsPerHost: 4,
			IdleConnTimeout: 30 * time.Second}}}
}

// URL is the region URL in use now.
func (c *Client) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.cur]
}

// CloseIdleConnections drops kept-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Do sends one call (path under /rpc/v1) with in as JSON and decodes the
// reply into out, trying each region once starting with the current one.
// timeout bounds each attempt.
func (c *Client) Do(ctx context.Context, method, path string, in, out any, timeout time.Duration) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	c.mu.Lock()
	start := c.cur
	c.mu.Unlock()
	var errs []error
	for i := range c.urls {
		idx := (start + i) % len(c.urls)
		base := strings.TrimRight(c.urls[idx], "/")
		err := c.once(ctx, method, base+rpc.Prefix+path, body, out, timeout)
		if err == nil {
			c.mu.Lock()
			if c.cur != idx {
				c.log.Info("region switched", "url", base)
			}
			c.cur = idx
			c.mu.Unlock()
			return nil
		}
		var re *rpc.Error
		if errors.Is(err, ErrUnauthorized) || (errors.As(err, &re) && !strings.HasPrefix(re.Code, "5")) || ctx.Err() != nil {
			return err
		}
		// A connection that failed may be bound to an address this host
		// no longer has: dial afresh next time.
		c.http.CloseIdleConnections()
		errs = append(errs, fmt.Errorf("%s: %w", base, err))
	}
	return fmt.Errorf("%w: %w", ErrNoRegion, errors.Join(errs...))
}

func (c *Client) once(ctx context.Context, method, url string, body []byte, out any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		var e rpc.Error
		_ = json.Unmarshal(data, &e)
		return fmt.Errorf("%w: %s %s: HTTP %d: %s", ErrUnauthorized, method, url, resp.StatusCode, e.Message)
	case resp.StatusCode >= 500:
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(data))
	case resp.StatusCode >= 400:
		e := &rpc.Error{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = string(bytes.TrimSpace(data))
		}
		e.Code = fmt.Sprintf("%d %s", resp.StatusCode, e.Code)
		return e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: reply: %w", method, url, err)
		}
	}
	return nil
}

// Register proves knowledge of secret (hex, as `regiond secret show`
// prints) to the first region that answers and returns the rack's id and
// token.
func Register(ctx context.Context, urls []string, secretHex, name, version string, log *slog.Logger) (rpc.RegisterReply, error) {
	secret, err := decodeSecret(secretHex)
	if err != nil {
		return rpc.RegisterReply{}, err
	}
	c := NewClient(urls, "", log)
	defer c.CloseIdleConnections()
	var ch rpc.Challenge
	if err := c.Do(ctx, http.MethodPost, rpc.PathChallenge, struct{}{}, &ch, 10*time.Second); err != nil {
		return rpc.RegisterReply{}, fmt.Errorf("rack: registration challenge: %w", err)
	}
	ts := time.Now().Unix()
	req := rpc.RegisterRequest{Name: name, Version: version, Protocol: rpc.ProtocolVersion, Nonce: ch.Nonce, Timestamp: ts,
		Proof: rpc.Proof(secret, ch.Nonce, ts, name, version)}
	// The nonce lives in the shared database: the region that answers
	// this call need not be the one that issued it.
	var out rpc.RegisterReply
	if err := c.Do(ctx, http.MethodPost, rpc.PathRegister, req, &out, 10*time.Second); err != nil {
		return out, fmt.Errorf("rack: register %q: %w", name, err)
	}
	return out, nil
}
