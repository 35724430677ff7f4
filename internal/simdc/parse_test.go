package simdc

import (
	"reflect"
	"testing"

	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/pxe"
)

func TestDropOptions(t *testing.T) {
	for name, tc := range map[string]struct{ in, want []string }{
		"name option": {[]string{"--name", "kernel", "http://x/k", "a=b"}, []string{"http://x/k", "a=b"}},
		"joined":      {[]string{"--name=initrd", "http://x/i"}, []string{"http://x/i"}},
		"none":        {[]string{"http://x/k"}, []string{"http://x/k"}},
	} {
		if got := dropOptions(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: dropOptions(%v) = %v, want %v", name, tc.in, got, tc.want)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	got := parseCmdline([]string{"console=ttyS0", "ip=dhcp", "quiet", "ironkit.purpose=deploy", "ironkit.metadata_url=http://r/api/v1/metadata/abc"})
	want := map[string]string{"console": "ttyS0", "ip": "dhcp", "quiet": "", "ironkit.purpose": "deploy",
		"ironkit.metadata_url": "http://r/api/v1/metadata/abc"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseCmdline = %v, want %v", got, want)
	}
}

func TestSystemIDFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:5240/api/v1/metadata/x7k2p9":  "x7k2p9",
		"http://127.0.0.1:5240/api/v1/metadata/x7k2p9/": "x7k2p9",
		"http://127.0.0.1:5240/api/v1/metadata":         "",
		"http://127.0.0.1:5240/api/v1/metadata/a/b":     "",
		"": "",
	} {
		if got := systemIDFromURL(in); got != want {
			t.Errorf("systemIDFromURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// The purpose table renders with pxe's own renderer for both loaders the
// simulated firmware reads: every rule is a valid boot config.
func TestStatusPurposesRender(t *testing.T) {
	r, err := pxe.NewRenderer(nil)
	if err != nil {
		t.Fatal(err)
	}
	for st, rule := range StatusPurposes {
		if _, err := lifecycle.ParseStatus(string(st)); err != nil {
			t.Errorf("StatusPurposes has unknown status %q", st)
		}
		for _, l := range []pxe.Loader{pxe.IPXE, pxe.PXELINUX} {
			p := pxe.BootParams{Purpose: rule.Purpose, Extra: rule.Extra, Platform: pxe.Platform{Arch: pxe.AMD64, Firmware: pxe.BIOS},
				ServerURL: "http://127.0.0.1:1", Kernel: EphemeralKernel, Initrd: EphemeralInitrd}
			if _, err := r.Render(l, p); err != nil {
				t.Errorf("%s with %s: %v", st, l, err)
			}
		}
	}
}
