package images

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// CacheConfig configures a rack Cache. Dir, Regions and RackID are required.
type CacheConfig struct {
	// Dir holds the cache: verified files by digest, partial downloads and
	// the last manifest (so the rack serves while no region answers).
	Dir string
	// Regions are region base URLs ("http://region1:5240"), tried in order
	// until one answers; any region can serve any complete resource.
	Regions []string
	// RackID identifies the rack to the region (manifest selection, inventory).
	RackID string
	// Window, if set, restricts scheduled syncs to a daily period; nil
	// means sync right after every change. SyncNow ignores it.
	Window *Window
	// BandwidthLimit caps the download rate in bytes per second across all
	// transfers together (Parallel files share it); 0: no cap.
	BandwidthLimit int64
	// Parallel is how many files a sync downloads at once; default 2
	// (DefaultParallel). Each transfer keeps about 1 MiB of buffers.
	Parallel int
	// HTTPClient; default has connect and header deadlines (bodies are
	// guarded by StallTimeout instead of a whole-request timeout).
	HTTPClient *http.Client
	// Logger; default discards.
	Logger *slog.Logger
	// Registerer for Prometheus collectors; nil: not registered.
	Registerer prometheus.Registerer
	// OnProgress receives transfer progress (bytes, rate, ETA). With
	// Parallel > 1 reports of different files interleave; calls are never
	// concurrent.
	OnProgress ProgressFunc
	// OnSync receives the result of every sync attempt.
	OnSync func(SyncResult)
	// WaitTimeout is how long one manifest long-poll waits; default 60s.
	WaitTimeout time.Duration
	// RetryInterval after a failed sync; default 30s.
	RetryInterval time.Duration
	// StallTimeout aborts a transfer that receives nothing for this long
	// (it resumes on the next try); default 60s.
	StallTimeout time.Duration
	// VerifyOnStart re-hashes every cached file when Run starts.
	VerifyOnStart bool
	// NoFsync installs files without flushing them to disk first. Installs
	// stay atomic for readers and across kill -9 (the page cache survives);
	// only a power loss can leave a bad file, which VerifyOnStart catches.
	// Faster where the disk is slower than the network: the rack's files can
	// always be fetched again. Default: flush (fsync) before every install.
	NoFsync bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Parallel downloads of a rack sync (CacheConfig.Parallel).
const (
	DefaultParallel = 2
	MaxParallel     = 16
)

// SyncResult reports one sync.
type SyncResult struct {
	Manual    bool
	Region    string // region that answered the manifest request
	Fetched   int    // files downloaded
	Bytes     int64  // bytes of files downloaded
	Removed   int    // files garbage-collected
	Inventory Inventory
	Err       error
}

// Cache is the rack's image cache: it holds what the region says the rack
// needs, verified, and serves only complete sets.
type Cache struct {
	cfg     CacheConfig
	blobs   *blobStore
	fetch   *fetcher
	log     *slog.Logger
	metrics *metrics
	client  *http.Client

	syncMu sync.Mutex // one sync at a time

	mu       sync.RWMutex
	state    cacheState
	index    map[string]File // logical path → file, active sets only
	lastErr  string
	notifyCh chan struct{}
}

// cacheState is persisted in Dir/state.json after every change.
type cacheState struct {
	Manifest Manifest `json:"manifest"` // last manifest received
	Active   []Set    `json:"active"`   // per key, the newest set held complete
}

// NewCache opens (creating) the cache in cfg.Dir. It serves what it holds
// from then on, before any region answers.
func NewCache(cfg CacheConfig) (*Cache, error) {
	if len(cfg.Regions) == 0 {
		return nil, fmt.Errorf("%w: CacheConfig.Regions is empty; list at least one region URL such as \"http://region:5240\"", ErrInvalid)
	}
	for i, r := range cfg.Regions {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: CacheConfig.Regions[%d]=%q is not an http(s) URL", ErrInvalid, i, r)
		}
		cfg.Regions[i] = strings.TrimSuffix(r, "/")
	}
	if cfg.RackID == "" {
		return nil, fmt.Errorf("%w: CacheConfig.RackID is empty; set it to the rack's id", ErrInvalid)
	}
	if cfg.Window != nil {
		if err := cfg.Window.Validate(); err != nil {
			return nil, err
		}
	}
	if cfg.Parallel < 0 || cfg.Parallel > MaxParallel {
		return nil, fmt.Errorf("%w: CacheConfig.Parallel=%d; use 1 to %d (0: default %d)", ErrInvalid, cfg.Parallel, MaxParallel, DefaultParallel)
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.BandwidthLimit < 0 {
		return nil, fmt.Errorf("%w: CacheConfig.BandwidthLimit=%d; use 0 for no cap", ErrInvalid, cfg.BandwidthLimit)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = newHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 60 * time.Second
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 30 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 60 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	bs, err := newBlobStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer, "images_rack")
	if err != nil {
		return nil, err
	}
	c := &Cache{cfg: cfg, blobs: bs, log: cfg.Logger, metrics: m, client: cfg.HTTPClient, notifyCh: make(chan struct{}, 1)}
	var lim *rate.Limiter
	if cfg.BandwidthLimit > 0 {
		burst := int(min(max(cfg.BandwidthLimit/10, 16<<10), 1<<20))
		lim = rate.NewLimiter(rate.Limit(cfg.BandwidthLimit), burst)
	}
	onProgress := cfg.OnProgress
	if fn := onProgress; fn != nil {
		var mu sync.Mutex // transfers run in parallel; the callback is not called concurrently
		onProgress = func(p Progress) { mu.Lock(); defer mu.Unlock(); fn(p) }
	}
	c.fetch = &fetcher{
		client: cfg.HTTPClient, limiter: lim, log: cfg.Logger, onProgress: onProgress,
		stallTimeout: cfg.StallTimeout, callEvery: 500 * time.Millisecond, logEvery: 5 * time.Second,
		now: cfg.Now, metrics: m, noFsync: cfg.NoFsync,
	}
	if err := c.loadState(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cache) statePath() string { return filepath.Join(c.cfg.Dir, "state.json") }

func (c *Cache) loadState() error {
	b, err := os.ReadFile(c.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		c.setState(cacheState{})
		return nil
	}
	if err != nil {
		return err
	}
	var st cacheState
	if err := json.Unmarshal(b, &st); err != nil {
		// Written atomically, so this is outside damage: start over; the
		// verified blobs are still reused by digest.
		c.log.Error("image cache state unreadable; starting from an empty manifest", "path", c.statePath(), "err", err)
		st = cacheState{}
	}
	c.setState(st)
	return nil
}

func (c *Cache) saveState() error {
	c.mu.RLock()
	b, err := json.MarshalIndent(c.state, "", "  ")
	c.mu.RUnlock()
	if err != nil {
		return err
	}
	return writeFileAtomic(c.statePath(), b)
}

// setState installs st and rebuilds the name index from the active sets.
func (c *Cache) setState(st cacheState) {
	idx := map[string]File{}
	for _, s := range st.Active {
		for _, f := range s.Files {
			idx[s.Key.Path()+"/"+f.Name] = f
			if s.Key.OS == BootloaderOS {
				idx[f.Name] = f
			}
		}
	}
	c.mu.Lock()
	c.state, c.index = st, idx
	c.mu.Unlock()
}

// Open returns the named file if it belongs to a complete, verified set:
// "<os>/<arch>/<subarch>/<release>/<flavour>/<file>" (the newest version
// held) or, for bootloader sets, the bare file name. A file being
// downloaded is never returned. The caller closes the file.
func (c *Cache) Open(name string) (*os.File, error) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	c.mu.RLock()
	f, ok := c.index[name]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in a complete image set on this rack", ErrNotFound, name)
	}
	return c.blobs.open(f.SHA256)
}

