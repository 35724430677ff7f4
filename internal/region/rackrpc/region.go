package rackrpc

import (
	"context"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/power"
)

// OpenRegion opens a region with the rack RPC mounted at /rpc/v1 and power
// routed to racks (region-side drivers while no rack is registered). o's RPC
// and Power are replaced; cfg configures the Server (its Logger and
// Registerer default to o's).
func OpenRegion(ctx context.Context, rc config.Config, o region.Options, cfg Config) (*region.Service, *Server, error) {
	if cfg.Logger == nil && o.Logger != nil {
		cfg.Logger = o.Logger.With("part", "rackrpc")
	}
	if cfg.Registerer == nil && o.Registry != nil {
		cfg.Registerer = o.Registry
	}
	s, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	o.RPC, o.Power, o.RackCommands = s, s, s
	if !cfg.NoAddressProbe {
		o.Prober = s
	}
	svc, err := region.Open(ctx, rc, o)
	if err != nil {
		return nil, nil, err
	}
	be := svc.Backend()
	s.Attach(svc.Store(), RegistrarFunc(func(ctx context.Context, name, version string) (int64, string, error) {
		r, tok, err := be.RegisterRack(ctx, name, version)
		return r.ID, tok, err
	}))
	var env power.Env
	if o.Logger != nil {
		env.Logger = o.Logger
	}
	s.SetFallback(be.NewDriverPower(power.NewRegistry(power.WithEnv(env)), power.NewEngine(power.WithLogger(cfg.Logger))))
	return svc, s, nil
}
