// Command power shows the power package on its own: it starts simulated
// BMCs (IPMI and Redfish) on loopback, PXE-boots every machine through the
// engine, and queries them all in bulk.
//
//	go run ./examples/power
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/power/powersim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "power example:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := power.NewRegistry(power.WithEnv(power.Env{Logger: log}))
	engine := power.NewEngine(power.WithLogger(log), power.WithVerify(10*time.Second, 100*time.Millisecond),
		power.WithBootDelay(50*time.Millisecond))

	var targets []power.Target
	for i := range 4 {
		name := fmt.Sprintf("node-%d", i+1)
		var drv power.Driver
		var m *powersim.Machine
		var err error
		if i%2 == 0 {
			bmc, serr := powersim.NewIPMI()
			if serr != nil {
				return serr
			}
			defer bmc.Close()
			m = bmc.Machine
			drv, err = reg.Open("ipmi", map[string]string{"host": bmc.Host(), "port": bmc.PortString(),
				"username": "admin", "password": "password"})
		} else {
			bmc, serr := powersim.NewRedfish()
			if serr != nil {
				return serr
			}
			defer bmc.Close()
			m = bmc.Machine
			drv, err = reg.Open("redfish", map[string]string{"endpoint": bmc.URL(), "username": "admin", "password": "password"})
		}
		if err != nil {
			return err
		}
		defer drv.Close()
		m.OnPowerOn(func(b powersim.Boot) { fmt.Printf("%s: powered on, booting from %s\n", name, b.Device) })
		targets = append(targets, power.Target{Name: name, Driver: drv})
	}

	for _, t := range targets {
		res, err := engine.Do(ctx, t, power.Request{Action: power.ActionOn,
			Boot: &power.BootOverride{Device: power.BootPXE, Mode: power.BootModeUEFI}})
		if err != nil {
			return err
		}
		fmt.Printf("%s: %s (verified %v)\n", t.Name, res.State, res.Verified)
	}
	for r := range engine.QueryAll(ctx, targets, 2) {
		fmt.Printf("query %s: %s %v in %s\n", r.Name, r.State, r.Err, r.Duration.Round(time.Millisecond))
	}
	return nil
}