// Names lists the logical names Open serves, sorted.
func (c *Cache) Names() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.index))
	for n := range c.index {
		out = append(out, n)
	}
	sortStrings(out)
	return out
}

// Active returns the sets the cache serves (one per key, complete).
func (c *Cache) Active() []Set {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Set, len(c.state.Active))
	for i, s := range c.state.Active {
		out[i] = s.clone()
	}
	return out
}

// Close releases idle HTTP connections. The cache keeps no other resources
// between calls; Close may be called after Run ended or never started.
func (c *Cache) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// Notify asks Run to sync soon (a region said something changed). Within a
// window schedule the sync waits for the window.
func (c *Cache) Notify() {
	select {
	case c.notifyCh <- struct{}{}:
	default:
	}
}

// Inventory reports what the cache holds against the last manifest.
func (c *Cache) Inventory() Inventory {
	c.mu.RLock()
	man := c.state.Manifest
	lastErr := c.lastErr
	var serving []SetRef
	for _, s := range c.state.Active {
		serving = append(serving, SetRef{Key: s.Key, Version: s.Version})
	}
	c.mu.RUnlock()
	inv := Inventory{Rack: c.cfg.RackID, At: c.cfg.Now().UTC(), ManifestETag: man.ETag, LastError: lastErr, Serving: serving}
	counted := map[string]bool{}
	for _, s := range man.Sets {
		st := SetStatus{Key: s.Key, Version: s.Version, Complete: true}
		for _, f := range s.Files {
			if c.blobs.has(f.SHA256, f.Size) {
				if !counted[f.SHA256] {
					counted[f.SHA256] = true
					inv.StoredBytes += f.Size
				}
				continue
			}
			st.Complete = false
			st.Missing = append(st.Missing, f.Name)
			inv.MissingFiles++
			inv.MissingBytes += f.Size
		}
		inv.Sets = append(inv.Sets, st)
	}
	c.metrics.missing.Set(float64(inv.MissingFiles))
	c.metrics.cachedBytes.Set(float64(inv.StoredBytes))
	return inv
}

