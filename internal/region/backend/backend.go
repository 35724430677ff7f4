package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/jobs"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/power"
	"github.com/ironkit/ironkit/store"
)

// checkPower validates a power type and its parameters against the driver
// registry, answering 400 naming the field.
func (b *Backend) checkPower(typ string, params map[string]string) error {
	if b.cfg.PowerTypes == nil || typ == "" {
		return nil
	}
	if _, ok := b.cfg.PowerTypes.Lookup(typ); !ok {
		names := []string{}
		for _, d := range b.cfg.PowerTypes.Drivers() {
			names = append(names, d.Name)
		}
		return api.BadField("power_type", typ, "unknown power type: use one of "+strings.Join(names, ", "))
	}
	if _, err := b.cfg.PowerTypes.Validate(typ, params); err != nil {
		return api.BadField("power_parameters", "", err.Error())
	}
	return nil
}

// SecretParam reports whether a power parameter is secret per the driver's
// schema (api.Config.SecretParam).
func SecretParam(reg *power.Registry) func(powerType, name string) bool {
	return func(powerType, name string) bool {
		d, ok := reg.Lookup(powerType)
		if !ok {
			return false
		}
		f, ok := d.Schema.Field(name)
		return ok && f.Secret
	}
}

// Jobs enqueues durable work; *jobs.Runner implements it.
type Jobs interface {
	Boot(ctx context.Context, tx *sql.Tx, systemID string, status lifecycle.Status) error
	Deploy(ctx context.Context, tx *sql.Tx, systemID string) error
	Release(ctx context.Context, tx *sql.Tx, systemID string) error
	Power(ctx context.Context, tx *sql.Tx, systemID string, op jobs.PowerOp, pxe bool) error
	PowerOffWhile(ctx context.Context, tx *sql.Tx, systemID string, status lifecycle.Status) error
	Finish(ctx context.Context, tx *sql.Tx, systemID string, status lifecycle.Status, op jobs.PowerOp, ev lifecycle.Action) error
}

// Config configures a Backend.
type Config struct {
	Store *store.Store
	// Jobs enqueues the work a transition needs inside the transition's
	// transaction (store.TransitionRequest.InTx); nil runs none (an API-only
	// region, or tests of the API alone).
	Jobs Jobs
	// Power answers synchronous power queries (power-query action); nil
	// answers them with the last polled state.
	Power jobs.PowerExecutor
	// Logger; nil discards.
	Logger *slog.Logger
	// ImageURL returns the root image URL and its SHA-256 for a deployment
	// (bootres.Service.ImageURL); nil answers deploy instructions with an
	// error saying no image store is configured.
	ImageURL func(ctx context.Context, base, osystem, series, arch string) (string, string, error)
	// RootImage, when set, is used instead of ImageURL: it also returns
	// the image's path in a rack's image cache (bootres.Service.RootImage),
	// which the deploy instructions carry as image_path.
	RootImage func(ctx context.Context, base, osystem, series, arch string) (url, sum, rackPath string, err error)
	// PowerTypes validates power types and parameters on create and update
	// (nil: not validated; drivers report bad parameters when used).
	PowerTypes *power.Registry
	// DefaultOS and DefaultSeries are deployed when a deploy names none.
	DefaultOS, DefaultSeries string
}

// Backend implements api.Backend and jobs.Machines.
type Backend struct {
	cfg Config
	st  *store.Store
	db  *bun.DB
	log *slog.Logger
	// Nothing is cached: every request authenticates with one indexed
	// query, so a revoked key or a deleted rack stops working on every
	// region at once, and zone and pool names come with a page's side
	// tables (see sideQuery).
}

// New returns a Backend over cfg.Store.
func New(cfg Config) (*Backend, error) {
	if cfg.Store == nil {
		return nil, errors.New("backend: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultOS == "" {
		cfg.DefaultOS, cfg.DefaultSeries = "ubuntu", "noble"
	}
	if cfg.RootImage == nil && cfg.ImageURL != nil {
		imageURL := cfg.ImageURL
		cfg.RootImage = func(ctx context.Context, base, osystem, series, arch string) (string, string, string, error) {
			url, sum, err := imageURL(ctx, base, osystem, series, arch)
			return url, sum, "", err
		}
	}
	if cfg.RootImage == nil {
		cfg.RootImage = func(context.Context, string, string, string, string) (string, string, string, error) {
			return "", "", "", fmt.Errorf("this region has no image store: set images_dir and import boot resources: %w", api.ErrConflict)
		}
	}
	if cfg.ImageURL == nil {
		cfg.ImageURL = func(context.Context, string, string, string, string) (string, string, error) {
			return "", "", fmt.Errorf("this region has no image store: set images_dir and import boot resources: %w", api.ErrConflict)
		}
	}
	return &Backend{cfg: cfg, st: cfg.Store, db: cfg.Store.DB(), log: cfg.Logger}, nil
}

// API returns the api.Backend of every resource.
func (b *Backend) API() api.Backend {
	return api.Backend{Tokens: b, Users: b, Machines: b, Fabrics: fabrics{b}, VLANs: vlans{b}, Subnets: subnets{b},
		IPRanges: ipRanges{b}, IPAddresses: b, Zones: zones{b}, Pools: pools{b}, Tags: tags{b}, Racks: b,
		Regions: b, Events: b, Metadata: b}
}

// mapErr wraps store errors with the api sentinels so they map to 404/409;
// lifecycle and netmodel errors pass through (api maps them itself).
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, store.ErrDuplicate), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInUse):
		return fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	return err
}

// isUnique reports a unique-constraint violation on either backend.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "23505") || strings.Contains(s, "duplicate key")
}

func now() time.Time { return time.Now().UTC() }

// notFound is a 404 naming the object.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), api.ErrNotFound)
}
