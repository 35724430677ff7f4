package rack_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ironkit/ironkit/internal/rack"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/store"
)

// A deploying machine boots the installer until it signals "installed",
// then from its disk ("local", and no new token: minting one would revoke
// the token the installed system phones home with). A new deployment
// (entering Deploying again) netboots the installer again. Disk erasing
// and testing boots carry their kernel arguments.
func TestBootLookupDeployingAndArgs(t *testing.T) {
	r := startRegion(t, sqliteDSN(t))
	ctx := context.Background()
	reply, err := rack.Register(ctx, []string{r.url}, r.secret, "rack-inst", rack.Version, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := r.svc.Store()
	// Only a rack serving DHCP answers for machines (their VLAN unknown).
	dhcpNetwork(t, st, "10.99.2.0/24", reply.RackID, 0)
	const mac = "52:54:00:00:20:01"
	sid := machineIn(t, st, "inst", mac, lifecycle.Deploying)
	if got := bootLookup(t, r.url, reply.Token, mac); got.Purpose != "deploy" || got.Token == "" {
		t.Fatalf("deploying, not installed: purpose %q token %v; want deploy with a token", got.Purpose, got.Token != "")
	}
	if _, err := st.AddEvent(ctx, store.Event{SystemID: sid, Type: "installed", User: "machine:" + sid}); err != nil {
		t.Fatal(err)
	}
	if got := bootLookup(t, r.url, reply.Token, mac); got.Purpose != "local" || got.Token != "" {
		t.Fatalf("deploying, installed: purpose %q token %v; want local without a token", got.Purpose, got.Token != "")
	}
	if _, err := st.AddEvent(ctx, store.Event{SystemID: sid, Type: "deploy", From: lifecycle.Allocated, To: lifecycle.Deploying, User: "admin"}); err != nil {
		t.Fatal(err)
	}
	if got := bootLookup(t, r.url, reply.Token, mac); got.Purpose != "deploy" || got.Token == "" {
		t.Fatalf("deploying again after an earlier install: purpose %q token %v; want deploy with a token", got.Purpose, got.Token != "")
	}

	for i, c := range []struct {
		status lifecycle.Status
		args   []string
	}{
		{lifecycle.DiskErasing, []string{"ironkit.erase=1"}},
		{lifecycle.Testing, []string{"ironkit.test=1"}},
		{lifecycle.Commissioning, nil},
	} {
		m := "52:54:00:00:21:0" + string(rune('1'+i))
		machineIn(t, st, "args-"+string(c.status), m, c.status)
		if got := bootLookup(t, r.url, reply.Token, m); got.Purpose != "commission" || !slices.Equal(got.Extra, c.args) {
			t.Errorf("%s: purpose %q args %v, want commission %v", c.status, got.Purpose, got.Extra, c.args)
		}
	}
}