// Verify re-hashes every cached file; corrupt ones are removed (and their
// sets stop being served) so the next sync downloads them again. It
// returns the digests that failed. It waits for a running sync to end.
func (c *Cache) Verify(ctx context.Context) ([]string, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	sums, err := c.blobs.list()
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, sum := range sums {
		if err := ctx.Err(); err != nil {
			return bad, err
		}
		if err := c.blobs.verify(sum, -1); errors.Is(err, ErrChecksum) {
			c.metrics.verifyFailures.Inc()
			c.log.Error("cached image file is corrupt; removed, will download again", "sha256", sum, "err", err)
			bad = append(bad, sum)
		} else if err != nil {
			return bad, err
		}
	}
	if len(bad) > 0 {
		c.refreshActive()
		c.Notify()
	}
	return bad, nil
}

// refreshActive drops active sets that lost a file.
func (c *Cache) refreshActive() {
	c.mu.RLock()
	st := cacheState{Manifest: c.state.Manifest}
	for _, s := range c.state.Active {
		if c.complete(s) {
			st.Active = append(st.Active, s)
		}
	}
	c.mu.RUnlock()
	c.setState(st)
	if err := c.saveState(); err != nil {
		c.log.Error("save image cache state", "err", err)
	}
}

func (c *Cache) complete(s Set) bool {
	for _, f := range s.Files {
		if !c.blobs.has(f.SHA256, f.Size) {
			return false
		}
	}
	return true
}

// SyncNow syncs at once, ignoring the window, and returns when done.
func (c *Cache) SyncNow(ctx context.Context) SyncResult {
	return c.sync(ctx, true)
}

