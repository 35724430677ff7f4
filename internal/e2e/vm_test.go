package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/pxe"
)

// The segment the test builds (all inside its own namespaces):
//
//	10.81.0.1  regiond (cmd/regiond, SQLite)   :5240
//	10.81.0.2  rackd (cmd/rackd)               DHCP, TFTP :69, HTTP boot :5248
//	10.81.0.3  BMCs: OpenIPMI ipmi_sim          :623 (bios VM), :624 (uefi VM)
//	.100–.150  the rack's dynamic range (the VMs)
const (
	regionIP = "10.81.0.1"
	rackIP   = "10.81.0.2"
	bmcIP    = "10.81.0.3"
	subnet   = "10.81.0.0/24"
	// The deployed image's boot resource (os/arch/subarch/release/...).
	imageOS, imageRelease = "ironkit", "e2e"
	// imagePath is the root image in the rack's image cache (what its HTTP
	// boot server serves once it synced the upload from the region).
	imagePath = imageOS + "/amd64/generic/" + imageRelease + "/generic/root.img"
	diskBytes = 64 << 20
)

// vmSpec is one machine of the test.
type vmSpec struct {
	name    string
	mac     string
	uefi    bool
	bmcPort int
	// erase releases with disk erasure (one more network boot); without
	// it the release powers the machine off and returns it to Ready.
	erase bool
}

// Both machines release with erase (one more network boot each, in
// parallel).
var vms = []vmSpec{
	{name: "bios", mac: "52:54:00:81:00:01", bmcPort: 623, erase: true},
	{name: "uefi", mac: "52:54:00:81:00:02", uefi: true, bmcPort: 624, erase: true},
}

// world is the region, the rack and the network the machines share.
type world struct {
	dir                 string
	seg                 *testenv.Segment
	region, rack, bmc   *testenv.Host
	regiond, rackd      *logged
	http                *http.Client
	key                 string
	ephemeral, deployed string
	started             time.Time
}

func (w *world) api(t *testing.T) testenv.APIClient {
	return testenv.APIClient{T: t, Base: "http://" + regionIP + ":5240/api/v1", Key: w.key, HTTP: w.http}
}

// must calls the API and fails t unless the status is want.
func (w *world) must(t *testing.T, method, path string, body, out any, want int) {
	t.Helper()
	code, b := w.api(t).Do(method, path, body, out)
	if code != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, code, want, b)
	}
}

// TestVMProvisioning is ironkit end to end: two QEMU VMs (SeaBIOS and
// OVMF), unknown to the region, go New → Commissioning → Ready →
// Allocated → Deploying → Deployed → Disk erasing → Ready, driven only
// through the region's REST API. regiond and rackd are the cmd binaries,
// in network namespaces on one bridge; the rack (registered with the
// shared secret) serves DHCP, TFTP and HTTP boot; each VM is the chassis of
// an OpenIPMI ipmi_sim BMC whose chassis-control program
// (testdata/chassis-control) starts and stops QEMU, and the region powers
// the machines through the rack over IPMI. Each VM PXE-boots the ephemeral
// environment (scripts/build-ephemeral.sh) to enlist, commission, deploy
// the image scripts/build-deployed-image.sh builds (fetched from the rack's
// image cache, which synced it from the region; the image then boots from
// the disk, reads its NoCloud seed and signals "booted") and erase. The
// per-phase timeline of each machine is logged and its order asserted.
// It runs only with IRONKIT_E2E=1 (make test-e2e): ~6 minutes on TCG.
func TestVMProvisioning(t *testing.T) {
	if os.Getenv("IRONKIT_E2E") == "" {
		t.Skip("skipping: the VM end-to-end test takes ~6 min on TCG; run it with IRONKIT_E2E=1 (make test-e2e)")
	}
	testenv.RequireRoot(t, "network namespaces, taps, QEMU, ipmi_sim and rackd's DHCP")
	testenv.RequireBinaries(t, "qemu-system-x86_64", "ip", "ipmi_sim", "ipmitool", "go",
		"bash", "apt-get", "dpkg", "cpio", "gzip", "modinfo",
		"sfdisk", "mkfs.vfat", "mcopy", "syslinux", "grub-mkimage")
	for _, f := range []string{"/usr/lib/ipxe/snponly.efi", "/usr/lib/PXELINUX/lpxelinux.0", "/usr/lib/grub/x86_64-efi/linux.mod",
		"/usr/lib/syslinux/mbr/gptmbr.bin", testenv.OVMFCode, testenv.OVMFVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("skipping: %s missing; `make test-deps` installs ipxe, pxelinux, syslinux-common, grub-efi-amd64-bin and ovmf", f)
		}
	}
	w := &world{dir: t.TempDir(), started: time.Now()}
	w.build(t)
	t.Logf("%6s  artifacts built (ephemeral environment, deployed image, regiond, rackd)", since(w.started))

	w.seg = testenv.NewSegment(t)
	w.region = w.seg.AddHost(t, regionIP+"/24")
	w.rack = w.seg.AddHost(t, rackIP+"/24")
	w.bmc = w.seg.AddHost(t, bmcIP+"/24")
	// iPXE otherwise waits ~13 s for IPv6 autoconfiguration on every boot.
	testenv.SendRouterAdvertisements(t, w.rack.Netns, w.rack.Iface)
	w.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = w.region.Do(func() error {
				c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}}
	t.Cleanup(w.http.CloseIdleConnections)
	w.startRegion(t)
	rackID := w.startRack(t)
	w.network(t, rackID)
	w.uploadImage(t)
	w.waitRackImage(t)
	t.Logf("%6s  region and rack up, network and image configured through the API", since(w.started))

	// Taps first: Segment is not safe for concurrent use.
	taps := make([]string, len(vms))
	for i := range vms {
		taps[i] = w.seg.AddTap(t)
	}
	t.Run("machines", func(t *testing.T) {
		for i, spec := range vms {
			t.Run(spec.name, func(t *testing.T) {
				t.Parallel()
				w.provision(t, spec, taps[i])
			})
		}
	})
	t.Logf("%6s  total", since(w.started))
}

