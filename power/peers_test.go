package power_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
)

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// chassisControl is the program ipmi_sim runs for chassis power and boot:
// `PROG get power|boot` prints "power:N"/"boot:X"; `PROG set power N|boot X|reset 1`
// stores the value. State lives in files next to it; calls are logged.
const chassisControl = `#!/bin/sh
D=$(dirname "$0")
echo "$@" >> "$D/calls.log"
while [ $# -gt 0 ]; do
  case "$1" in
    get) shift
      for p in "$@"; do
        case "$p" in
          power) echo "power:$(cat "$D/power" 2>/dev/null || echo 0)";;
          boot) echo "boot:$(cat "$D/boot" 2>/dev/null || echo default)";;
        esac
      done
      exit 0;;
    set) shift
      while [ $# -gt 1 ]; do
        case "$1" in
          power) echo "$2" > "$D/power";;
          boot) echo "$2" > "$D/boot";;
          reset) echo "$2" >> "$D/resets";;
        esac
        shift 2
      done
      exit 0;;
    *) shift;;
  esac
done
`

// startIPMISimulatorProcess writes lan.conf, the emu file and the chassis
// control program, and starts OpenIPMI's ipmi_sim on a loopback port.
func startIPMISimulatorProcess(t *testing.T) (dir string, port int) {
	t.Helper()
	testenv.RequireBinaries(t, "ipmi_sim")
	dir = t.TempDir()
	port = freeUDPPort(t)
	prog := filepath.Join(dir, "chassis-control")
	lan := fmt.Sprintf(`name "ironkit"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s"
  user 1 true  ""      ""         user  10 none md2 md5 straight
  user 2 true  "admin" "password" admin 10 none md2 md5 straight
`, port, prog)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"
	for name, body := range map[string]string{"lan.conf": lan, "sim.emu": emu, "chassis-control": chassisControl} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, exec.Command("ipmi_sim", "-n", "-c", filepath.Join(dir, "lan.conf"),
		"-f", filepath.Join(dir, "sim.emu"), "-s", filepath.Join(dir, "state")))
	return dir, port
}

func readTrim(t *testing.T, path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func TestIPMIAgainstOpenIPMISimulator(t *testing.T) {
	dir, port := startIPMISimulatorProcess(t)
	// Default cipher suites (17, then 3): ipmi_sim has no SHA-256 suites, so
	// this also proves the preference list falls back to 3.
	d, err := power.NewRegistry().Open("ipmi", map[string]string{
		"host": "127.0.0.1", "port": fmt.Sprint(port), "username": "admin", "password": "password",
		"timeout": "500ms", "retransmits": "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e := power.NewEngine(power.WithRetries(10, 100*time.Millisecond, 300*time.Millisecond),
		power.WithVerify(10*time.Second, 200*time.Millisecond), power.WithCallTimeout(5*time.Second))
	target := power.Target{Name: "ipmi_sim", Driver: d}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	st, err := e.Query(ctx, target) // retries while ipmi_sim starts
	if err != nil || st != power.Off {
		t.Fatalf("initial state = %v, %v; want off", st, err)
	}
	res, err := e.Do(ctx, target, power.Request{Action: power.ActionOn, Boot: &power.BootOverride{Device: power.BootPXE}})
	if err != nil || !res.Verified {
		t.Fatalf("PXE power on = %+v, %v", res, err)
	}
	if got := readTrim(t, filepath.Join(dir, "power")); got != "1" {
		t.Fatalf("chassis control power = %q; want 1", got)
	}
	if got := readTrim(t, filepath.Join(dir, "boot")); got != "pxe" {
		t.Fatalf("chassis control boot = %q; want pxe", got)
	}
	if _, err := e.Do(ctx, target, power.Request{Action: power.ActionCycle}); err != nil {
		t.Fatalf("cycle: %v", err)
	}
	if _, err := e.Do(ctx, target, power.Request{Action: power.ActionOff}); err != nil {
		t.Fatalf("off: %v", err)
	}
	if got := readTrim(t, filepath.Join(dir, "power")); got != "0" {
		t.Fatalf("chassis control power = %q after off; want 0", got)
	}
	if st, err := e.Query(ctx, target); err != nil || st != power.Off {
		t.Fatalf("state after off = %v, %v", st, err)
	}
	calls := readTrim(t, filepath.Join(dir, "calls.log"))
	for _, want := range []string{"set power 1", "set boot pxe", "set power 0"} {
		if !strings.Contains(calls, want) {
			t.Errorf("chassis control never ran %q; calls:\n%s", want, calls)
		}
	}
}

func ipmitool(t *testing.T, sim *powersim.IPMIBMC, suite string, args ...string) string {
	t.Helper()
	full := append([]string{"-I", "lanplus", "-C", suite, "-H", sim.Host(), "-p", sim.PortString(),
		"-U", "admin", "-P", "password", "-N", "1", "-R", "2"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ipmitool", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipmitool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestIPMISimulatorWithIpmitool(t *testing.T) {
	testenv.RequireBinaries(t, "ipmitool")
	sim := startIPMISim(t)
	for _, suite := range []string{"3", "17"} {
		t.Run("cipher suite "+suite, func(t *testing.T) {
			sim.SetPoweredOn(false)
			if out := ipmitool(t, sim, suite, "chassis", "power", "status"); !strings.Contains(out, "Chassis Power is off") {
				t.Fatalf("status: %q", out)
			}
			ipmitool(t, sim, suite, "chassis", "bootdev", "pxe")
			if b := sim.BootOverride(); b.Device != powersim.DevicePXE {
				t.Fatalf("after bootdev pxe, override = %+v", b)
			}
			ipmitool(t, sim, suite, "chassis", "power", "on")
			if !sim.PoweredOn() || sim.LastBoot().Device != powersim.DevicePXE {
				t.Fatalf("after power on: on=%v boot=%+v", sim.PoweredOn(), sim.LastBoot())
			}
			if out := ipmitool(t, sim, suite, "chassis", "power", "status"); !strings.Contains(out, "Chassis Power is on") {
				t.Fatalf("status: %q", out)
			}
			before := sim.Counts().Cycles
			ipmitool(t, sim, suite, "chassis", "power", "cycle")
			if sim.Counts().Cycles != before+1 {
				t.Fatal("power cycle did not reach the machine")
			}
			ipmitool(t, sim, suite, "chassis", "power", "off")
			if sim.PoweredOn() {
				t.Fatal("machine on after ipmitool power off")
			}
		})
	}
}