// sync fetches the manifest from the first region that answers, downloads
// what is missing, activates complete sets, garbage-collects, and reports
// the inventory.
func (c *Cache) sync(ctx context.Context, manual bool) (res SyncResult) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	res.Manual = manual
	defer func() {
		c.mu.Lock()
		c.lastErr = ""
		if res.Err != nil {
			c.lastErr = res.Err.Error()
		}
		c.mu.Unlock()
		res.Inventory = c.Inventory()
		if res.Region != "" {
			c.postInventory(ctx, res.Region, res.Inventory)
		}
		result := "ok"
		if res.Err != nil {
			result = "error"
			c.log.Warn("image sync incomplete", "manual", manual, "fetched", res.Fetched, "missing_files", res.Inventory.MissingFiles, "err", res.Err)
		} else {
			c.log.Info("image sync done", "manual", manual, "region", res.Region, "fetched", res.Fetched, "bytes", res.Bytes, "removed", res.Removed)
		}
		c.metrics.syncs.WithLabelValues(result).Inc()
		if c.cfg.OnSync != nil {
			c.cfg.OnSync(res)
		}
	}()

	man, region, err := c.getManifest(ctx, "", 0)
	if err != nil {
		res.Err = err
		return res
	}
	res.Region = region
	c.mu.RLock()
	st := cacheState{Manifest: man, Active: c.state.Active}
	c.mu.RUnlock()
	c.setState(st)
	if err := c.saveState(); err != nil {
		res.Err = err
		return res
	}

	// Regions in failover order, starting with the one that answered.
	order := []string{region}
	for _, r := range c.cfg.Regions {
		if r != region {
			order = append(order, r)
		}
	}
	errs := c.fetchAll(ctx, man.Sets, order, &res)
	// Drop active sets whose key is gone from the manifest, then collect
	// every file neither the manifest nor an active set refers to.
	c.mu.RLock()
	keep := map[string]bool{}
	inMan := map[Key]bool{}
	for _, s := range man.Sets {
		inMan[s.Key] = true
		for _, f := range s.Files {
			keep[f.SHA256] = true
		}
	}
	st = cacheState{Manifest: man}
	for _, s := range c.state.Active {
		if inMan[s.Key] {
			st.Active = append(st.Active, s)
			for _, f := range s.Files {
				keep[f.SHA256] = true
			}
		}
	}
	c.mu.RUnlock()
	c.setState(st)
	if err := c.saveState(); err != nil {
		errs = append(errs, err)
	}
	n, err := gcBlobs(c.blobs, keep, c.cfg.Now().Add(time.Hour), c.log)
	res.Removed = n
	if err != nil {
		errs = append(errs, err)
	}
	if ctx.Err() != nil {
		errs = append(errs, context.Cause(ctx))
	}
	res.Err = errors.Join(errs...)
	return res
}

