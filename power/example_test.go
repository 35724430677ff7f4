package power_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
)

// Power a simulated Redfish BMC on with a one-time PXE boot, verified.
func Example() {
	bmc, err := powersim.NewRedfish()
	if err != nil {
		panic(err)
	}
	defer bmc.Close()
	bmc.Machine.OnPowerOn(func(b powersim.Boot) { fmt.Println("machine boots from", b.Device) })

	drv, err := power.NewRegistry().Open("redfish", map[string]string{
		"endpoint": bmc.URL(), "username": "admin", "password": "password",
	})
	if err != nil {
		panic(err)
	}
	defer drv.Close()

	engine := power.NewEngine(power.WithVerify(5*time.Second, 50*time.Millisecond))
	res, err := engine.Do(context.Background(), power.Target{Name: "node-1", Driver: drv}, power.Request{
		Action: power.ActionOn,
		Boot:   &power.BootOverride{Device: power.BootPXE},
	})
	fmt.Println(res.State, res.Verified, err)
	// Output:
	// machine boots from pxe
	// on true <nil>
}

// The schema of a driver is data an API or CLI can show.
func ExampleRegistry_Lookup() {
	d, _ := power.NewRegistry().Lookup("ipmi")
	for _, f := range d.Schema[:4] {
		fmt.Printf("%s %s required=%v secret=%v\n", f.Name, f.Type, f.Required, f.Secret)
	}
	// Output:
	// host host required=true secret=false
	// port int required=false secret=false
	// username string required=true secret=false
	// password string required=false secret=true
}
