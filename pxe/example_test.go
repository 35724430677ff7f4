package pxe_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/ironkit/ironkit/pxe"
)

// Render the iPXE script that sends a known machine into commissioning.
func ExampleRenderer_Render() {
	r, err := pxe.NewRenderer(nil) // built-in templates
	if err != nil {
		panic(err)
	}
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	script, err := r.Render(pxe.IPXE, pxe.BootParams{
		MAC:         mac,
		Purpose:     pxe.Commission,
		Platform:    pxe.Platform{Arch: pxe.AMD64, Firmware: pxe.UEFI},
		ServerURL:   "http://10.0.0.2:5248",
		Kernel:      "images/ephemeral/amd64/vmlinuz",
		Initrd:      "images/ephemeral/amd64/initrd.img",
		MetadataURL: "http://10.0.0.1:5240/api/v1/metadata/",
		Token:       "s3cret",
	})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(script))
	// Output:
	// #!ipxe
	// # ironkit: commission amd64-uefi 52:54:00:12:34:56
	// imgfree
	// kernel --name kernel http://10.0.0.2:5248/images/ephemeral/amd64/vmlinuz?mac=52:54:00:12:34:56 initrd=initrd console=tty0 console=ttyS0,115200n8 BOOTIF=01-52-54-00-12-34-56 ip=dhcp ironkit.purpose=commission ironkit.metadata_url=http://10.0.0.1:5240/api/v1/metadata/ ironkit.token=s3cret
	// initrd --name initrd http://10.0.0.2:5248/images/ephemeral/amd64/initrd.img?mac=52:54:00:12:34:56
	// boot
}

// A ConfigResolver answers the per-MAC names PXE loaders ask for; an unknown
// MAC enlists.
func ExampleConfigResolver() {
	r, _ := pxe.NewRenderer(nil)
	res := &pxe.ConfigResolver{
		Renderer:  r,
		ServerURL: "http://10.0.0.2:5248",
		Source: pxe.BootSourceFunc(func(_ context.Context, q pxe.BootQuery) (pxe.BootParams, error) {
			return pxe.BootParams{Purpose: pxe.Local}, nil // every machine boots its disk
		}),
	}
	f, err := res.Resolve(context.Background(), pxe.Request{Proto: "tftp", Name: "pxelinux.cfg/01-52-54-00-12-34-56"})
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(f.Body)
	fmt.Print(string(b))
	// Output:
	// # ironkit: local amd64-bios 52:54:00:12:34:56
	// DEFAULT ironkit
	// PROMPT 0
	// TIMEOUT 0
	// LABEL ironkit
	//   LOCALBOOT 0
}