// fetchAll downloads the missing files of sets, cfg.Parallel at a time in
// manifest order (a file two sets share is fetched once), and activates
// each set as soon as its last file is in, in this goroutine. It returns
// the transfers' errors.
func (c *Cache) fetchAll(ctx context.Context, sets []Set, regions []string, res *SyncResult) []error {
	type job struct {
		name string
		f    File
	}
	var jobs []job
	queued := map[string]bool{}
	pending := make([]int, len(sets)) // files of each set not yet present
	for i, set := range sets {
		for _, f := range set.Files {
			if c.blobs.has(f.SHA256, f.Size) {
				continue
			}
			pending[i]++
			if !queued[f.SHA256] {
				queued[f.SHA256] = true
				jobs = append(jobs, job{set.Key.Path() + "/" + f.Name, f})
			}
		}
	}
	for i, set := range sets {
		if pending[i] == 0 && c.complete(set) {
			c.activate(set)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	type result struct {
		f   File
		err error
	}
	todo := make(chan job)
	done := make(chan result)
	var wg sync.WaitGroup
	for range min(c.cfg.Parallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range todo {
				srcs := make([]string, len(regions))
				for i, r := range regions {
					srcs[i] = r + blobPrefix + j.f.SHA256
				}
				done <- result{j.f, c.fetch.fetch(ctx, c.blobs, j.name, j.f, srcs)}
			}
		}()
	}
	go func() {
		defer close(todo)
		for _, j := range jobs {
			select {
			case todo <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	var errs []error
	for r := range done {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		res.Fetched++
		res.Bytes += r.f.Size
		for i, set := range sets {
			if pending[i] == 0 || !slices.ContainsFunc(set.Files, func(f File) bool { return f.SHA256 == r.f.SHA256 }) {
				continue
			}
			for _, f := range set.Files {
				if f.SHA256 == r.f.SHA256 {
					pending[i]--
				}
			}
			if pending[i] == 0 && ctx.Err() == nil && c.complete(set) {
				c.activate(set)
			}
		}
	}
	return errs
}

// activate makes set the one served for its key.
func (c *Cache) activate(set Set) {
	c.mu.RLock()
	st := cacheState{Manifest: c.state.Manifest}
	replaced := false
	for _, s := range c.state.Active {
		if s.Key == set.Key {
			if !replaced {
				st.Active = append(st.Active, set)
				replaced = true
			}
			continue
		}
		st.Active = append(st.Active, s)
	}
	if !replaced {
		st.Active = append(st.Active, set)
	}
	c.mu.RUnlock()
	sortSets(st.Active)
	c.setState(st)
	if err := c.saveState(); err != nil {
		c.log.Error("save image cache state", "err", err)
	}
	c.log.Info("image set ready", "resource", set.Key.Path(), "version", set.Version)
}

// getManifest asks each region in turn. With etag and wait it long-polls:
// a nil error with an empty Manifest.ETag means "unchanged".
func (c *Cache) getManifest(ctx context.Context, etag string, wait time.Duration) (Manifest, string, error) {
	var errs []error
	for _, r := range c.cfg.Regions {
		m, err := c.getManifestFrom(ctx, r, etag, wait)
		if err == nil {
			return m, r, nil
		}
		if ctx.Err() != nil {
			return Manifest{}, "", context.Cause(ctx)
		}
		errs = append(errs, fmt.Errorf("%s: %w", r, err))
	}
	return Manifest{}, "", fmt.Errorf("%w: %w", ErrNoRegion, errors.Join(errs...))
}

func (c *Cache) getManifestFrom(ctx context.Context, region, etag string, wait time.Duration) (Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	q := url.Values{"rack": {c.cfg.RackID}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, region+ManifestPath+"?"+q.Encode(), nil)
	if err != nil {
		return Manifest{}, err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", strconv.Quote(etag))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return Manifest{}, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		return Manifest{}, nil
	default:
		return Manifest{}, fmt.Errorf("GET manifest: HTTP %s", resp.Status)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest is not valid JSON: %w", err)
	}
	for _, s := range m.Sets {
		if err := s.Validate(); err != nil {
			return Manifest{}, fmt.Errorf("manifest: %w", err)
		}
	}
	return m, nil
}

func (c *Cache) postInventory(ctx context.Context, region string, inv Inventory) {
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx) // report even when a window just closed
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, _ := json.Marshal(inv)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, region+InventoryPath, bytes.NewReader(b))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		c.log.Warn("report image inventory", "region", region, "err", err)
		return
	}
	resp.Body.Close()
}

// Run syncs at start and after every change the regions signal (manifest
// long-poll or Notify), retrying failures every RetryInterval; with a
// Window, only while it is open. It serves nothing itself: mount FS or Open
// in the boot servers. It returns nil when ctx ends.
func (c *Cache) Run(ctx context.Context) error {
	if c.cfg.VerifyOnStart {
		if _, err := c.Verify(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("verify image cache", "err", err)
		}
	}
	defer c.client.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); c.watch(ctx) }()

	pending := true
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		if pending {
			now := c.cfg.Now()
			var wait time.Duration
			if w := c.cfg.Window; w != nil && !w.Contains(now) {
				opens, _ := w.Bounds(now)
				wait = opens.Sub(now)
				c.log.Info("image sync waits for its window", "window", w.String(), "opens", opens)
			} else {
				sctx, scancel := ctx, context.CancelFunc(func() {})
				if w != nil {
					_, closes := w.Bounds(now)
					sctx, scancel = context.WithDeadlineCause(ctx, closes, errWindowClosed)
				}
				res := c.sync(sctx, false)
				scancel()
				if ctx.Err() != nil {
					return nil
				}
				pending = res.Err != nil
				wait = c.cfg.RetryInterval
			}
			if pending {
				timer.Reset(wait)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.notifyCh:
			pending = true
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
}

var errWindowClosed = errors.New("images: sync window closed; transfer resumes at the next opening")

// watch long-polls the regions and calls Notify when the manifest differs
// from the one last synced.
func (c *Cache) watch(ctx context.Context) {
	c.mu.RLock()
	seen := c.state.Manifest.ETag
	c.mu.RUnlock()
	for ctx.Err() == nil {
		m, _, err := c.getManifest(ctx, seen, c.cfg.WaitTimeout)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.log.Debug("manifest watch: no region answered", "err", err)
			sleepCtx(ctx, 5*time.Second)
		case m.ETag != "" && m.ETag != seen:
			seen = m.ETag
			c.mu.RLock()
			synced := c.state.Manifest.ETag
			c.mu.RUnlock()
			if m.ETag != synced {
				c.Notify()
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func sortStrings(s []string) { slices.Sort(s) }
