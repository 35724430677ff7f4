package testenv

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestVMDirectBootCallback boots the Debian kernel with the test initramfs
// directly (no PXE, no DHCP: a static address) and waits for the callback,
// which checks kernel download, module dependencies, the cpio writer and
// the nc callback.
func TestVMDirectBootCallback(t *testing.T) {
	RequireRoot(t, "the VM harness test")
	RequireBinaries(t, "qemu-system-x86_64")
	k := DebianKernel(t)
	seg := NewSegment(t)
	srv := seg.AddHost(t, "10.93.0.1/24")
	tap := seg.AddTap(t)
	cb := NewCallbacks()
	var ln net.Listener
	if err := srv.Do(func() (err error) { ln, err = net.Listen("tcp", "10.93.0.1:8080"); return }); err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: cb, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	initrd := BuildInitramfs(t, InitramfsConfig{
		Kernel:  k,
		Modules: []string{"virtio_pci", "virtio_net"},
		Script:  CallbackScript("10.93.0.1:8080", "10.93.0.50/24"),
	})
	mac := "52:54:00:93:00:50"
	vm := StartVM(t, VMConfig{Netns: seg.Bridge, Tap: tap, MAC: mac, Kernel: k.Vmlinuz, Initrd: initrd,
		Append:  "console=ttyS0 quiet panic=-1",
		Markers: []string{"ironkit-init: start", "ironkit-init: eth0", "ironkit-init: callback sent"}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := cb.Wait(ctx, mac); err != nil {
		t.Fatalf("%v\nserial:\n%s", err, tail(vm.SerialLog(), 3000))
	}
	vm.Mark("callback received")
	for _, e := range vm.Timeline() {
		t.Logf("%6s  %s", e.At, e.Event)
	}
	if !strings.Contains(vm.SerialLog(), "ironkit-init: eth0 "+mac) {
		t.Fatalf("serial log lacks the init's MAC line:\n%s", tail(vm.SerialLog(), 3000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
