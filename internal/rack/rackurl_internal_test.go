package rack

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/pxe"
)

// A deployment's kernel command line carries the rack's HTTP boot base URL
// (ironkit.rack_url), where the ephemeral environment fetches the root
// image from first; other purposes do not get it.
func TestBootParamsRackURL(t *testing.T) {
	purpose := "deploy"
	region := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != rpc.Prefix+rpc.PathBoot {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(rpc.BootReply{Known: true, BootMachine: rpc.BootMachine{MAC: "52:54:00:00:00:01",
			SystemID: "abc123", Hostname: "m1", Purpose: purpose}, Token: "ikm_x", MetadataPath: "/api/v1/metadata/abc123"})
	}))
	defer region.Close()
	log := slog.New(slog.DiscardHandler)
	c := NewClient([]string{region.URL}, "ikr_test", log)
	defer c.CloseIdleConnections()
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	for _, tc := range []struct {
		purpose, httpAddr string
		want              bool
	}{
		{"deploy", "", true},
		{"deploy", "-", false}, // HTTP boot off: nothing to fetch from
		{"commission", "", false},
	} {
		purpose = tc.purpose
		s := &Service{cfg: Config{File: File{HTTPURL: "http://10.9.0.2:5248/", HTTPAddr: tc.httpAddr}}, log: log, client: c,
			boots: map[string]bootEntry{}}
		p, err := s.BootParams(context.Background(), pxe.BootQuery{MAC: mac})
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Purpose) != tc.purpose {
			t.Fatalf("%s: purpose %q", tc.purpose, p.Purpose)
		}
		if got := slices.Contains(p.Extra, RackURLArg+"=http://10.9.0.2:5248"); got != tc.want {
			t.Errorf("purpose %s, http_addr %q: extra args %q, want %s=http://10.9.0.2:5248: %v", tc.purpose, tc.httpAddr, p.Extra, RackURLArg, tc.want)
		}
	}
}
