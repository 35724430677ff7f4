package simdc_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/simdc"
)

func TestRunDemo(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := ""
	err := simdc.RunDemo(ctx, simdc.DemoConfig{Dir: t.TempDir(), Listen: "127.0.0.1:0", Machines: 4, AdminPassword: "demo-password",
		Out: &out, Hasher: auth.Hasher{Time: 1, MemoryKiB: 64, Threads: 1}, OnReady: func(u string) { url = u }})
	if err != nil {
		t.Fatalf("RunDemo: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"4 simulated machines", "Deployed", "sim-004", "PHASE", "commissioning", "deploying"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress view lacks %q", want)
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("OnReady got %q", url)
	}
}
