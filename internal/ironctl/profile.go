package ironctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Profile is one region the CLI talks to.
type Profile struct {
	URL    string `yaml:"url"`
	APIKey string `yaml:"api_key"`
}

// Profiles is the profile file: named profiles and the current one.
type Profiles struct {
	Current  string             `yaml:"current"`
	Profiles map[string]Profile `yaml:"profiles"`
}

// DefaultProfilePath is where profiles live unless IRONCTL_CONFIG says
// otherwise: $XDG_CONFIG_HOME/ironkit/ironctl.yaml.
func DefaultProfilePath(getenv func(string) string) string {
	if p := getenv("IRONCTL_CONFIG"); p != "" {
		return p
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		dir = filepath.Join(getenv("HOME"), ".config")
	}
	return filepath.Join(dir, "ironkit", "ironctl.yaml")
}

// LoadProfiles reads the profile file; a missing file is empty.
func LoadProfiles(path string) (Profiles, error) {
	ps := Profiles{Profiles: map[string]Profile{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ps, nil
	}
	if err != nil {
		return ps, err
	}
	if err := yaml.Unmarshal(b, &ps); err != nil {
		return ps, fmt.Errorf("profile file %s: %w", path, err)
	}
	if ps.Profiles == nil {
		ps.Profiles = map[string]Profile{}
	}
	return ps, nil
}

// Save writes the profile file with mode 0600 (it holds API keys).
func (ps Profiles) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := yaml.Marshal(ps)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Pick returns the named profile, or the current one when name is empty.
func (ps Profiles) Pick(name string) (Profile, error) {
	if name == "" {
		name = ps.Current
	}
	if name == "" {
		return Profile{}, errors.New("no profile: run `ironctl login NAME URL --api-key KEY` first")
	}
	p, ok := ps.Profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("profile %q does not exist: run `ironctl login %s URL ...`", name, name)
	}
	return p, nil
}
