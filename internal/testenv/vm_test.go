package testenv

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
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

func TestRouterAdvertisements(t *testing.T) {
	RequireRoot(t, "the router advertisement test")
	seg := NewSegment(t)
	a := seg.AddHost(t, "10.96.0.1/24")
	b := seg.AddHost(t, "10.96.0.2/24")
	var c *icmp.PacketConn
	if err := b.Do(func() (err error) { c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::"); return }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	SendRouterAdvertisements(t, a.Netns, a.Iface)
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_ = c.SetReadDeadline(deadline)
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		if n > 0 && buf[0] == byte(ipv6.ICMPTypeRouterAdvertisement) {
			t.Logf("RA from %v, %d bytes", from, n)
			return
		}
	}
	t.Fatal("no router advertisement arrived within 5s")
}
