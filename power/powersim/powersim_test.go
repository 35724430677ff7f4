package powersim

import (
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMachineTransitions(t *testing.T) {
	cases := map[string]struct {
		start    bool
		boot     Boot
		do       func(*Machine)
		wantOn   bool
		wantBoot string // last boot device; "" when it did not boot
		wantLeft Boot   // override left afterwards
	}{
		"on consumes one-time override": {boot: Boot{Device: DevicePXE}, do: (*Machine).PowerOn, wantOn: true, wantBoot: DevicePXE},
		"persistent override stays":     {boot: Boot{Device: DevicePXE, Persistent: true}, do: (*Machine).PowerOn, wantOn: true, wantBoot: DevicePXE, wantLeft: Boot{Device: DevicePXE, Persistent: true}},
		"no override boots disk":        {do: (*Machine).PowerOn, wantOn: true, wantBoot: DeviceDisk},
		"cycle of an off machine":       {boot: Boot{Device: DevicePXE}, do: (*Machine).PowerCycle, wantLeft: Boot{Device: DevicePXE}},
		"cycle of an on machine":        {start: true, boot: Boot{Device: DevicePXE}, do: (*Machine).PowerCycle, wantOn: true, wantBoot: DevicePXE},
		"off":                           {start: true, do: (*Machine).PowerOff},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := NewMachine()
			m.SetPoweredOn(tc.start)
			m.SetBootOverride(tc.boot)
			tc.do(m)
			if m.PoweredOn() != tc.wantOn || m.LastBoot().Device != tc.wantBoot || m.BootOverride() != tc.wantLeft {
				t.Fatalf("on=%v last=%+v left=%+v", m.PoweredOn(), m.LastBoot(), m.BootOverride())
			}
		})
	}
}

func TestStuckAndDelayedMachine(t *testing.T) {
	m := NewMachine()
	defer m.Stop()
	m.SetStuck(true)
	m.PowerOn()
	if m.PoweredOn() {
		t.Fatal("stuck machine changed state")
	}
	m.SetStuck(false)
	m.SetTransitionDelay(50 * time.Millisecond)
	m.PowerOn()
	if m.PoweredOn() {
		t.Fatal("delayed machine changed state at once")
	}
	time.Sleep(150 * time.Millisecond)
	if !m.PoweredOn() {
		t.Fatal("delayed machine never changed state")
	}
}

func TestRedfishServiceRootIsPublicAndRestIsNot(t *testing.T) {
	s, err := NewRedfish()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &http.Client{Timeout: 2 * time.Second}
	for path, want := range map[string]int{"/redfish/v1/": 200, "/redfish": 200, "/redfish/v1/Systems": 401, "/redfish/v1/Systems/1": 401} {
		resp, err := c.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d; want %d", path, resp.StatusCode, want)
		}
	}
	c.CloseIdleConnections()
}
