package rackrpc

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ironkit/ironkit/internal/rpc"
	"github.com/ironkit/ironkit/store"
)

// A rack's config revision is a digest of the config it would pull, so
// every region computes the same one and a rack pulls exactly when its
// config differs. Building the config reads every machine (O(machines));
// a heartbeat must not. So the region keeps, per rack, the digest of the
// machine- and network-derived part ("base") and rebuilds it only when it
// may have changed:
//
//   - a store change notification of a relevant kind (machines with their
//     interfaces and statuses, fabrics, VLANs, subnets, ranges, addresses;
//     PostgreSQL LISTEN/NOTIFY, so changes committed by any region count)
//     or a resync (the listener reconnected, a subscriber lagged);
//   - the fingerprint of the small network tables (count and newest
//     updated_at of vlans, subnets, ip_ranges) moved: it catches edits made
//     with plain SQL that announce nothing, in one O(VLANs + subnets +
//     ranges) query;
//   - RevisionTTL passed (a backstop for anything else);
//   - no change subscription is running (database unreachable at start):
//     then every heartbeat rebuilds, as before.
//
// The partner racks' addresses change with heartbeats and are read fresh
// each time (O(racks)).

// relevantKinds are the change kinds that may alter a rack's config.
var relevantKinds = map[store.Kind]bool{
	store.KindMachine: true, store.KindFabric: true, store.KindVLAN: true, store.KindSubnet: true,
	store.KindIPRange: true, store.KindIPAddress: true, store.KindResync: true,
}

type revEntry struct {
	gen      uint64
	fp       string
	at       time.Time
	base     string
	partners []int64
}

type revCache struct {
	mu       sync.Mutex
	gen      uint64
	live     bool
	starting bool
	entries  map[int64]revEntry
	builds   atomic.Int64
}

// ConfigBuilds is how many times this server built a rack config from the
// database (config pulls and cache misses): heartbeats with nothing changed
// do not add to it.
func (s *Server) ConfigBuilds() int64 { return s.rev.builds.Load() }

// follow subscribes to store changes (once at a time) and bumps the cache
// generation on every relevant one; it returns when the subscription ends
// (Stop, the store closed), after which the next heartbeat subscribes again.
func (s *Server) ensureFollowing(st *store.Store) {
	s.rev.mu.Lock()
	if s.rev.live || s.rev.starting || s.stopCtx.Err() != nil {
		s.rev.mu.Unlock()
		return
	}
	s.rev.starting = true
	s.rev.mu.Unlock()
	go s.follow(st)
}

func (s *Server) follow(st *store.Store) {
	ch, err := st.Changes(s.stopCtx)
	s.rev.mu.Lock()
	s.rev.starting = false
	if err == nil {
		s.rev.live = true
		s.rev.gen++
	}
	s.rev.mu.Unlock()
	if err != nil {
		if s.stopCtx.Err() == nil {
			s.log.Warn("rack config cache: cannot follow changes; rebuilding configs on every heartbeat until it can", "err", err)
		}
		return
	}
	for c := range ch {
		if relevantKinds[c.Kind] {
			s.rev.mu.Lock()
			s.rev.gen++
			s.rev.mu.Unlock()
		}
	}
	s.rev.mu.Lock()
	s.rev.live = false
	s.rev.gen++
	s.rev.mu.Unlock()
}

// fingerprint summarises the small network tables in one query.
func (s *Server) fingerprint(ctx context.Context) (string, error) {
	var (
		nv, ns, nr int64
		tv, ts, tr sql.NullString
	)
	err := s.db().QueryRowContext(ctx, `SELECT
 (SELECT count(*) FROM vlans), (SELECT CAST(max(updated_at) AS TEXT) FROM vlans),
 (SELECT count(*) FROM subnets), (SELECT CAST(max(updated_at) AS TEXT) FROM subnets),
 (SELECT count(*) FROM ip_ranges), (SELECT CAST(max(updated_at) AS TEXT) FROM ip_ranges)`).Scan(&nv, &tv, &ns, &ts, &nr, &tr)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d/%s/%d/%s/%d/%s", nv, tv.String, ns, ts.String, nr, tr.String), nil
}

// snapshot is what a cache entry is valid for: read before building, so a
// change committed during the build leaves the entry stale.
func (s *Server) snapshot(ctx context.Context) (gen uint64, live bool, fp string, err error) {
	st, _ := s.deps()
	s.ensureFollowing(st)
	s.rev.mu.Lock()
	gen, live = s.rev.gen, s.rev.live
	s.rev.mu.Unlock()
	fp, err = s.fingerprint(ctx)
	return gen, live, fp, err
}

// ConfigRevision is the revision of the config rack would pull now,
// without building it when nothing relevant changed since the last build.
func (s *Server) ConfigRevision(ctx context.Context, rack int64) (string, error) {
	gen, live, fp, err := s.snapshot(ctx)
	if err != nil {
		return "", err
	}
	s.rev.mu.Lock()
	e, ok := s.rev.entries[rack]
	s.rev.mu.Unlock()
	if !ok || !live || e.gen != gen || e.fp != fp || time.Since(e.at) > s.cfg.RevisionTTL {
		cfg, err := s.buildBase(ctx, rack)
		if err != nil {
			return "", err
		}
		e = s.remember(rack, gen, fp, cfg)
	}
	racks, err := s.partnerInfos(ctx, e.partners)
	if err != nil {
		return "", err
	}
	return revision(e.base, racks), nil
}

func (s *Server) remember(rack int64, gen uint64, fp string, cfg baseConfig) revEntry {
	e := revEntry{gen: gen, fp: fp, at: time.Now(), base: digest(cfg.Config), partners: cfg.partners}
	s.rev.mu.Lock()
	if s.rev.entries == nil {
		s.rev.entries = map[int64]revEntry{}
	}
	s.rev.entries[rack] = e
	s.rev.mu.Unlock()
	return e
}

// partnerInfos are the rack infos of the given racks (their reported
// addresses), by id.
func (s *Server) partnerInfos(ctx context.Context, ids []int64) ([]rpc.RackInfo, error) {
	racks, err := s.rackInfos(ctx)
	if err != nil {
		return nil, err
	}
	var out []rpc.RackInfo
	for _, ri := range racks {
		if slices.Contains(ids, ri.ID) {
			out = append(out, ri.RackInfo)
		}
	}
	return out, nil
}

// revision combines the base digest and the partner racks into the
// config's revision.
func revision(base string, racks []rpc.RackInfo) string {
	if racks == nil {
		racks = []rpc.RackInfo{}
	}
	return digest(struct {
		Base  string         `json:"base"`
		Racks []rpc.RackInfo `json:"racks"`
	}{base, racks})
}
