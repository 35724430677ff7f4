package rackrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sync/atomic"

	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/store"
)

type fallback = jobs.PowerExecutor

// ErrNoRack is a BMC no live rack can reach.
var ErrNoRack = errors.New("rackrpc: no live rack to reach the BMC")

// SetFallback sets the region-side executor used while no rack is
// registered at all (the single-node default).
func (s *Server) SetFallback(fb jobs.PowerExecutor) {
	s.mu.Lock()
	s.fb = fb
	s.mu.Unlock()
}

// bmcParamKeys are the power parameters that may name the BMC's address,
// in preference order (drivers differ).
var bmcParamKeys = []string{"host", "power_address", "address", "url", "ip"}

// BMCAddr finds the BMC's IP in a driver's parameters (a host, host:port or
// URL); false when none names an IP literal.
func BMCAddr(params map[string]string) (netip.Addr, bool) {
	for _, k := range bmcParamKeys {
		v := params[k]
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err == nil && u.Host != "" {
			v = u.Host
		}
		if h, _, err := net.SplitHostPort(v); err == nil {
			v = h
		}
		if a, err := netip.ParseAddr(v); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// RouteOrder orders live racks for a BMC: racks with an address on the
// BMC's subnet (layer 2) first, then the others (routable); within each
// group the order rotates by spread so work is shared; racks running on the
// machine itself (its MACs) go last. Pure: the tests table it.
func RouteOrder(racks []RackStatus, bmc netip.Addr, machineMACs []string, spread uint64) []int64 {
	var l2, routed, self []int64
	for _, r := range racks {
		if !r.Alive {
			continue
		}
		onMachine := false
		for _, ifc := range r.Interfaces {
			if ifc.MAC != "" && slices.Contains(machineMACs, ifc.MAC) {
				onMachine = true
			}
		}
		switch {
		case onMachine:
			self = append(self, r.ID)
		case bmc.IsValid() && slices.ContainsFunc(r.Addresses, func(p netip.Prefix) bool { return p.Masked().Contains(bmc) }):
			l2 = append(l2, r.ID)
		default:
			routed = append(routed, r.ID)
		}
	}
	rot := func(v []int64) []int64 {
		if len(v) < 2 {
			return v
		}
		k := int(spread % uint64(len(v)))
		return append(v[k:len(v):len(v)], v[:k]...)
	}
	return slices.Concat(rot(l2), rot(routed), self)
}

var spreadCounter atomic.Uint64

// Power implements jobs.PowerExecutor: the operation becomes a command for
// the first eligible rack (RouteOrder); a rack that fails or misses the
// deadline is followed by the next. With no rack registered at all the
// fallback (region-side drivers) runs it.
func (s *Server) Power(ctx context.Context, systemID string, req jobs.PowerRequest) (jobs.PowerState, error) {
	st, _ := s.deps()
	s.mu.RLock()
	fb := s.fb
	s.mu.RUnlock()
	if st == nil {
		return jobs.StateUnknown, errors.New("rackrpc: not attached to a store yet")
	}
	n, err := st.DB().NewSelect().Table("racks").Count(ctx)
	if err != nil {
		return jobs.StateUnknown, err
	}
	if n == 0 {
		if fb == nil {
			return jobs.StateUnknown, fmt.Errorf("machine %s: %w: no rack is registered and no region-side power is configured", systemID, ErrNoRack)
		}
		return fb.Power(ctx, systemID, req)
	}
	m, err := st.Machine(ctx, systemID)
	if err != nil {
		return jobs.StateUnknown, err
	}
	return s.powerVia(ctx, m, req)
}

func (s *Server) powerVia(ctx context.Context, m *store.Machine, req jobs.PowerRequest) (jobs.PowerState, error) {
	if m.Power.Type == "" {
		return jobs.StateUnknown, fmt.Errorf("machine %s has no power type: set power_type and power_parameters", m.SystemID)
	}
	racks, err := s.rackInfos(ctx)
	if err != nil {
		return jobs.StateUnknown, err
	}
	bmc, _ := BMCAddr(m.Power.Params)
	var macs []string
	for _, ifc := range m.Interfaces {
		macs = append(macs, ifc.MAC.String())
	}
	order := RouteOrder(racks, bmc, macs, spreadCounter.Add(1))
	if len(order) == 0 {
		return jobs.StateUnknown, fmt.Errorf("machine %s (BMC %s): %w: every registered rack missed its heartbeats; check `rackd serve` on the racks", m.SystemID, bmc, ErrNoRack)
	}
	args := rpc.PowerArgs{SystemID: m.SystemID, Hostname: m.Hostname, Type: m.Power.Type, Params: m.Power.Params,
		Op: string(req.Op), PXE: req.PXE}
	var errs []error
	for _, rack := range order {
		id, err := s.Enqueue(ctx, rack, rpc.CmdPower, args)
		if err != nil {
			return jobs.StateUnknown, err
		}
		res, err := s.Wait(ctx, id)
		if err == nil && res.OK {
			var pr rpc.PowerResult
			if err := json.Unmarshal(res.Data, &pr); err != nil {
				return jobs.StateUnknown, fmt.Errorf("rack %d: power result: %w", rack, err)
			}
			return jobs.PowerState(pr.State), nil
		}
		if err == nil {
			err = errors.New(res.Error)
		}
		if ctx.Err() != nil {
			return jobs.StateUnknown, ctx.Err()
		}
		s.log.Warn("power through rack failed; trying the next", "system_id", m.SystemID, "rack_id", rack, "err", err)
		errs = append(errs, fmt.Errorf("rack %d: %w", rack, err))
	}
	return jobs.StateUnknown, fmt.Errorf("machine %s %s: every eligible rack failed: %w", m.SystemID, req.Op, errors.Join(errs...))
}

// Probe implements jobs.ConflictProber: a live rack on the addresses'
// subnet pings them. With no rack registered (single node) nothing is
// probed, as without a prober.
func (s *Server) Probe(ctx context.Context, systemID string, addrs []netip.Addr) ([]netip.Addr, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	if st, _ := s.deps(); st != nil {
		if n, err := st.DB().NewSelect().Table("racks").Count(ctx); err == nil && n == 0 {
			return nil, nil
		}
	}
	racks, err := s.rackInfos(ctx)
	if err != nil {
		return nil, err
	}
	order := RouteOrder(racks, addrs[0], nil, spreadCounter.Add(1))
	var errs []error
	for _, rack := range order {
		id, err := s.Enqueue(ctx, rack, rpc.CmdCheckIPs, rpc.CheckIPsArgs{Addrs: addrs})
		if err != nil {
			return nil, err
		}
		res, err := s.Wait(ctx, id)
		if err == nil && res.OK {
			var out rpc.CheckIPsResult
			if err := json.Unmarshal(res.Data, &out); err != nil {
				return nil, err
			}
			return out.InUse, nil
		}
		if err == nil {
			err = errors.New(res.Error)
		}
		errs = append(errs, fmt.Errorf("rack %d: %w", rack, err))
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("machine %s: %w to probe addresses", systemID, ErrNoRack)
	}
	return nil, errors.Join(errs...)
}
