package pxe

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
)

// TestConfigResolverNames: which names the resolver answers, and with which
// loader, platform and MAC it asks the BootSource.
func TestConfigResolverNames(t *testing.T) {
	r, _ := NewRenderer(nil)
	var got BootQuery
	res := &ConfigResolver{Renderer: r, ServerURL: "http://10.0.0.2:5248",
		Source: BootSourceFunc(func(_ context.Context, q BootQuery) (BootParams, error) {
			got = q
			return BootParams{Purpose: Local}, nil
		})}
	for name, tc := range map[string]struct {
		query  string
		loader Loader
		plat   Platform
		mac    string
		static string // a chain file, not from the source
	}{
		"pxelinux.cfg/01-52-54-00-12-34-56":      {loader: PXELINUX, plat: Platform{AMD64, BIOS}, mac: "52:54:00:12:34:56"},
		"pxelinux.cfg/default":                   {loader: PXELINUX, plat: Platform{AMD64, BIOS}},
		"grub/grub.cfg-01-52-54-00-12-34-56":     {loader: GRUB, plat: Platform{AMD64, UEFI}, mac: "52:54:00:12:34:56"},
		"grub/grub.cfg-52:54:00:12:34:56":        {loader: GRUB, plat: Platform{AMD64, UEFI}, mac: "52:54:00:12:34:56"},
		"grub/arm64/grub.cfg-52:54:00:12:34:56":  {loader: GRUB, plat: Platform{ARM64, UEFI}, mac: "52:54:00:12:34:56"},
		"ipxe/x86_64-efi/52-54-00-12-34-56.ipxe": {loader: IPXE, plat: Platform{AMD64, UEFI}, mac: "52:54:00:12:34:56"},
		"ipxe/i386-pcbios/525400123456.ipxe":     {loader: IPXE, plat: Platform{AMD64, BIOS}, mac: "52:54:00:12:34:56"},
		"ipxe/arm64-efi/52-54-00-12-34-56.ipxe":  {loader: IPXE, plat: Platform{ARM64, UEFI}, mac: "52:54:00:12:34:56"},
		"ipxe/boot.ipxe":                         {static: "chain http://10.0.0.2:5248/ipxe/${buildarch}-${platform}/${net0/mac:hexhyp}.ipxe"},
		"grub/grub.cfg":                          {static: "configfile /grub/${grub_cpu}/grub.cfg-${net_default_mac}"},
		"boot.ipxe":                              {query: "mac=52-54-00-12-34-56&buildarch=x86_64&platform=efi", loader: IPXE, plat: Platform{AMD64, UEFI}, mac: "52:54:00:12:34:56"},
	} {
		t.Run(name, func(t *testing.T) {
			got = BootQuery{}
			q, _ := url.ParseQuery(tc.query)
			f, err := res.Resolve(context.Background(), Request{Proto: "http", Name: name, Query: q})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(f.Body)
			if tc.static != "" {
				if !strings.Contains(string(b), tc.static) {
					t.Fatalf("got %q, want %q in it", b, tc.static)
				}
				return
			}
			if got.Loader != tc.loader || got.Platform != tc.plat || macString(got.MAC) != tc.mac {
				t.Fatalf("asked %+v, want %s %s %q", got, tc.loader, tc.plat, tc.mac)
			}
		})
	}
	for _, name := range []string{"pxelinux.0", "pxelinux.cfg/01-zz", "grub/sparc/grub.cfg-52:54:00:12:34:56", "grub/x86_64-efi/normal.mod",
		"ipxe/x86_64-efi/52-54-00-12-34-56.txt", "ipxe/mips-efi/52-54-00-12-34-56.ipxe", "ipxe/x86_64-efi/52-54-00-12-34.ipxe"} {
		if _, err := res.Resolve(context.Background(), Request{Name: name}); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	// Chain falls through ErrNotFound and stops at anything else.
	boom := errors.New("boom")
	c := Chain{res, ResolverFunc(func(context.Context, Request) (*File, error) { return nil, boom })}
	if _, err := c.Resolve(context.Background(), Request{Name: "other"}); !errors.Is(err, boom) {
		t.Fatalf("chain: %v, want boom", err)
	}
}
