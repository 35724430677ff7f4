package simdc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
)

// forward accepts on ln (opened inside a namespace) and relays each
// connection to the region on the root namespace's loopback.
func forward(t *testing.T, ln net.Listener, to string) {
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r, err := net.DialTimeout("tcp", to, 5*time.Second)
				if err != nil {
					return
				}
				defer r.Close()
				_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
				// No half-close is passed on: Go's HTTP server cancels a
				// request whose client shut its side down, and busybox nc
				// does not shut it down either (it waits for the reply).
				done := make(chan struct{})
				go func() { _, _ = io.Copy(r, c); close(done) }()
				_, _ = io.Copy(c, r)
				c.Close()
				<-done
			}()
		}
	}()
}

// TestEphemeralEnvironmentVM builds the real ephemeral environment with
// scripts/build-ephemeral.sh (Debian's kernel, busybox-static,
// scripts/ephemeral/ironkit-ephemeral.sh) and boots it in QEMU twice: it enlists an unknown machine, then
// commissions it, and the region's inventory matches the VM.
func TestEphemeralEnvironmentVM(t *testing.T) {
	testenv.RequireRoot(t, "network namespaces and a tap for QEMU")
	testenv.RequireBinaries(t, "qemu-system-x86_64", "ip")
	testenv.RequireBinaries(t, "bash", "apt-get", "dpkg", "cpio", "gzip", "modinfo")
	// The environment exactly as scripts/build-ephemeral.sh builds it.
	out := t.TempDir()
	cmd := exec.Command("../../scripts/build-ephemeral.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: scripts/build-ephemeral.sh failed (offline apt?): %v\n%s", err, b)
	}
	kernel, initrd := filepath.Join(out, "vmlinuz"), filepath.Join(out, "initrd.img")

	c := startRegion(t)
	seg := testenv.NewSegment(t)
	host := seg.AddHost(t, "10.79.0.1/24")
	var ln net.Listener
	if err := host.Do(func() (err error) { ln, err = net.Listen("tcp", "10.79.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	forward(t, ln, strings.TrimPrefix(c.base, "http://"))
	region := "http://" + ln.Addr().String()
	const mac = "52:54:00:79:00:01"

	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	boot := func(purpose, md, token string, wait func() bool) {
		t.Helper()
		tap := seg.AddTap(t)
		args := fmt.Sprintf("console=ttyS0 panic=-1 ironkit.purpose=%s ironkit.metadata_url=%s ironkit.ip=10.79.0.50/24", purpose, md)
		if token != "" {
			args += " ironkit.token=" + token
		}
		start := time.Now()
		vm := testenv.StartVM(t, testenv.VMConfig{Netns: seg.Bridge, Tap: tap, MAC: mac, Kernel: kernel, Initrd: initrd, Append: args, Disk: disk,
			Markers: []string{"ironkit-ephemeral: purpose=", "ironkit-ephemeral: done"}})
		deadline := time.Now().Add(150 * time.Second)
		exited := false
		for !wait() {
			if exited {
				t.Fatalf("%s: the VM powered off and the region has no result; serial console:\n%s", purpose, vm.SerialLog())
			}
			select {
			case <-vm.Proc.Done():
				exited = true // one more look at the region first
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: region did not see the result within 150 s; serial console:\n%s", purpose, vm.SerialLog())
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("%s took %s: %v", purpose, time.Since(start).Round(time.Second), vm.Timeline())
		vm.Proc.Kill()
	}

	var m api.Machine
	boot("enlist", region+"/api/v1/metadata", "", func() bool {
		var page api.MachinePage
		c.must("GET", "/api/v1/machines?mac="+mac, nil, &page, 200)
		if len(page.Machines) == 1 {
			m = page.Machines[0]
		}
		return m.SystemID != ""
	})
	if m.Status != lifecycle.New || m.Architecture != "amd64/generic" {
		t.Fatalf("enlisted: %+v", m)
	}
	c.must("PATCH", "/api/v1/machines/"+m.SystemID, map[string]any{"power_type": "manual"}, nil, 200)
	c.must("POST", "/api/v1/machines/"+m.SystemID+"/actions/commission", nil, nil, 200)
	var tok api.MachineToken
	c.must("POST", "/api/v1/machines/"+m.SystemID+"/token", nil, &tok, 201)
	boot("commission", region+"/api/v1/metadata/"+m.SystemID, tok.Token, func() bool {
		c.must("GET", "/api/v1/machines/"+m.SystemID, nil, &m, 200)
		return m.Status == lifecycle.Ready
	})
	var inv api.Inventory
	if err := json.Unmarshal(m.Inventory, &inv); err != nil {
		t.Fatal(err)
	}
	if len(inv.Disks) != 1 || inv.Disks[0].Name != "vda" || inv.Disks[0].Size != 64<<20 {
		t.Errorf("disks %+v, want vda of 64 MiB", inv.Disks)
	}
	// QEMU's defaults: one CPU; 512 MiB of which the kernel reserves some.
	if m.CPUCount != 1 || m.MemoryMiB < 400 || m.MemoryMiB > 512 || len(inv.NICs) != 1 || inv.NICs[0].MAC != mac ||
		inv.Firmware["vendor"] != "QEMU" {
		t.Errorf("inventory does not match the VM: cpu %d memory %d MiB nics %+v firmware %v", m.CPUCount, m.MemoryMiB, inv.NICs, inv.Firmware)
	}

	// Deploy: the environment fetches the image from the region and writes
	// it to the VM's disk, signals installed and reboots.
	image := "ironkit deployed image " + strings.Repeat("x", 1<<20)
	uploadImage(t, c, image)
	c.must("POST", "/api/v1/machines/allocate", api.AllocateRequest{Hostname: m.Hostname}, nil, 200)
	c.must("POST", "/api/v1/machines/"+m.SystemID+"/actions/deploy", api.ActionRequest{OSystem: "ubuntu", DistroSeries: "noble"}, nil, 200)
	boot("deploy", region+"/api/v1/metadata/"+m.SystemID, tok.Token, func() bool {
		var evs []api.Event
		c.must("GET", "/api/v1/events?type=installed&system_id="+m.SystemID, nil, &evs, 200)
		return len(evs) == 1
	})
	got, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte(image)) {
		t.Errorf("the disk does not start with the image: %.40q", got)
	}
}