func since(t0 time.Time) string { return fmt.Sprintf("%.0fs", time.Since(t0).Seconds()) }

// build makes the ephemeral environment, the deployed image and the two
// daemons, concurrently. The first two are kept in the test cache
// (testenv.CacheDir), keyed by the build scripts and the kernel package.
func (w *world) build(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	key := artifactKey(t)
	cache := filepath.Join(testenv.CacheDir(t), "e2e", key)
	w.ephemeral, w.deployed = filepath.Join(cache, "ephemeral"), filepath.Join(cache, "image", "deployed.img")
	_, err := os.Stat(filepath.Join(cache, ".complete"))
	cached := err == nil
	tmp := cache + ".tmp"
	type job struct {
		what string
		cmd  *exec.Cmd
		apt  bool // a failure may be an offline apt or a missing package: skip
	}
	jobs := []job{{"go build cmd/regiond cmd/rackd", exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(w.dir, "bin")+"/",
		"github.com/ironkit/ironkit/cmd/regiond", "github.com/ironkit/ironkit/cmd/rackd"), false}}
	if !cached {
		_ = os.RemoveAll(tmp)
		jobs = append(jobs,
			job{"scripts/build-ephemeral.sh", exec.CommandContext(ctx, "../../scripts/build-ephemeral.sh", filepath.Join(tmp, "ephemeral")), true},
			job{"scripts/build-deployed-image.sh", exec.CommandContext(ctx, "../../scripts/build-deployed-image.sh", filepath.Join(tmp, "image")), true})
	}
	type result struct {
		job
		out []byte
		err error
	}
	res := make(chan result, len(jobs))
	for _, j := range jobs {
		go func() {
			out, err := j.cmd.CombinedOutput()
			res <- result{j, out, err}
		}()
	}
	var skip, fail string
	for range jobs {
		r := <-res
		switch {
		case r.err == nil:
		case r.apt:
			skip = fmt.Sprintf("skipping: %s failed (offline apt or a missing package?): %v\n%s", r.what, r.err, r.out)
		default:
			fail = fmt.Sprintf("%s: %v\n%s", r.what, r.err, r.out)
		}
	}
	switch {
	case fail != "":
		t.Fatal(fail)
	case skip != "":
		t.Skip(skip)
	}
	if !cached {
		must(t, os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644))
		_ = os.RemoveAll(cache)
		must(t, os.Rename(tmp, cache))
		// Artifacts of earlier scripts are of no further use.
		old, _ := filepath.Glob(filepath.Join(filepath.Dir(cache), "*"))
		for _, o := range old {
			if o != cache {
				_ = os.RemoveAll(o)
			}
		}
	}
}

