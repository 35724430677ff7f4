package backend

import (
	"context"
	"fmt"

	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/power"
)

// DriverPower is the region-side jobs.PowerExecutor: it reads the machine's
// power type and (decrypted) parameters from the store and runs the power
// package's drivers through its Engine (retries, verification). It is the
// single-node default; with racks (issue 8) the rack RPC implements
// jobs.PowerExecutor by sending the request to a rack that reaches the BMC,
// and may fall back to this one when no rack answers, as MAAS does.
type DriverPower struct {
	b      *Backend
	reg    *power.Registry
	engine *power.Engine
}

// NewDriverPower returns the region-side executor over reg and engine.
func (b *Backend) NewDriverPower(reg *power.Registry, engine *power.Engine) *DriverPower {
	return &DriverPower{b: b, reg: reg, engine: engine}
}

// Power implements jobs.PowerExecutor.
func (d *DriverPower) Power(ctx context.Context, systemID string, req jobs.PowerRequest) (jobs.PowerState, error) {
	m, err := d.b.st.Machine(ctx, systemID)
	if err != nil {
		return jobs.StateUnknown, err
	}
	if m.Power.Type == "" {
		return jobs.StateUnknown, fmt.Errorf("machine %s has no power type: set power_type and power_parameters", systemID)
	}
	drv, err := d.reg.Open(m.Power.Type, m.Power.Params)
	if err != nil {
		return jobs.StateUnknown, fmt.Errorf("machine %s: %w", systemID, err)
	}
	defer drv.Close()
	t := power.Target{Name: m.Hostname, Driver: drv}
	if req.Op == jobs.PowerQuery {
		st, err := d.engine.Query(ctx, t)
		return jobs.PowerState(st), err
	}
	preq := power.Request{Action: power.Action(req.Op)}
	if req.PXE {
		preq.Boot = &power.BootOverride{Device: power.BootPXE}
	}
	res, err := d.engine.Do(ctx, t, preq)
	if err != nil {
		return jobs.StateUnknown, err
	}
	return jobs.PowerState(res.State), nil
}
