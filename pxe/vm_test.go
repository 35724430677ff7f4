package pxe

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/ironkit/ironkit/dhcpsrv"
	"github.com/ironkit/ironkit/internal/testenv"
)

// TestVMNetworkBoot boots a real QEMU guest (TCG) from dhcpsrv + pxe in a
// network namespace, BIOS and UEFI, and waits for the test initramfs to call
// back with its MAC. The boot timeline is logged.
//
//	bios-ipxe:     SeaBIOS → QEMU's iPXE ROM (user class iPXE) → dhcpsrv
//	               hands http://…/ipxe/boot.ipxe → chain to
//	               ipxe/i386-pcbios/<mac>.ipxe → kernel, initrd over HTTP.
//	bios-pxelinux: iPXE ROM without an iPXE script configured → dhcpsrv
//	               hands pxelinux.0 → TFTP: ldlinux.c32,
//	               pxelinux.cfg/01-<mac>, kernel, initrd.
//	uefi:          OVMF's own PXE (NIC option ROM removed) → dhcpsrv hands
//	               snponly.efi → TFTP → iPXE → boot.ipxe →
//	               ipxe/x86_64-efi/<mac>.ipxe → kernel, initrd over HTTP.
//	uefi-grub:     OVMF's PXE → grubx64.efi → TFTP: grub/grub.cfg-01-<mac>
//	               (GRUB 2.06 asks for it before grub/grub.cfg), kernel,
//	               initrd.
func TestVMNetworkBoot(t *testing.T) {
	testenv.RequireRoot(t, "the VM network-boot test (namespaces, tap, QEMU)")
	testenv.RequireBinaries(t, "qemu-system-x86_64")
	if _, err := os.Stat("/usr/lib/ipxe/snponly.efi"); err != nil {
		t.Skip("skipping: Debian package ipxe is not installed; `make test-deps` installs it")
	}
	k := testenv.DebianKernel(t)
	initrd := testenv.BuildInitramfs(t, testenv.InitramfsConfig{
		Kernel:  k,
		Modules: []string{"virtio_pci", "virtio_net"},
		Script:  testenv.CallbackScript("10.95.0.1:8080", ""),
	})
	root := t.TempDir()
	if _, err := ImportBootloaders(context.Background(), "/", root, DebianBootloaders); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{k.Vmlinuz: "images/ephemeral/amd64/vmlinuz", initrd: "images/ephemeral/amd64/initrd.img"} {
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(root, dst)), 0o755))
		b, err := os.ReadFile(src)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(root, dst), b, 0o644))
	}
	ipxeScript := "http://10.95.0.1:5248/ipxe/boot.ipxe"
	grub := true
	if _, err := BuildGRUBNetImage(context.Background(), "x86_64-efi", "", filepath.Join(root, "grubx64.efi")); err != nil {
		t.Logf("no GRUB network image, skipping the uefi-grub boot: %v", err)
		grub = false
	}
	for _, tc := range []struct {
		name   string
		cfg    testenv.VMConfig
		script string
		uefi   string   // UEFI loader dhcpsrv hands out
		want   []string // in the boot timeline
	}{
		{"bios-ipxe", testenv.VMConfig{MAC: "52:54:00:95:00:01"}, ipxeScript, "",
			[]string{"http /ipxe/boot.ipxe ok", "http /ipxe/i386-pcbios/52-54-00-95-00-01.ipxe ok", "http /images/ephemeral/amd64/vmlinuz ok"}},
		{"bios-pxelinux", testenv.VMConfig{MAC: "52:54:00:95:00:03"}, "", "",
			[]string{"tftp pxelinux.0 ok", "tftp pxelinux.cfg/01-52-54-00-95-00-03 ok", "tftp /images/ephemeral/amd64/vmlinuz ok", "tftp /images/ephemeral/amd64/initrd.img ok"}},
		{"uefi", testenv.VMConfig{MAC: "52:54:00:95:00:02", UEFI: true, NoOptionROM: true}, ipxeScript, "snponly.efi",
			[]string{"tftp snponly.efi ok", "http /ipxe/x86_64-efi/52-54-00-95-00-02.ipxe ok", "http /images/ephemeral/amd64/initrd.img ok"}},
		{"uefi-grub", testenv.VMConfig{MAC: "52:54:00:95:00:04", UEFI: true, NoOptionROM: true}, "", "grubx64.efi",
			[]string{"tftp grubx64.efi ok", "tftp /grub/grub.cfg-01-52-54-00-95-00-04 ok", "tftp /images/ephemeral/amd64/vmlinuz ok", "tftp /images/ephemeral/amd64/initrd.img ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each boot has its own namespaces and servers; go test runs
			// GOMAXPROCS (2 here) of them at once.
			t.Parallel()
			if tc.uefi == "grubx64.efi" && !grub {
				t.Skip("skipping: grub-mkimage or grub-efi-amd64-bin missing; `make test-deps` installs them")
			}
			bootVM(t, root, tc.cfg, tc.script, tc.uefi, tc.want)
		})
	}
}

