package simdc

import (
	"reflect"
	"testing"
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
