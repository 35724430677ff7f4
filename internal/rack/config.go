package rack

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalidConfig wraps every configuration error.
var ErrInvalidConfig = errors.New("rack: invalid config")

// File is rackd's YAML config (written by `rackd register`, read by
// `rackd serve`). The token is a credential: the file is written 0600.
type File struct {
	// Regions are the region base URLs, tried in order.
	Regions []string `yaml:"regions"`
	Name    string   `yaml:"name"`
	RackID  int64    `yaml:"rack_id"`
	Token   string   `yaml:"token"`
	// StateDir holds the cached config, the lease log, the lease-event
	// queue and the image cache.
	StateDir string `yaml:"state_dir"`
	// BootDir holds bootloaders and other files served as-is (optional).
	BootDir string `yaml:"boot_dir,omitempty"`
	// TFTPAddr and HTTPAddr are the boot servers' listen addresses
	// (":69" and ":5248"); "-" turns one off.
	TFTPAddr string `yaml:"tftp_addr,omitempty"`
	HTTPAddr string `yaml:"http_addr,omitempty"`
	// HTTPURL is the HTTP boot server's base URL as machines reach it;
	// empty derives it from the rack's address on the machine's subnet.
	HTTPURL string `yaml:"http_url,omitempty"`
	// DHCPInterfaces restricts DHCP to these interfaces (empty: every
	// interface with an address on a served subnet).
	DHCPInterfaces []string `yaml:"dhcp_interfaces,omitempty"`
	// FailoverPort is the DHCP failover peer port (647).
	FailoverPort uint16 `yaml:"failover_port,omitempty"`
	// HeartbeatInterval (default 5s), e.g. "5s".
	HeartbeatInterval string `yaml:"heartbeat_interval,omitempty"`
	// RogueDHCPInterval is how often the rack looks for other DHCP servers
	// on the interfaces it serves (default 5m; "off" never).
	RogueDHCPInterval string `yaml:"rogue_dhcp_interval,omitempty"`
	// MetricsAddr serves the rack's Prometheus metrics (DHCP, TFTP and
	// HTTP boot, image cache) at /metrics on this address, e.g. ":5249";
	// empty or "-": not served.
	MetricsAddr string `yaml:"metrics_addr,omitempty"`
	// Images turns the image cache off when set to "off".
	Images string `yaml:"images,omitempty"`
	// DHCPListen serves DHCP from one UDP socket on this address, bound to
	// no interface, instead of one socket per served interface: a rack
	// that only answers relays (e.g. "127.0.0.1:6767" for the simulated
	// datacenter, whose relay forwards there). Empty: per interface.
	DHCPListen string `yaml:"dhcp_listen,omitempty"`
	// DHCPRelayPort is the port replies to relay agents go to (67).
	DHCPRelayPort uint16 `yaml:"dhcp_relay_port,omitempty"`
	// TemplatesDir overrides package pxe's built-in boot config templates
	// with the files it holds (<loader>.tmpl, e.g. pxelinux.tmpl rendering
	// http:// kernel and initrd URLs for lpxelinux.0, as MAAS does).
	TemplatesDir string `yaml:"templates_dir,omitempty"`
	// Loopback counts the loopback interface among the rack's interfaces
	// (reported in heartbeats, used to serve subnets such as 127.0.0.0/8):
	// single-host labs and the simulated datacenter.
	Loopback bool `yaml:"loopback,omitempty"`
}

// Load reads a config file.
func Load(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("rack: read config: %w (run `rackd register` first)", err)
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, path, err)
	}
	return f, f.Validate()
}

// Validate checks the fields serve needs.
func (f File) Validate() error {
	switch {
	case len(f.Regions) == 0:
		return fmt.Errorf("%w: regions is empty: list region URLs such as http://region:5240", ErrInvalidConfig)
	case f.Token == "" || f.RackID == 0:
		return fmt.Errorf("%w: no rack_id/token: run `rackd register --url URL --secret SECRET`", ErrInvalidConfig)
	case f.StateDir == "":
		return fmt.Errorf("%w: state_dir is empty: set a directory such as /var/lib/rackd", ErrInvalidConfig)
	}
	return nil
}

// Save writes f to path (0600, atomically).
func (f File) Save(path string) error {
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	return writeAtomic(path, b, 0o600)
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func decodeSecret(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) < 16 {
		return nil, fmt.Errorf("%w: secret: give the hex string `regiond secret show` prints (at least 32 hex characters)", ErrInvalidConfig)
	}
	return b, nil
}