// artifactKey hashes what the ephemeral environment and the deployed
// image are built from: the scripts and the kernel package apt would fetch.
func artifactKey(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	files, _ := filepath.Glob("../../scripts/ephemeral/*")
	files = append(files, "../../scripts/build-ephemeral.sh", "../../scripts/build-deployed-image.sh")
	for _, f := range files {
		b, err := os.ReadFile(f)
		must(t, err)
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		t.Skipf("skipping: apt-cache depends linux-image-amd64: %v (run apt-get update)", err)
	}
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (w *world) bin(name string) string { return filepath.Join(w.dir, "bin", name) }

// startRegion initialises regiond's SQLite database, creates the admin and
// serves the region inside its namespace; the test logs in over the API.
func (w *world) startRegion(t *testing.T) {
	t.Helper()
	dir := filepath.Join(w.dir, "region")
	cfg := filepath.Join(dir, "regiond.yaml")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(cfg, fmt.Appendf(nil, `listen: %s:5240
database: %s/region.db
images_dir: %s/images
jobs:
  sweep_interval: 2s
`, regionIP, dir, dir), 0o644))
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(w.bin("regiond"), append([]string{"--config", cfg}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("regiond %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init")
	run("createadmin", "--username", "admin", "--password", "e2e-password", "--email", "admin@example.com")
	w.regiond = startLogged(t, w.region.Command(context.Background(), w.bin("regiond"), "--config", cfg, "serve"), filepath.Join(dir, "regiond.log"))
	deadline := time.Now().Add(60 * time.Second)
	for {
		var v api.Version
		code, _ := w.tryAPI(t, "GET", "/version", nil, &v)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("regiond did not answer within 60 s:\n%s", tail(w.regiond.Output(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var login api.LoginReply
	w.must(t, "POST", "/login", api.Login{Username: "admin", Password: "e2e-password"}, &login, 201)
	w.key = login.APIKey.Key
}

// tryAPI is one API call that tolerates transport errors (a daemon still
// starting): code 0 then.
func (w *world) tryAPI(t *testing.T, method, path string, body, out any) (int, []byte) {
	req, err := http.NewRequest(method, "http://"+regionIP+":5240/api/v1"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if out != nil && resp.StatusCode == 200 {
		_ = json.Unmarshal(b.Bytes(), out)
	}
	return resp.StatusCode, b.Bytes()
}

// startRack registers rackd with the region's shared secret and serves it
// in its namespace: DHCP on eth0, TFTP and HTTP boot from its boot dir
// (bootloaders from the Debian packages, the ephemeral environment as
// ephemeral/amd64/{vmlinuz,initrd.img}). It returns the rack's id.
func (w *world) startRack(t *testing.T) int64 {
	t.Helper()
	dir := filepath.Join(w.dir, "rack")
	cfg := filepath.Join(dir, "rackd.yaml")
	secret, err := exec.Command(w.bin("regiond"), "--config", filepath.Join(w.dir, "region", "regiond.yaml"), "secret", "show").Output()
	if err != nil {
		t.Fatalf("regiond secret show: %v", err)
	}
	out, err := w.rack.Command(context.Background(), w.bin("rackd"), "register", "--url", "http://"+regionIP+":5240",
		"--secret", strings.TrimSpace(string(secret)), "--name", "rack-e2e", "--config", cfg,
		"--state-dir", filepath.Join(dir, "state")).CombinedOutput()
	if err != nil {
		t.Fatalf("rackd register: %v\n%s", err, out)
	}
	boot := filepath.Join(dir, "boot")
	if _, err := pxe.ImportBootloaders(context.Background(), "/", boot, pxe.DebianBootloaders); err != nil {
		t.Fatal(err)
	}
	// rackd hands UEFI clients bootx64.efi (dhcpsrv.DefaultLoaders): GRUB's
	// network image, which reads the rack's grub/grub.cfg-01-<mac>.
	if _, err := pxe.BuildGRUBNetImage(context.Background(), "x86_64-efi", "", filepath.Join(boot, "bootx64.efi")); err != nil {
		t.Fatal(err)
	}
	must(t, os.MkdirAll(filepath.Join(boot, "ephemeral", "amd64"), 0o755))
	for _, f := range []string{"vmlinuz", "initrd.img"} {
		copyFile(t, filepath.Join(w.ephemeral, f), filepath.Join(boot, "ephemeral", "amd64", f))
	}
	b, err := os.ReadFile(cfg)
	must(t, err)
	b = append(b, fmt.Appendf(nil, "boot_dir: %s\ntftp_addr: \":69\"\nhttp_addr: \":5248\"\ndhcp_interfaces: [eth0]\nrogue_dhcp_interval: \"off\"\n", boot)...)
	must(t, os.WriteFile(cfg, b, 0o600))
	w.rackd = startLogged(t, w.rack.Command(context.Background(), w.bin("rackd"), "serve", "--config", cfg), filepath.Join(dir, "rackd.log"))

	var racks []api.Rack
	w.must(t, "GET", "/racks", nil, &racks, 200)
	if len(racks) != 1 || racks[0].Name != "rack-e2e" {
		t.Fatalf("racks after registration: %+v", racks)
	}
	return racks[0].ID
}

// network makes the rack the primary DHCP server of the untagged VLAN of a
// new fabric with the segment's subnet and a dynamic range, over the API.
func (w *world) network(t *testing.T, rackID int64) {
	t.Helper()
	var fab api.Fabric
	w.must(t, "POST", "/fabrics", api.Fabric{Name: "e2e"}, &fab, 201)
	var vlans []api.VLAN
	w.must(t, "GET", "/vlans", nil, &vlans, 200)
	var vlan api.VLAN
	for _, v := range vlans {
		if v.FabricID == fab.ID && v.VID == 0 {
			vlan = v
		}
	}
	if vlan.ID == 0 {
		t.Fatalf("fabric %d has no untagged VLAN: %+v", fab.ID, vlans)
	}
	var sn api.Subnet
	w.must(t, "POST", "/subnets", api.Subnet{Name: "e2e", VLANID: vlan.ID, CIDR: subnet}, &sn, 201)
	w.must(t, "POST", "/ipranges", api.IPRange{SubnetID: sn.ID, Type: "dynamic", StartIP: "10.81.0.100", EndIP: "10.81.0.150"}, nil, 201)
	// The controllers' and BMCs' addresses are not the region's to hand
	// out: deployments get static addresses from .151 up.
	w.must(t, "POST", "/ipranges", api.IPRange{SubnetID: sn.ID, Type: "reserved", StartIP: "10.81.0.1", EndIP: "10.81.0.99",
		Comment: "region, rack, BMCs"}, nil, 201)
	w.must(t, "PATCH", fmt.Sprintf("/vlans/%d", vlan.ID), map[string]any{"dhcp_on": true, "primary_rack": rackID}, nil, 200)
	// The rack serves DHCP once it has pulled the new config.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r api.Rack
		w.must(t, "GET", fmt.Sprintf("/racks/%d", rackID), nil, &r, 200)
		var svcs []struct{ Name, Status, Info string }
		_ = json.Unmarshal(r.Services, &svcs)
		ok := false
		for _, s := range svcs {
			ok = ok || (s.Name == "dhcp" && s.Status == "running")
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rack does not serve DHCP on eth0 60 s after the VLAN change: services %s\nrackd:\n%s", r.Services, tail(w.rackd.Output(), 3000))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// uploadImage stores the deployed image as the root image (root.img) of a
// custom boot resource, with its SHA-256 verified by the region.
func (w *world) uploadImage(t *testing.T) {
	t.Helper()
	img, err := os.ReadFile(w.deployed)
	must(t, err)
	req, err := http.NewRequest("PUT", "http://"+regionIP+":5240/api/v1/boot-resources/"+imageOS+"/amd64/generic/"+imageRelease+
		"/generic/1/root.img?complete=true", bytes.NewReader(img))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+w.key)
	resp, err := w.http.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload the deployed image: HTTP %d", resp.StatusCode)
	}
}

// waitRackImage waits for the rack's image cache to sync the upload from
// the region: its HTTP boot server serves the image at imagePath with the
// upload's SHA-256 (what the ephemeral environment fetches first).
func (w *world) waitRackImage(t *testing.T) {
	t.Helper()
	img, err := os.ReadFile(w.deployed)
	must(t, err)
	want := sha256.Sum256(img)
	url := "http://" + rackIP + ":5248/" + imagePath
	deadline := time.Now().Add(90 * time.Second)
	for {
		status := ""
		resp, err := w.http.Get(url)
		if err == nil {
			h := sha256.New()
			_, err = io.Copy(h, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 && bytes.Equal(h.Sum(nil), want[:]) {
				return
			}
			status = resp.Status
		} else {
			status = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rack does not serve the uploaded image at %s 90 s after the upload (last: %s)\nrackd:\n%s", url, status, problems(w.rackd.Output()))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkImageFromRack: the machine fetched the image from the rack (its
// HTTP boot server served the whole image to the machine's MAC, rackd's
// request log says so) and not from the region (its console says which).
func (m *machine) checkImageFromRack(t *testing.T) {
	t.Helper()
	st, err := os.Stat(m.w.deployed)
	must(t, err)
	var served []string
	for _, l := range strings.Split(m.w.rackd.Output(), "\n") {
		if strings.Contains(l, "msg=\"pxe request\"") && strings.Contains(l, "proto=http") &&
			strings.Contains(l, "file=/"+imagePath+" ") && strings.Contains(l, "mac="+m.spec.mac+" ") {
			served = append(served, l)
		}
	}
	full := false
	for _, l := range served {
		full = full || (strings.Contains(l, " status=200 ") && strings.Contains(l, fmt.Sprintf(" bytes=%d ", st.Size())))
	}
	if !full {
		t.Errorf("rackd's log has no full (%d bytes, 200) HTTP transfer of /%s to %s; its requests for it: %q", st.Size(), imagePath, m.spec.mac, served)
	}
	s := m.serialLog()
	if !strings.Contains(s, "ironkit-ephemeral: image from the rack: http://"+rackIP+":5248/"+imagePath) {
		t.Errorf("the serial console does not say the image came from the rack (ironkit-ephemeral: image from the rack: …)")
	}
	if strings.Contains(s, "ironkit-ephemeral: image from the region") {
		t.Errorf("the machine fell back to the region's image_url")
	}
}

// machine is one VM under test: its BMC, its disk and its timeline.
type machine struct {
	w        *world
	spec     vmSpec
	dir      string // the BMC's directory: chassis state, serial log
	disk     string
	serial   string
	ipmi     *testenv.Process
	t0       time.Time
	mu       sync.Mutex
	phases   []phase
	systemID string
	// firmwareErrors is how many OVMF PXE network-device errors were
	// answered with a reset (see waitFor).
	firmwareErrors int
}

type phase struct {
	at   time.Duration
	what string
}

func (m *machine) mark(t *testing.T, what string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := phase{time.Since(m.t0).Round(100 * time.Millisecond), what}
	if n := len(m.phases); n > 0 {
		t.Logf("%s %7s  (+%5.1fs)  %s", m.spec.name, p.at, (p.at - m.phases[n-1].at).Seconds(), what)
	} else {
		t.Logf("%s %7s  %s", m.spec.name, p.at, what)
	}
	m.phases = append(m.phases, p)
}

// provision runs one VM through the whole lifecycle.
func (w *world) provision(t *testing.T, spec vmSpec, tap string) {
	m := &machine{w: w, spec: spec, dir: filepath.Join(w.dir, "bmc-"+spec.name)}
	m.disk = filepath.Join(m.dir, "disk.img")
	m.serial = filepath.Join(m.dir, "serial.log")
	m.startBMC(t, tap)
	t.Cleanup(func() {
		if t.Failed() {
			m.diagnose(t)
		}
	})
	m.t0 = time.Now()

	// An operator switches the unknown machine on at its BMC.
	m.ipmitool(t, "chassis", "bootdev", "pxe")
	m.ipmitool(t, "chassis", "power", "on")
	m.mark(t, "power on at the BMC (ipmitool), machine unknown to the region")
	var mach api.Machine
	m.waitFor(t, "the machine to enlist", 4*time.Minute, func() bool {
		var page api.MachinePage
		w.must(t, "GET", "/machines?mac="+spec.mac, nil, &page, 200)
		if len(page.Machines) == 1 {
			mach = page.Machines[0]
		}
		return mach.SystemID != ""
	})
	m.systemID = mach.SystemID
	m.mark(t, fmt.Sprintf("enlisted: %s (%s) %s", mach.SystemID, mach.Hostname, mach.StatusTitle))
	if mach.Status != lifecycle.New || mach.Architecture != "amd64/generic" {
		t.Fatalf("enlisted machine: status %s architecture %s, want New amd64/generic", mach.Status, mach.Architecture)
	}
	// Enlistment does not report a BMC here: the operator sets it.
	w.must(t, "PATCH", "/machines/"+m.systemID, map[string]any{"power_type": "ipmi", "power_parameters": map[string]string{
		"host": bmcIP, "port": fmt.Sprint(spec.bmcPort), "username": "admin", "password": "password", "cipher_suites": "3"}}, nil, 200)

	w.must(t, "POST", "/machines/"+m.systemID+"/actions/commission", api.ActionRequest{}, nil, 200)
	m.mark(t, "commission (power params set to IPMI via the API)")
	mach = m.waitStatus(t, lifecycle.Ready, 4*time.Minute)
	m.mark(t, "commissioned: Ready")
	m.checkInventory(t, mach)

	w.must(t, "POST", "/machines/allocate", api.AllocateRequest{Hostname: mach.Hostname}, nil, 200)
	w.must(t, "POST", "/machines/"+m.systemID+"/actions/deploy", api.ActionRequest{OSystem: imageOS, DistroSeries: imageRelease}, nil, 200)
	m.mark(t, "allocated, deploy")
	m.waitFor(t, "the installed signal", 4*time.Minute, func() bool {
		var now api.Machine
		w.must(t, "GET", "/machines/"+m.systemID, nil, &now, 200)
		if lifecycle.IsFailed(now.Status) {
			t.Fatalf("%s: the machine went to %s waiting for the installed signal", spec.name, now.StatusTitle)
		}
		var evs []api.Event
		w.must(t, "GET", "/events?type=installed&system_id="+m.systemID, nil, &evs, 200)
		return len(evs) > 0
	})
	m.mark(t, "installed: image written, NoCloud seed, reboot")
	m.checkImageFromRack(t)
	mach = m.waitStatus(t, lifecycle.Deployed, 3*time.Minute)
	m.mark(t, "Deployed: the image booted from disk and signalled booted")
	m.checkDeployed(t)

	w.must(t, "POST", "/machines/"+m.systemID+"/actions/release", api.ActionRequest{Erase: spec.erase}, nil, 200)
	if spec.erase {
		m.mark(t, "release with erase")
		m.waitStatus(t, lifecycle.Ready, 4*time.Minute)
		m.mark(t, "erased: Ready")
	} else {
		m.mark(t, "release (no erase)")
		m.waitStatus(t, lifecycle.Ready, 2*time.Minute)
		m.mark(t, "released: Ready")
	}
	m.waitFor(t, "the region to power the machine off", 90*time.Second, func() bool { return !m.running() })
	m.mark(t, "powered off by the region")
	if spec.erase {
		m.checkErased(t)
	}
	m.checkOrder(t)
}

// startBMC writes the BMC's lan.conf, emulator file, chassis-control
// program and VM description, and starts ipmi_sim in the BMC namespace.
func (m *machine) startBMC(t *testing.T, tap string) {
	t.Helper()
	w, spec := m.w, m.spec
	must(t, os.MkdirAll(filepath.Join(m.dir, "state"), 0o755))
	must(t, os.WriteFile(m.disk, nil, 0o644))
	must(t, os.Truncate(m.disk, diskBytes))
	rom := ""
	args := []string{"-m", "512", "-smp", "1", "-accel", "tcg", "-display", "none", "-monitor", "none",
		"-chardev", "file,id=ser,path=" + m.serial + ",append=on", "-serial", "chardev:ser",
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-drive", "file=" + m.disk + ",format=raw,if=none,id=d0"}
	if spec.uefi {
		// OVMF's own PXE client (no iPXE option ROM): DHCP → TFTP
		// bootx64.efi (GRUB) → the rack's grub.cfg.
		rom = ",romfile="
		vars := filepath.Join(m.dir, "OVMF_VARS.fd")
		copyFile(t, testenv.OVMFVars, vars)
		args = append(args, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+testenv.OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	} else {
		// SeaBIOS + the NIC's iPXE ROM: DHCP → TFTP lpxelinux.0 → the
		// rack's pxelinux.cfg/01-<mac>. SeaBIOS logs its boot choices
		// ("Booting from Hard Disk...") on the debug console.
		args = append(args, "-machine", "pc",
			"-chardev", "file,id=dbg,path="+filepath.Join(m.dir, "firmware.log")+",append=on", "-device", "isa-debugcon,iobase=0x402,chardev=dbg")
	}
	env := fmt.Sprintf("NETNS=%q\nNAME=%q\nQEMU_ARGS=%q\nNET_DEVICE=%q\nDISK_DEVICE=%q\n", w.seg.Bridge.Name, "ironkit-e2e-"+spec.name,
		strings.Join(args, " "), "virtio-net-pci,netdev=n0,mac="+spec.mac+rom, "virtio-blk-pci,drive=d0")
	must(t, os.WriteFile(filepath.Join(m.dir, "vm.env"), []byte(env), 0o644))
	prog := filepath.Join(m.dir, "chassis-control")
	copyFile(t, "testdata/chassis-control", prog)
	must(t, os.Chmod(prog, 0o755))
	lan := fmt.Sprintf(`name "ironkit-%s"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcd%02x
  endlan
  chassis_control "%s"
  user 1 true  ""      ""         user  10 none md2 md5 straight
  user 2 true  "admin" "password" admin 10 none md2 md5 straight
`, spec.name, bmcIP, spec.bmcPort, spec.bmcPort%256, prog)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"
	must(t, os.WriteFile(filepath.Join(m.dir, "lan.conf"), []byte(lan), 0o644))
	must(t, os.WriteFile(filepath.Join(m.dir, "sim.emu"), []byte(emu), 0o644))
	// The VM is started by the chassis program, not by the test: stop it
	// (by the PID QEMU wrote) before the namespaces go.
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(m.dir, "qemu.pid")); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	m.ipmi = testenv.Start(t, w.bmc.Command(context.Background(), "ipmi_sim", "-n", "-c", filepath.Join(m.dir, "lan.conf"),
		"-f", filepath.Join(m.dir, "sim.emu"), "-s", filepath.Join(m.dir, "state")))
}

// ipmitool runs one ipmitool command against the VM's BMC (retrying while
// ipmi_sim starts).
func (m *machine) ipmitool(t *testing.T, args ...string) {
	t.Helper()
	var out []byte
	var err error
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err = m.w.bmc.Command(ctx, "ipmitool", append([]string{"-I", "lanplus", "-C", "3", "-H", bmcIP, "-p", fmt.Sprint(m.spec.bmcPort),
			"-U", "admin", "-P", "password"}, args...)...).CombinedOutput()
		cancel()
		if err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("ipmitool %v: %v\n%s\nipmi_sim:\n%s", args, err, out, m.ipmi.Output())
}

// running reports whether the chassis' QEMU is alive.
func (m *machine) running() bool {
	b, err := os.ReadFile(filepath.Join(m.dir, "qemu.pid"))
	if err != nil {
		return false
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

func (m *machine) waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out after %s waiting for %s", m.spec.name, d, what)
		}
		m.firmwareRetry(t)
		time.Sleep(500 * time.Millisecond)
	}
}

// firmwareRetry resets the VM at its BMC, as an operator would, when
// OVMF's PXE client gave up on a fresh start with "PXE-E07: Network device
// error" (seen about once in ten runs right after the chassis restarted
// QEMU; OVMF then falls through to its shell and never retries). At most
// two resets per machine: a rack that does not answer still fails the test.
func (m *machine) firmwareRetry(t *testing.T) {
	if !m.spec.uefi {
		return
	}
	n := strings.Count(m.serialLog(), "PXE-E07: Network device error")
	if n <= m.firmwareErrors || m.firmwareErrors >= 2 {
		return
	}
	m.firmwareErrors = n
	t.Logf("%s: OVMF's PXE client reported a network device error (%d so far); resetting the VM at its BMC", m.spec.name, n)
	m.ipmitool(t, "chassis", "power", "reset")
}

// waitStatus waits for the machine's status; a Failed status ends the test.
func (m *machine) waitStatus(t *testing.T, want lifecycle.Status, d time.Duration) api.Machine {
	t.Helper()
	var mach api.Machine
	m.waitFor(t, "status "+want.Title(), d, func() bool {
		m.w.must(t, "GET", "/machines/"+m.systemID, nil, &mach, 200)
		if lifecycle.IsFailed(mach.Status) {
			t.Fatalf("%s: the machine went to %s waiting for %s", m.spec.name, mach.StatusTitle, want.Title())
		}
		return mach.Status == want
	})
	return mach
}

// checkInventory compares commissioning's inventory with the VM.
func (m *machine) checkInventory(t *testing.T, mach api.Machine) {
	t.Helper()
	var inv api.Inventory
	if err := json.Unmarshal(mach.Inventory, &inv); err != nil {
		t.Fatalf("inventory: %v: %s", err, mach.Inventory)
	}
	// -smp 1 -m 512: the kernel keeps some memory for itself.
	if mach.CPUCount != 1 || inv.CPU.Count != 1 {
		t.Errorf("cores: machine %d, inventory %d; the VM has 1", mach.CPUCount, inv.CPU.Count)
	}
	if mach.MemoryMiB < 400 || mach.MemoryMiB > 512 {
		t.Errorf("memory %d MiB; the VM has 512 MiB", mach.MemoryMiB)
	}
	if len(inv.Disks) != 1 || inv.Disks[0].Name != "vda" || inv.Disks[0].Size != diskBytes {
		t.Errorf("disks %+v; the VM has vda of %d bytes", inv.Disks, diskBytes)
	}
	if len(inv.NICs) != 1 || inv.NICs[0].MAC != m.spec.mac || len(mach.MACAddresses) != 1 || mach.MACAddresses[0] != m.spec.mac {
		t.Errorf("NICs %+v, machine MACs %v; the VM has one NIC %s", inv.NICs, mach.MACAddresses, m.spec.mac)
	}
	if inv.Firmware["vendor"] != "QEMU" {
		t.Errorf("firmware %v; want vendor QEMU", inv.Firmware)
	}
}

// checkDeployed: the installed system (not the ephemeral environment)
// signalled, after reading the seed the ephemeral environment wrote.
func (m *machine) checkDeployed(t *testing.T) {
	t.Helper()
	// The installed system logs after the region answered its signal.
	m.waitFor(t, "the installed system's log line", 30*time.Second, func() bool {
		return strings.Contains(m.serialLog(), "ironkit-deployed: booted signalled")
	})
	// The rack's boot config said local and the firmware went on to the
	// disk: GRUB's "Local disk" entry (UEFI), SeaBIOS's disk boot after
	// the network boot (BIOS).
	if m.spec.uefi {
		if s := m.serialLog(); !strings.Contains(s, "Booting `Local disk'") {
			t.Errorf("the serial console shows no GRUB local-disk entry after the installation")
		}
	} else {
		// The VM's boot order is network first, so the installed system
		// (whose "booted signalled" line above exists only on the disk)
		// came up through a fourth network boot (enlist, commission,
		// deploy, then the reboot after "installed") that returned to the
		// firmware (PXELINUX LOCALBOOT 0). SeaBIOS prints "Booting from
		// Hard Disk" on that path in some runs and not in others, so the
		// network boots are what is counted.
		fw, _ := os.ReadFile(filepath.Join(m.dir, "firmware.log"))
		var boots []string
		for _, l := range strings.Split(string(fw), "\n") {
			if strings.HasPrefix(l, "Booting from") || strings.Contains(l, "Boot failed") {
				boots = append(boots, l)
			}
		}
		if n := strings.Count(string(fw), "Booting from ROM"); n < 4 {
			t.Errorf("SeaBIOS made %d network boots before the installed system came up, want 4 (enlist, commission, deploy, local); its boot lines:\n%s", n, strings.Join(boots, "\n"))
		}
	}
	s := m.serialLog()
	for _, want := range []string{"ironkit-ephemeral: NoCloud seed written to /dev/vda1", "ironkit-deployed: seed on /dev/vda1"} {
		if !strings.Contains(s, want) {
			t.Errorf("serial console lacks %q", want)
		}
	}
	// The installed system configured the static address the region
	// claimed for the deployment, from the seed's network-config.
	var mach api.Machine
	m.w.must(t, "GET", "/machines/"+m.systemID, nil, &mach, 200)
	static := ""
	for _, ip := range mach.IPAddresses {
		if strings.Contains(s, "ironkit-deployed: network: static "+ip+"/24") {
			static = ip
		}
	}
	if static == "" {
		t.Errorf("the installed system did not configure any of the machine's addresses %v statically", mach.IPAddresses)
	}
	var evs []api.Event
	m.w.must(t, "GET", "/events?type=deployment-done&system_id="+m.systemID, nil, &evs, 200)
	if len(evs) != 1 || evs[0].Actor != "machine:"+m.systemID {
		t.Errorf("deployment-done events %+v; want one from machine:%s", evs, m.systemID)
	}
}

// checkErased: the erase zeroed the start of the disk (the image's GPT
// and partition).
func (m *machine) checkErased(t *testing.T) {
	t.Helper()
	f, err := os.Open(m.disk)
	must(t, err)
	defer f.Close()
	b := make([]byte, 16<<20)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexFunc(b, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("disk not erased: non-zero byte at offset %d", i)
	}
}

// checkOrder logs the region's per-phase timeline of the machine (its
// events, from the API) and asserts the phases happened in order.
func (m *machine) checkOrder(t *testing.T) {
	t.Helper()
	var tl api.Timeline
	m.w.must(t, "GET", "/machines/"+m.systemID+"/timeline", nil, &tl, 200)
	var got []string
	t.Logf("region timeline of %s (%s), %.0f s:", tl.SystemID, m.spec.name, tl.TotalSeconds)
	for _, p := range tl.Phases {
		got = append(got, string(p.Status))
		steps := make([]string, len(p.Steps))
		for i, s := range p.Steps {
			steps[i] = s.Type
		}
		t.Logf("  %-16s %6.1fs  %s", p.Status.Title(), p.DurationSeconds, strings.Join(steps, ", "))
	}
	want := []lifecycle.Status{lifecycle.New, lifecycle.Commissioning, lifecycle.Ready, lifecycle.Allocated,
		lifecycle.Deploying, lifecycle.Deployed, lifecycle.Releasing, lifecycle.Ready}
	if m.spec.erase {
		want[6] = lifecycle.DiskErasing
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("phases %v, want %v", got, want)
	}
	// The VM's own view, in its serial console: each boot in order.
	s := m.serialLog()
	at := 0
	// (Only lines written before the environment's report: the region may
	// power the VM off as soon as it has the report.)
	markers := []string{"purpose=enlist", "purpose=commission", "purpose=deploy", "NoCloud seed written", "ironkit-deployed: booted signalled"}
	if m.spec.erase {
		markers = append(markers, "ironkit.erase=1")
	}
	for _, marker := range markers {
		i := strings.Index(s[at:], marker)
		if i < 0 {
			t.Errorf("serial console: %q missing after offset %d (boots out of order?)", marker, at)
			continue
		}
		at += i
	}
}

func (m *machine) serialLog() string {
	b, _ := os.ReadFile(m.serial)
	return string(b)
}

// diagnose logs what a failed run needs: the chassis calls, the serial
// console, rackd's and regiond's logs.
func (m *machine) diagnose(t *testing.T) {
	calls, _ := os.ReadFile(filepath.Join(m.dir, "calls.log"))
	q, _ := os.ReadFile(filepath.Join(m.dir, "qemu.log"))
	t.Logf("%s chassis calls:\n%s\nqemu:\n%s\nserial console (tail):\n%s", m.spec.name, calls, q, tail(m.serialLog(), 6000))
	for _, d := range []*logged{m.w.rackd, m.w.regiond} {
		t.Logf("%s warnings and errors:\n%s\n%s (tail):\n%s", d.path, problems(d.Output()), d.path, tail(d.Output(), 2500))
	}
}

// logged is a daemon whose output goes to a file (readable while the
// test runs, for the failure report).
type logged struct {
	*testenv.Process
	path string
}

func startLogged(t *testing.T, cmd *exec.Cmd, path string) *logged {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	cmd.Stdout, cmd.Stderr = f, f
	return &logged{testenv.Start(t, cmd), path}
}

// Output returns what the daemon printed so far.
func (l *logged) Output() string {
	b, _ := os.ReadFile(l.path)
	return string(b)
}

// problems are a daemon's WARN and ERROR lines.
func problems(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			b.WriteString(l + "\n")
		}
	}
	return tail(b.String(), 8000)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
