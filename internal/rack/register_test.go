package rack_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/internal/rpc"
)

func TestRegistrationSecurity(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	urls := []string{r.url}

	reply, err := rack.Register(ctx, urls, r.secret, "rack-a", rack.Version, nil)
	if err != nil || reply.RackID == 0 || !strings.HasPrefix(reply.Token, "ikr_") {
		t.Fatalf("register with the right secret: %+v %v", reply, err)
	}

	wrong := strings.Repeat("ab", 16)
	if _, err := rack.Register(ctx, urls, wrong, "rack-evil", rack.Version, nil); !errors.Is(err, rack.ErrUnauthorized) {
		t.Fatalf("wrong secret: %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(r.logs.String(), "reason=bad-proof") {
		t.Fatalf("wrong secret not logged:\n%s", r.logs)
	}

	// Replay: a captured valid registration sent again.
	_, body := postJSON(t, r.url+"/rpc/v1/challenge", "{}")
	var ch rpc.Challenge
	if err := json.Unmarshal([]byte(body), &ch); err != nil || ch.Nonce == "" {
		t.Fatalf("challenge: %s %v", body, err)
	}
	secret, _ := hex.DecodeString(r.secret)
	ts := time.Now().Unix()
	req := rpc.RegisterRequest{Name: "rack-b", Version: rack.Version, Protocol: rpc.ProtocolVersion, Nonce: ch.Nonce, Timestamp: ts,
		Proof: rpc.Proof(secret, ch.Nonce, ts, "rack-b", rack.Version)}
	raw, _ := json.Marshal(req)
	if code, body := postJSON(t, r.url+"/rpc/v1/register", string(raw)); code != http.StatusOK {
		t.Fatalf("first registration: %d %s", code, body)
	}
	if code, body := postJSON(t, r.url+"/rpc/v1/register", string(raw)); code != http.StatusUnauthorized || !strings.Contains(body, "already used") {
		t.Fatalf("replayed registration: %d %s, want 401 naming the used nonce", code, body)
	}
	if !strings.Contains(r.logs.String(), "reason=replay") {
		t.Fatalf("replay not logged:\n%s", r.logs)
	}

	// An incompatible protocol is refused with a message saying what to do.
	_, body = postJSON(t, r.url+"/rpc/v1/challenge", "{}")
	_ = json.Unmarshal([]byte(body), &ch)
	req = rpc.RegisterRequest{Name: "rack-old", Version: "9.9", Protocol: rpc.ProtocolVersion + 1, Nonce: ch.Nonce, Timestamp: ts,
		Proof: rpc.Proof(secret, ch.Nonce, ts, "rack-old", "9.9")}
	raw, _ = json.Marshal(req)
	if code, body := postJSON(t, r.url+"/rpc/v1/register", string(raw)); code != http.StatusConflict || !strings.Contains(body, "upgrade") {
		t.Fatalf("incompatible rack: %d %s", code, body)
	}

	// The token works until revoked; then the very next call fails.
	c := rack.NewClient(urls, reply.Token, nil)
	defer c.CloseIdleConnections()
	if err := c.Do(ctx, http.MethodPost, rpc.PathHeartbeat, rpc.Heartbeat{Version: rack.Version}, nil, 5*time.Second); err != nil {
		t.Fatalf("heartbeat with a fresh token: %v", err)
	}
	if _, err := r.svc.Store().DB().NewDelete().Table("rack_tokens").Where("rack_id = ?", reply.RackID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, http.MethodPost, rpc.PathHeartbeat, rpc.Heartbeat{Version: rack.Version}, nil, 5*time.Second); !errors.Is(err, rack.ErrUnauthorized) {
		t.Fatalf("heartbeat with a revoked token: %v, want ErrUnauthorized", err)
	}
	// The API's auth middleware refuses it (and logs it) before the RPC
	// handler would; either place must log the refusal.
	if !regexp.MustCompile(`msg="token rejected".* kind=rack|rack token rejected`).MatchString(r.logs.String()) {
		t.Fatalf("revoked token not logged:\n%s", r.logs)
	}
	// No token at all never reaches the RPC.
	if err := rack.NewClient(urls, "", nil).Do(ctx, http.MethodGet, rpc.PathConfig, nil, nil, 5*time.Second); !errors.Is(err, rack.ErrUnauthorized) {
		t.Fatalf("anonymous config pull: %v", err)
	}
}
