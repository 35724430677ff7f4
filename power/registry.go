package power

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
)

// Env is what the registry hands every driver constructor.
type Env struct {
	Logger *slog.Logger
	// HTTPClient, when set, is used by HTTP-based drivers instead of one
	// they build themselves (its Transport decides TLS verification).
	HTTPClient *http.Client
	// Recorder receives the manual driver's instructions to the operator.
	Recorder func(Instruction)
}

// DriverInfo describes a driver: its name, what it is for, and its
// parameter schema. New builds a driver for one BMC from validated params.
type DriverInfo struct {
	Name        string                                  `json:"name"`
	Description string                                  `json:"description"`
	Schema      Schema                                  `json:"schema"`
	New         func(p Params, env Env) (Driver, error) `json:"-"`
}

// Registry maps driver names to drivers. It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]DriverInfo
	env     Env
}

// RegistryOption configures a [Registry].
type RegistryOption func(*Registry)

// WithEnv sets what drivers built by the registry receive.
func WithEnv(env Env) RegistryOption { return func(r *Registry) { r.env = env } }

// WithoutBuiltins leaves out the built-in ipmi, redfish, webhook and manual drivers.
func WithoutBuiltins() RegistryOption {
	return func(r *Registry) { r.drivers = map[string]DriverInfo{} }
}

// NewRegistry returns a registry holding the built-in drivers.
func NewRegistry(opts ...RegistryOption) *Registry {
	r := &Registry{drivers: map[string]DriverInfo{}}
	for _, d := range []DriverInfo{IPMIDriverInfo(), RedfishDriverInfo(), WebhookDriverInfo(), ManualDriverInfo()} {
		r.drivers[d.Name] = d
	}
	for _, o := range opts {
		o(r)
	}
	if r.env.Logger == nil {
		r.env.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// Register adds a third-party driver. Names are unique.
func (r *Registry) Register(d DriverInfo) error {
	if d.Name == "" || d.New == nil {
		return fmt.Errorf("%w: driver registration needs a name and a New function", ErrConfig)
	}
	for _, f := range d.Schema {
		if _, err := f.parse(f.Default); f.Default != "" && err != nil {
			return fmt.Errorf("%w: driver %q: default of parameter %q does not parse: %v", ErrConfig, d.Name, f.Name, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.drivers[d.Name]; dup {
		return fmt.Errorf("%w: a driver named %q is already registered", ErrConfig, d.Name)
	}
	r.drivers[d.Name] = d
	return nil
}

// Drivers lists the registered drivers sorted by name, for an API or CLI.
func (r *Registry) Drivers() []DriverInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]DriverInfo, 0, len(r.drivers))
	for _, d := range r.drivers {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the named driver's description.
func (r *Registry) Lookup(name string) (DriverInfo, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.drivers[name]
	return d, ok
}

// Validate checks raw parameters for the named driver without building it.
func (r *Registry) Validate(name string, raw map[string]string) (Params, error) {
	d, ok := r.Lookup(name)
	if !ok {
		return Params{}, r.unknown(name)
	}
	return d.Schema.Validate(name, raw)
}

// Open validates raw parameters and builds the named driver for one BMC.
// The caller owns the driver and must Close it.
func (r *Registry) Open(name string, raw map[string]string) (Driver, error) {
	d, ok := r.Lookup(name)
	if !ok {
		return nil, r.unknown(name)
	}
	p, err := d.Schema.Validate(name, raw)
	if err != nil {
		return nil, err
	}
	return d.New(p, r.env)
}

func (r *Registry) unknown(name string) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("%w %q; registered drivers: %v", ErrUnknownDriver, name, names)
}
