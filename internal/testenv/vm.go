package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// VMConfig is a QEMU guest (TCG: no KVM here) that network-boots from a tap
// on a Segment.
type VMConfig struct {
	Netns *Netns // where the tap lives (Segment.Bridge)
	Tap   string // from Segment.AddTap
	MAC   string // e.g. 52:54:00:12:34:56
	UEFI  bool   // q35 + OVMF instead of pc + SeaBIOS
	// NoOptionROM drops the NIC's iPXE option ROM (ipxe-qemu), so OVMF
	// network-boots with its own PXE client (TFTP) instead of iPXE.
	NoOptionROM bool
	// MemoryMB defaults to 512.
	MemoryMB int
	// Kernel, Initrd and Append boot a kernel directly (-kernel) instead
	// of from the network: for testing an initramfs without DHCP.
	Kernel, Initrd, Append string
	// Markers are serial-console strings whose first appearance is
	// recorded in the boot timeline (see VM.Timeline).
	Markers []string
	// Disk, when set, is a raw image file attached as a virtio disk
	// (/dev/vda in the guest).
	Disk string
}

// OVMF firmware files (Debian package ovmf).
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// VM is a running guest.
type VM struct {
	Proc    *Process
	Serial  string // serial console log file
	Started time.Time

	mu       sync.Mutex
	timeline []TimelineEvent
	stop     chan struct{}
	done     chan struct{}
}

// TimelineEvent is the first time a marker appeared on the serial console
// (or an event the test adds with Mark), relative to QEMU's start.
type TimelineEvent struct {
	At    time.Duration
	Event string
}

// StartVM starts qemu-system-x86_64 inside cfg.Netns, network-booting from
// cfg.Tap. It is killed (by PID) when the test ends.
func StartVM(t testing.TB, cfg VMConfig) *VM {
	t.Helper()
	RequireBinaries(t, "qemu-system-x86_64")
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 512
	}
	dir := t.TempDir()
	v := &VM{Serial: filepath.Join(dir, "serial.log"), stop: make(chan struct{}), done: make(chan struct{})}
	args := []string{"-m", fmt.Sprint(cfg.MemoryMB), "-nographic", "-serial", "file:" + v.Serial, "-monitor", "none",
		"-no-reboot", "-accel", "tcg",
		"-netdev", "tap,id=n0,ifname=" + cfg.Tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + cfg.MAC + map[bool]string{true: ",romfile="}[cfg.NoOptionROM]}
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel, "-initrd", cfg.Initrd, "-append", cfg.Append)
	} else {
		args = append(args, "-boot", "n")
	}
	if cfg.Disk != "" {
		args = append(args, "-drive", "file="+cfg.Disk+",format=raw,if=virtio")
	}
	if cfg.UEFI {
		for _, f := range []string{OVMFCode, OVMFVars} {
			if _, err := os.Stat(f); err != nil {
				t.Skipf("skipping: %s missing; `make test-deps` installs ovmf", f)
			}
		}
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		b, err := os.ReadFile(OVMFVars)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vars, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	} else {
		args = append(args, "-machine", "pc")
	}
	cmd := cfg.Netns.Command(context.Background(), "qemu-system-x86_64", args...)
	v.Started = time.Now()
	v.Proc = Start(t, cmd)
	go v.watch(cfg.Markers)
	t.Cleanup(func() {
		close(v.stop)
		<-v.done
	})
	return v
}

// watch polls the serial log and records when each marker first appears.
func (v *VM) watch(markers []string) {
	defer close(v.done)
	seen := map[string]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(v.Serial)
		s := string(b)
		for _, m := range markers {
			if !seen[m] && strings.Contains(s, m) {
				seen[m] = true
				v.Mark(m)
			}
		}
		select {
		case <-v.stop:
			return
		case <-v.Proc.Done():
			v.Mark("qemu exited")
			return
		case <-tick.C:
		}
	}
}

// Mark adds an event to the timeline now.
func (v *VM) Mark(event string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.timeline = append(v.timeline, TimelineEvent{At: time.Since(v.Started).Round(100 * time.Millisecond), Event: event})
}

// Timeline returns the events so far, in order.
func (v *VM) Timeline() []TimelineEvent {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]TimelineEvent(nil), v.timeline...)
}

// SerialLog returns the guest's serial console output so far.
func (v *VM) SerialLog() string {
	b, _ := os.ReadFile(v.Serial)
	return string(b)
}

// Callbacks is an HTTP handler the guest's initramfs calls
// (GET /callback?mac=…) to prove it booted.
type Callbacks struct {
	mu   sync.Mutex
	got  map[string]time.Time
	wake chan struct{}
}

// NewCallbacks returns an empty recorder.
func NewCallbacks() *Callbacks {
	return &Callbacks{got: map[string]time.Time{}, wake: make(chan struct{})}
}

// ServeHTTP records the mac query parameter.
func (c *Callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mac := strings.ToLower(r.URL.Query().Get("mac"))
	c.mu.Lock()
	if _, ok := c.got[mac]; !ok {
		c.got[mac] = time.Now()
	}
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
	fmt.Fprintf(w, "ok %s\n", mac)
}

// Wait waits until mac called back or ctx ends.
func (c *Callbacks) Wait(ctx context.Context, mac string) (time.Time, error) {
	mac = strings.ToLower(mac)
	for {
		c.mu.Lock()
		at, ok := c.got[mac]
		wake := c.wake
		c.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("no callback from %s: %w", mac, ctx.Err())
		case <-wake:
		}
	}
}

// CallbackScript is an initramfs /init body: bring eth0 up, get an address
// with udhcpc (or assign staticCIDR when not empty), report the MAC to
// http://server/callback ("ip:port") with busybox nc (busybox-static's wget
// crashes in a bare initramfs), power off.
func CallbackScript(server, staticCIDR string) string {
	addr := "udhcpc -i eth0 -n -q -t 10 -T 2 -s /usr/share/udhcpc/default.script || echo \"ironkit-init: udhcpc failed\""
	if staticCIDR != "" {
		addr = "ip addr add " + staticCIDR + " dev eth0"
	}
	return `ip link set lo up
ip link set eth0 up
mac=$(cat /sys/class/net/eth0/address)
echo "ironkit-init: eth0 $mac"
` + addr + `
for i in 1 2 3 4 5; do
	if printf 'GET /callback?mac=%s HTTP/1.0\r\nHost: %s\r\n\r\n' "$mac" "` + server + `" | nc ` + strings.Replace(server, ":", " ", 1) + ` | grep -q "ok $mac"; then
		echo "ironkit-init: callback sent"
		break
	fi
	sleep 1
done
poweroff -f
`
}