// markHandler turns server log records into boot-timeline events.
type markHandler struct {
	vm atomic.Pointer[testenv.VM]
}

func (h *markHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *markHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *markHandler) WithGroup(string) slog.Handler            { return h }
func (h *markHandler) Handle(_ context.Context, r slog.Record) error {
	vm := h.vm.Load()
	if vm == nil || !strings.HasPrefix(r.Message, "pxe request") {
		return nil
	}
	var proto, file, res string
	var bytes int64
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "proto":
			proto = a.Value.String()
		case "file":
			file = a.Value.String()
		case "result":
			res = a.Value.String()
		case "bytes":
			bytes = a.Value.Int64()
		}
		return true
	})
	vm.Mark(fmt.Sprintf("server: %s %s %s (%d bytes)", proto, file, res, bytes))
	return nil
}

func bootVM(t *testing.T, root string, vmcfg testenv.VMConfig, ipxeScript, uefiLoader string, want []string) {
	mac := vmcfg.MAC
	const srvIP = "10.95.0.1"
	seg := testenv.NewSegment(t)
	srv := seg.AddHost(t, srvIP+"/24")
	tap := seg.AddTap(t)
	testenv.SendRouterAdvertisements(t, srv.Netns, srv.Iface)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	marks := &markHandler{}
	log := slog.New(marks)
	files := dirFiles(t, root)
	renderer, err := NewRenderer(nil)
	must(t, err)
	resolver := &ConfigResolver{
		Renderer:  renderer,
		ServerURL: "http://" + srvIP + ":5248",
		Source: BootSourceFunc(func(_ context.Context, q BootQuery) (BootParams, error) {
			return BootParams{
				Purpose:     Commission,
				Kernel:      "images/ephemeral/amd64/vmlinuz",
				Initrd:      "images/ephemeral/amd64/initrd.img",
				MetadataURL: "http://" + srvIP + ":5240/api/v1/metadata/",
				Token:       "vm-test",
				Console:     "ttyS0,115200",
				Extra:       []string{"quiet", "panic=-1"},
			}, nil
		}),
	}
	metrics := newMetrics()
	tftpSrv := NewTFTPServer(files, WithAddr(srvIP+":69"), WithResolver(resolver), WithLogger(log), WithMetrics(metrics))
	httpSrv := NewHTTPServer(files, WithAddr(srvIP+":5248"), WithResolver(resolver), WithLogger(log), WithMetrics(metrics))
	cb := testenv.NewCallbacks()
	cbSrv := &http.Server{Handler: cb, ReadHeaderTimeout: 5 * time.Second}
	var cbLn net.Listener
	must(t, srv.Do(func() error {
		if err := tftpSrv.Listen(ctx); err != nil {
			return err
		}
		if err := httpSrv.Listen(ctx); err != nil {
			return err
		}
		var err error
		cbLn, err = net.Listen("tcp", srvIP+":8080")
		return err
	}))
	var vmRef atomic.Pointer[testenv.VM]
	dhcp, err := dhcpsrv.New(dhcpsrv.Config{
		Interfaces: []string{srv.Iface},
		Subnets: []dhcpsrv.Subnet{{
			Name: "vm", Prefix: netip.MustParsePrefix("10.95.0.0/24"), Interface: srv.Iface,
			ServerAddr: netip.MustParseAddr(srvIP),
			Pools:      []dhcpsrv.Pool{{Start: netip.MustParseAddr("10.95.0.100"), End: netip.MustParseAddr("10.95.0.199")}},
			LeaseTime:  time.Hour,
			// No PXE options here: dhcpsrv itself answers PXE clients with
			// option 60 "PXEClient" and option 43 discovery control, which
			// iPXE (no ProxyDHCP wait) and OVMF (loads the file) need.
		}},
		Boot: dhcpsrv.Boot{
			IPXEScript: ipxeScript,
			Loaders: map[iana.Arch]string{
				iana.INTEL_X86PC: "pxelinux.0",
				iana.EFI_X86_64:  uefiLoader,
				iana.EFI_BC:      uefiLoader,
			},
		},
	}, dhcpsrv.WithLeaseHook(func(e dhcpsrv.LeaseEvent) {
		if vm := vmRef.Load(); vm != nil {
			vm.Mark(fmt.Sprintf("dhcpsrv: %v %s → %s", e.Type, e.Lease.MAC, e.Lease.Addr))
		}
	}))
	must(t, err)
	must(t, srv.Do(func() error { return dhcp.Listen(ctx) }))

	errc := make(chan error, 4)
	go func() { errc <- srv.Do(func() error { return tftpSrv.Serve(ctx) }) }()
	go func() { errc <- httpSrv.Serve(ctx) }()
	go func() { errc <- dhcp.Run(ctx) }()
	go func() {
		err := cbSrv.Serve(cbLn)
		if err == http.ErrServerClosed {
			err = nil
		}
		errc <- err
	}()
	t.Cleanup(func() {
		cancel()
		cbSrv.Close()
		for i := 0; i < 4; i++ {
			if err := <-errc; err != nil {
				t.Errorf("server: %v", err)
			}
		}
	})

	vmcfg.Netns, vmcfg.Tap = seg.Bridge, tap
	// IRONKIT_PXE_TCPDUMP=file.pcap captures the boot's UDP (debugging aid).
	if f := os.Getenv("IRONKIT_PXE_TCPDUMP"); f != "" {
		testenv.Start(t, srv.Command(context.Background(), "tcpdump", "-i", "eth0", "-n", "-w", f, "udp"))
	}
	vmcfg.Markers = []string{"Booting from ROM", ">>Start PXE over IPv4", "iPXE initialising devices", "Configuring (net0",
		"PXELINUX", "Welcome to GRUB", "ironkit-init: start", "ironkit-init: eth0", "ironkit-init: lease"}
	vm := testenv.StartVM(t, vmcfg)
	marks.vm.Store(vm)
	vmRef.Store(vm)
	wctx, wcancel := context.WithTimeout(ctx, 150*time.Second)
	defer wcancel()
	_, err = cb.Wait(wctx, mac)
	vm.Mark("callback received from " + mac)
	for _, e := range vm.Timeline() {
		t.Logf("%7s  %s", e.At, e.Event)
	}
	if err != nil {
		s := vm.SerialLog()
		if len(s) > 4000 {
			s = s[len(s)-4000:]
		}
		t.Fatalf("%v\nserial console (tail):\n%s", err, s)
	}
	tl := fmt.Sprint(vm.Timeline())
	for _, w := range want {
		if !strings.Contains(tl, w) {
			t.Errorf("boot timeline lacks %q", w)
		}
	}
}
