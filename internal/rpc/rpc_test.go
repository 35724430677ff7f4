package rpc_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/rpc"
)

func TestVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	good := func() rpc.RegisterRequest {
		r := rpc.RegisterRequest{Name: "rack1", Version: "0.1.0", Protocol: rpc.ProtocolVersion, Nonce: "n1", Timestamp: now.Unix()}
		r.Proof = rpc.Proof(secret, r.Nonce, r.Timestamp, r.Name, r.Version)
		return r
	}
	cases := map[string]struct {
		tweak func(*rpc.RegisterRequest)
		want  error
	}{
		"valid": {func(*rpc.RegisterRequest) {}, nil},
		"wrong secret": {func(r *rpc.RegisterRequest) {
			r.Proof = rpc.Proof([]byte("other"), r.Nonce, r.Timestamp, r.Name, r.Version)
		}, rpc.ErrBadProof},
		"name swapped":     {func(r *rpc.RegisterRequest) { r.Name = "rack2" }, rpc.ErrBadProof},
		"version swapped":  {func(r *rpc.RegisterRequest) { r.Version = "9" }, rpc.ErrBadProof},
		"nonce swapped":    {func(r *rpc.RegisterRequest) { r.Nonce = "n2" }, rpc.ErrBadProof},
		"not hex":          {func(r *rpc.RegisterRequest) { r.Proof = "zz" }, rpc.ErrBadProof},
		"old timestamp":    {func(r *rpc.RegisterRequest) { r.Timestamp -= 600 }, rpc.ErrStale},
		"future timestamp": {func(r *rpc.RegisterRequest) { r.Timestamp += 600 }, rpc.ErrStale},
		"other protocol":   {func(r *rpc.RegisterRequest) { r.Protocol = 2 }, rpc.ErrIncompatible},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := good()
			c.tweak(&r)
			err := rpc.Verify(secret, r, now, 2*time.Minute)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

// A rack proves it holds the shared secret without sending it.
func ExampleProof() {
	secret := []byte("0123456789abcdef")
	proof := rpc.Proof(secret, "nonce-from-region", 1800000000, "rack1", "0.1.0")
	req := rpc.RegisterRequest{Name: "rack1", Version: "0.1.0", Protocol: rpc.ProtocolVersion,
		Nonce: "nonce-from-region", Timestamp: 1800000000, Proof: proof}
	fmt.Println(len(proof), rpc.Verify(secret, req, time.Unix(1800000030, 0), time.Minute))
	// Output: 64 <nil>
}
