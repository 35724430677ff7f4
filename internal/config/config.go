// Package config owns regiond's configuration: the Config struct every region
// service receives, its defaults, loading from a YAML file, overrides from the
// environment (through a lookup function main passes in, so this package never
// reads the process environment itself) and validation.
//
// It does not parse command-line flags (cmd/regiond does, and writes the
// result into a Config) and it does not open databases or listeners.
//
// Precedence, lowest first: Default(), the YAML file, the environment, flags.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultListen is the region's API port, as in MAAS.
const DefaultListen = ":5240"

// DefaultDatabase is the SQLite file a region uses when nothing else is set.
const DefaultDatabase = "/var/lib/ironkit/regiond.db"

// ErrInvalid is wrapped by every validation error of a Config.
var ErrInvalid = errors.New("invalid regiond configuration")

// Duration is a time.Duration written as "30s", "5m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses "90s" or a bare number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as Go's duration text.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: use Go duration syntax such as 30s or 5m", s)
	}
	return v, nil
}

// Config is everything regiond's services need. Zero fields are filled by
// Default when loading; services receive a validated copy.
type Config struct {
	// Listen is the API address (REST /api/v1, rack RPC /rpc/v1, /metrics).
	Listen string `yaml:"listen"`
	// Database is a SQLite file path (or file: URI) or a postgres:// URL.
	Database string `yaml:"database"`
	// URL is the URL machines and racks use to reach this region
	// (metadata, image downloads); empty means derived from the request.
	URL string `yaml:"url"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// ImagesDir holds the region's boot images (content-addressed bytes and
	// the catalog).
	ImagesDir string `yaml:"images_dir"`
	// ImagesPeers are the base URLs of the other regions
	// ("http://region2:5240"). A region whose images_dir lacks a file that
	// the shared catalog lists copies it from a peer (and serves it through
	// the peer until then). Empty when regions share images_dir or run alone.
	ImagesPeers []string `yaml:"images_peers"`
	// DBConnections bounds the region's database connections (the store's
	// pool, and River's on PostgreSQL); they are kept open when idle.
	DBConnections int `yaml:"db_connections"`
	// ShutdownTimeout bounds the graceful drain of HTTP requests and jobs.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Jobs configures the durable job runner.
	Jobs Jobs `yaml:"jobs"`
}

// Jobs configures the durable job runner and its periodic jobs.
type Jobs struct {
	// Workers is how many jobs one region runs at once.
	Workers int `yaml:"workers"`
	// SweepInterval is how often the deadline sweeper runs.
	SweepInterval Duration `yaml:"sweep_interval"`
	// PowerPollInterval is how often every machine's power state is queried.
	PowerPollInterval Duration `yaml:"power_poll_interval"`
	// PowerPollConcurrency bounds the BMC queries in flight at once.
	PowerPollConcurrency int `yaml:"power_poll_concurrency"`
	// RescueAfter is how long a job may run before the leader considers
	// its region dead and runs it again elsewhere (default 10m; a killed
	// regiond's in-flight jobs wait this long).
	RescueAfter Duration `yaml:"rescue_after"`
	// Disabled works no jobs in this process (an API-only region); it still
	// enqueues them for the regions that do.
	Disabled bool `yaml:"disabled"`
}

// Default returns the configuration of a single-node region.
func Default() Config {
	return Config{
		Listen:          DefaultListen,
		Database:        DefaultDatabase,
		LogLevel:        "info",
		LogFormat:       "text",
		ImagesDir:       "/var/lib/ironkit/images",
		DBConnections:   32,
		ShutdownTimeout: Duration(10 * time.Second),
		Jobs: Jobs{
			Workers:              20,
			SweepInterval:        Duration(30 * time.Second),
			PowerPollInterval:    Duration(5 * time.Minute),
			PowerPollConcurrency: 10,
		},
	}
}

// Load returns Default() overlaid with the YAML file at path (if path is not
// empty) and then with the environment seen through getenv (which may be nil).
// Unknown YAML keys are an error so typos do not pass silently.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		if err := c.overlayYAML(b); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if getenv != nil {
		if err := c.ApplyEnv(getenv); err != nil {
			return Config{}, err
		}
	}
	return c, c.Validate()
}

func (c *Config) overlayYAML(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(c)
}

// envVar is one environment override: its name and how it sets the field.
type envVar struct {
	name string
	set  func(c *Config, v string) error
}

// EnvPrefix starts every environment variable regiond reads.
const EnvPrefix = "IRONKIT_REGIOND_"

// envVars is the table of environment overrides.
var envVars = []envVar{
	{"LISTEN", func(c *Config, v string) error { c.Listen = v; return nil }},
	{"DATABASE", func(c *Config, v string) error { c.Database = v; return nil }},
	{"URL", func(c *Config, v string) error { c.URL = v; return nil }},
	{"LOG_LEVEL", func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{"LOG_FORMAT", func(c *Config, v string) error { c.LogFormat = v; return nil }},
	{"IMAGES_DIR", func(c *Config, v string) error { c.ImagesDir = v; return nil }},
	{"IMAGES_PEERS", func(c *Config, v string) error { c.ImagesPeers = splitList(v); return nil }},
	{"DB_CONNECTIONS", intSetter(func(c *Config) *int { return &c.DBConnections })},
	{"SHUTDOWN_TIMEOUT", durationSetter(func(c *Config) *Duration { return &c.ShutdownTimeout })},
	{"JOBS_WORKERS", intSetter(func(c *Config) *int { return &c.Jobs.Workers })},
	{"JOBS_SWEEP_INTERVAL", durationSetter(func(c *Config) *Duration { return &c.Jobs.SweepInterval })},
	{"JOBS_POWER_POLL_INTERVAL", durationSetter(func(c *Config) *Duration { return &c.Jobs.PowerPollInterval })},
	{"JOBS_RESCUE_AFTER", durationSetter(func(c *Config) *Duration { return &c.Jobs.RescueAfter })},
	{"JOBS_POWER_POLL_CONCURRENCY", intSetter(func(c *Config) *int { return &c.Jobs.PowerPollConcurrency })},
	{"JOBS_DISABLED", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean: use true or false", v)
		}
		c.Jobs.Disabled = b
		return nil
	}},
}

func durationSetter(f func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*f(c) = Duration(d)
		return nil
	}
}

func intSetter(f func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*f(c) = n
		return nil
	}
}

// EnvNames returns the environment variables ApplyEnv reads, for --help.
func EnvNames() []string {
	out := make([]string, len(envVars))
	for i, e := range envVars {
		out[i] = EnvPrefix + e.name
	}
	return out
}

// ApplyEnv overrides fields with the IRONKIT_REGIOND_* variables getenv
// returns non-empty.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	for _, e := range envVars {
		v := getenv(EnvPrefix + e.name)
		if v == "" {
			continue
		}
		if err := e.set(c, v); err != nil {
			return fmt.Errorf("%w: environment %s%s: %w", ErrInvalid, EnvPrefix, e.name, err)
		}
	}
	return nil
}

// Validate reports the first field that cannot work, naming it, its value
// and the fix.
func (c Config) Validate() error {
	bad := func(field, value, fix string) error {
		return fmt.Errorf("%w: %s = %q: %s", ErrInvalid, field, value, fix)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", c.Listen, "use host:port, e.g. :5240")
	}
	if strings.TrimSpace(c.Database) == "" {
		return bad("database", c.Database, "set a SQLite file path or a postgres:// URL")
	}
	if strings.TrimSpace(c.ImagesDir) == "" {
		return bad("images_dir", c.ImagesDir, "set a directory for boot images, e.g. /var/lib/ironkit/images")
	}
	for i, p := range c.ImagesPeers {
		if u, err := url.Parse(p); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(fmt.Sprintf("images_peers[%d]", i), p, "use a region's base URL, e.g. http://region2:5240")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", c.LogLevel, "use debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return bad("log_format", c.LogFormat, "use text or json")
	}
	if c.ShutdownTimeout <= 0 {
		return bad("shutdown_timeout", time.Duration(c.ShutdownTimeout).String(), "use a positive duration")
	}
	if c.DBConnections < 2 {
		return bad("db_connections", strconv.Itoa(c.DBConnections), "use at least 2")
	}
	if c.Jobs.Workers < 1 {
		return bad("jobs.workers", strconv.Itoa(c.Jobs.Workers), "use at least 1")
	}
	if c.Jobs.PowerPollConcurrency < 1 {
		return bad("jobs.power_poll_concurrency", strconv.Itoa(c.Jobs.PowerPollConcurrency), "use at least 1")
	}
	if c.Jobs.SweepInterval < Duration(time.Second) {
		return bad("jobs.sweep_interval", time.Duration(c.Jobs.SweepInterval).String(), "use at least 1s")
	}
	if c.Jobs.PowerPollInterval < Duration(time.Second) {
		return bad("jobs.power_poll_interval", time.Duration(c.Jobs.PowerPollInterval).String(), "use at least 1s")
	}
	return nil
}

// IsPostgres reports whether the database setting names a PostgreSQL server.
func (c Config) IsPostgres() bool {
	return strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://")
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// splitList splits a comma-separated environment value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
