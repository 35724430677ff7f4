package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	env := map[string]string{
		"IRONKIT_REGIOND_DATABASE":     "postgres://u@127.0.0.1/db",
		"IRONKIT_REGIOND_JOBS_WORKERS": "7",
	}
	c, err := Load("testdata/regiond.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:5999" {
		t.Errorf("listen from file: got %q", c.Listen)
	}
	if c.Database != "postgres://u@127.0.0.1/db" || !c.IsPostgres() {
		t.Errorf("database from env: got %q", c.Database)
	}
	if c.Jobs.Workers != 7 {
		t.Errorf("workers from env over file: got %d", c.Jobs.Workers)
	}
	if time.Duration(c.Jobs.SweepInterval) != 10*time.Second || time.Duration(c.Jobs.PowerPollInterval) != 2*time.Minute {
		t.Errorf("durations: got %v %v", c.Jobs.SweepInterval, c.Jobs.PowerPollInterval)
	}
	if c.LogFormat != "text" || c.Jobs.PowerPollConcurrency != 10 {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := map[string]struct {
		path string
		env  map[string]string
		want string
	}{
		"unknown key":  {path: write("a.yaml", "lisen: :1\n"), want: "lisen"},
		"bad listen":   {path: write("b.yaml", "listen: nope\n"), want: `listen = "nope"`},
		"bad level":    {path: write("c.yaml", "log_level: loud\n"), want: "log_level"},
		"bad duration": {path: write("d.yaml", "jobs:\n  sweep_interval: soon\n"), want: "soon"},
		"env int":      {env: map[string]string{"IRONKIT_REGIOND_JOBS_WORKERS": "many"}, want: "IRONKIT_REGIOND_JOBS_WORKERS"},
		"zero workers": {env: map[string]string{"IRONKIT_REGIOND_JOBS_WORKERS": "0"}, want: "jobs.workers"},
		"missing file": {path: filepath.Join(dir, "none.yaml"), want: "none.yaml"},
		"bad peer":     {path: write("e.yaml", "images_peers: [region2:5240]\n"), want: `images_peers[0] = "region2:5240"`},
		"bad env peer": {env: map[string]string{"IRONKIT_REGIOND_IMAGES_PEERS": "http://r2:5240, ftp://r3"}, want: "images_peers[1]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Load(tc.path, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	_, err := Load("", func(k string) string {
		if k == "IRONKIT_REGIOND_LOG_FORMAT" {
			return "xml"
		}
		return ""
	})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
}

func TestImagesPeers(t *testing.T) {
	env := map[string]string{"IRONKIT_REGIOND_IMAGES_PEERS": " http://r2:5240 ,,https://r3:5240"}
	c, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ImagesPeers) != 2 || c.ImagesPeers[0] != "http://r2:5240" || c.ImagesPeers[1] != "https://r3:5240" {
		t.Fatalf("images_peers from env: %q", c.ImagesPeers)
	}
}

func TestEnvNamesCoverTable(t *testing.T) {
	names := EnvNames()
	if len(names) != len(envVars) || !strings.HasPrefix(names[0], EnvPrefix) {
		t.Fatalf("EnvNames: %v", names)
	}
}

func TestSystemdExampleConfigLoads(t *testing.T) {
	c, err := Load("../../contrib/systemd/regiond.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("the example config should show the defaults:\n got %+v\nwant %+v", c, Default())
	}
}
