package powersim_test

import (
	"fmt"

	"github.com/ironkit/ironkit/power/powersim"
)

// Start an IPMI BMC on a loopback port and let the simulated machine react
// to being powered on.
func ExampleNewIPMI() {
	bmc, err := powersim.NewIPMI(powersim.WithIPMICredentials("admin", "password"))
	if err != nil {
		panic(err)
	}
	defer bmc.Close()
	bmc.OnPowerOn(func(b powersim.Boot) { fmt.Println("booting from", b.Device) })
	bmc.SetBootOverride(powersim.Boot{Device: powersim.DevicePXE})
	bmc.PowerOn() // what a chassis power on command does
	fmt.Println(bmc.PoweredOn(), bmc.Host())
	// Output:
	// booting from pxe
	// true 127.0.0.1
}
