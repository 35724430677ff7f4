// Package rpc is the region↔rack protocol: the versioned JSON messages both
// sides exchange under /rpc/v1 on regiond, and the registration proof (an
// HMAC-SHA256 challenge over the rack shared secret).
//
// It owns the wire types, the paths, the version compatibility rule and the
// pure HMAC functions. It does not own HTTP serving (internal/region/rackrpc)
// nor the rack's client loop (internal/rack), and it keeps no state: nonce
// bookkeeping (single use, expiry) is the region's.
//
// Registration: the rack asks for a challenge (POST /rpc/v1/challenge), the
// region answers a random nonce; the rack sends Proof = HMAC-SHA256(secret,
// nonce|timestamp|name|version) with its name, version and timestamp
// (POST /rpc/v1/register); the region checks the timestamp window, consumes
// the nonce (a replay finds it gone), compares MACs in constant time and
// issues a rack id and a rack token. Every later call carries the token as
// a bearer credential: the rack is its id and token, never its IP address.
package rpc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ProtocolVersion is the RPC protocol's major version: a rack and a region
// talk only when their majors are equal.
const ProtocolVersion = 1

// Paths under /rpc/v1 (the region strips the prefix).
const (
	PathChallenge = "/challenge"
	PathRegister  = "/register"
	PathConfig    = "/config"
	PathCommands  = "/commands"
	PathResults   = "/results"
	PathLeases    = "/leases"
	PathHeartbeat = "/heartbeat"
	PathBoot      = "/boot"
	Prefix        = "/rpc/v1"
)

// ErrBadProof is a registration proof that does not verify.
var ErrBadProof = errors.New("rpc: registration proof does not match the rack shared secret")

// ErrStale is a registration timestamp outside the allowed window.
var ErrStale = errors.New("rpc: registration timestamp outside the allowed window")

// ErrIncompatible is a rack whose protocol version the region does not speak.
var ErrIncompatible = errors.New("rpc: incompatible rack protocol version")

// Challenge is the region's answer to a challenge request.
type Challenge struct {
	Nonce   string    `json:"nonce"`
	Expires time.Time `json:"expires"`
}

// RegisterRequest is the rack's registration.
type RegisterRequest struct {
	Name string `json:"name"`
	// Version is the rackd software version; Protocol the RPC major.
	Version   string `json:"version"`
	Protocol  int    `json:"protocol"`
	Nonce     string `json:"nonce"`
	Timestamp int64  `json:"timestamp"` // Unix seconds
	Proof     string `json:"proof"`     // hex HMAC-SHA256
}

// RegisterReply carries the rack's identity.
type RegisterReply struct {
	RackID int64  `json:"rack_id"`
	Token  string `json:"token"`
}

// Error is every non-2xx reply's body.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Proof computes HMAC-SHA256(secret, nonce|timestamp|name|version) as hex.
// secret is the shared secret's raw bytes.
func Proof(secret []byte, nonce string, ts int64, name, version string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.Join([]string{nonce, strconv.FormatInt(ts, 10), name, version}, "|")))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks req's proof against secret at now with the allowed clock
// skew window (constant-time compare). It does not check the nonce's
// freshness: the caller consumes nonces.
func Verify(secret []byte, req RegisterRequest, now time.Time, window time.Duration) error {
	if req.Protocol != ProtocolVersion {
		return fmt.Errorf("%w: rack %q speaks protocol %d, this region speaks %d: upgrade the older of the two so both run the same major version",
			ErrIncompatible, req.Name, req.Protocol, ProtocolVersion)
	}
	ts := time.Unix(req.Timestamp, 0)
	if d := now.Sub(ts); d > window || d < -window {
		return fmt.Errorf("%w: rack %q timestamp %s is %s from the region's clock (allowed ±%s): synchronise the clocks (NTP)",
			ErrStale, req.Name, ts.UTC().Format(time.RFC3339), d.Round(time.Second), window)
	}
	want, _ := hex.DecodeString(Proof(secret, req.Nonce, req.Timestamp, req.Name, req.Version))
	got, err := hex.DecodeString(req.Proof)
	if err != nil || !hmac.Equal(want, got) {
		return fmt.Errorf("%w (rack %q): check the --secret given to `rackd register` against `regiond secret show`", ErrBadProof, req.Name)
	}
	return nil
}
