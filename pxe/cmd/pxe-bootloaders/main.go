// Command pxe-bootloaders imports network boot loaders into a boot root:
// iPXE (undionly.kpxe, ipxe.efi, snponly.efi) from Debian's ipxe package,
// PXELINUX and its modules from pxelinux and syslinux-common, and a GRUB
// network image (grubx64.efi) built with grub-mkimage from
// grub-efi-amd64-bin. It reads the installed packages, or .deb files given
// with -deb (extracted with dpkg-deb), and writes SHA256SUMS.
//
//	apt-get install ipxe pxelinux syslinux-common grub-efi-amd64-bin
//	go run ./pxe/cmd/pxe-bootloaders -dst /var/lib/ironkit/boot
//	apt-get download ipxe && go run ./pxe/cmd/pxe-bootloaders -dst DIR -deb ipxe_*.deb -grub=false
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/ironkit/ironkit/pxe"
)

func main() {
	dst := flag.String("dst", "", "boot root to import into (required)")
	debs := flag.String("deb", "", "comma-separated .deb files to import from instead of the installed packages")
	grub := flag.Bool("grub", true, "build grubx64.efi with grub-mkimage")
	flag.Parse()
	if *dst == "" {
		fmt.Fprintln(os.Stderr, "pxe-bootloaders: -dst is required (the directory the TFTP/HTTP boot servers serve)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *dst, *debs, *grub); err != nil {
		fmt.Fprintln(os.Stderr, "pxe-bootloaders:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dst, debs string, grub bool) error {
	src := "/"
	if debs != "" {
		tmp, err := os.MkdirTemp("", "pxe-bootloaders-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		for _, d := range strings.Split(debs, ",") {
			if err := pxe.ExtractDeb(ctx, d, tmp); err != nil {
				return err
			}
		}
		src = tmp
	}
	files, err := pxe.ImportBootloaders(ctx, src, dst, pxe.DebianBootloaders)
	if err != nil {
		return err
	}
	if grub {
		modDir := filepath.Join(src, "usr/lib/grub/x86_64-efi")
		f, err := pxe.BuildGRUBNetImage(ctx, "x86_64-efi", modDir, filepath.Join(dst, "grubx64.efi"))
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	for _, f := range files {
		fmt.Printf("%s  %s  %d bytes\n", f.SHA256, f.Name, f.Size)
	}
	return nil
}
