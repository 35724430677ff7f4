package power

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSchemaValidate(t *testing.T) {
	s := Schema{
		{Name: "host", Type: TypeHost, Required: true},
		{Name: "port", Type: TypeInt, Default: "623", Min: 1, Max: 65535},
		{Name: "password", Type: TypeString, Secret: true},
		{Name: "priv", Type: TypeChoice, Default: "admin", Choices: []string{"user", "admin"}},
		{Name: "suites", Type: TypeIntList, Default: "17,3", Max: 255},
		{Name: "kg", Type: TypeHex, Secret: true, Max: 20},
		{Name: "timeout", Type: TypeDuration, Default: "2s"},
		{Name: "insecure", Type: TypeBool, Default: "false"},
		{Name: "endpoint", Type: TypeURL},
	}
	cases := map[string]struct {
		raw     map[string]string
		wantErr string // substring; empty means valid
		check   func(Params) bool
	}{
		"defaults": {raw: map[string]string{"host": "10.0.0.5"}, check: func(p Params) bool {
			return p.Int("port") == 623 && p.String("priv") == "admin" && p.Duration("timeout") == 2*time.Second &&
				len(p.IntList("suites")) == 2 && !p.Bool("insecure") && !p.Has("kg")
		}},
		"typed values": {raw: map[string]string{"host": "bmc1", "port": "6230", "kg": "0x0102", "suites": "3", "insecure": "true"},
			check: func(p Params) bool {
				return p.Int("port") == 6230 && bytes.Equal(p.Bytes("kg"), []byte{1, 2}) && p.IntList("suites")[0] == 3 && p.Bool("insecure")
			}},
		"missing required": {raw: map[string]string{}, wantErr: `parameter "host" is required`},
		"unknown name":     {raw: map[string]string{"host": "h", "hots": "x"}, wantErr: "unknown parameter(s) hots"},
		"port range":       {raw: map[string]string{"host": "h", "port": "70000"}, wantErr: `"port" = "70000": want a number from 1 to 65535`},
		"host with port":   {raw: map[string]string{"host": "h:623"}, wantErr: "give the port in the port parameter"},
		"bad choice":       {raw: map[string]string{"host": "h", "priv": "root"}, wantErr: "want one of user, admin"},
		"secret not shown": {raw: map[string]string{"host": "h", "kg": "zz-top-secret"}, wantErr: `"kg" = (secret value)`},
		"bad url":          {raw: map[string]string{"host": "h", "endpoint": "10.0.0.5"}, wantErr: "absolute http:// or https:// URL"},
		"bad duration":     {raw: map[string]string{"host": "h", "timeout": "5"}, wantErr: "duration such as"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := s.Validate("test", tc.raw)
			if tc.wantErr == "" {
				if err != nil || !tc.check(p) {
					t.Fatalf("err = %v, params = %+v", err, p.values)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v; want ErrConfig containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "zz-top-secret") {
				t.Fatalf("secret leaked in %q", err)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	var names []string
	for _, d := range r.Drivers() {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "ipmi,manual,redfish,webhook" {
		t.Fatalf("built-in drivers = %v", names)
	}
	custom := DriverInfo{Name: "pdu", Schema: Schema{{Name: "outlet", Type: TypeInt, Required: true, Min: 1, Max: 48}},
		New: func(p Params, _ Env) (Driver, error) { return &Manual{Label: "outlet"}, nil }}
	if err := r.Register(custom); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(custom); !errors.Is(err, ErrConfig) {
		t.Fatalf("duplicate registration: %v", err)
	}
	if _, err := r.Open("pdu", map[string]string{"outlet": "99"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("invalid outlet accepted: %v", err)
	}
	if d, err := r.Open("pdu", map[string]string{"outlet": "7"}); err != nil || d == nil {
		t.Fatalf("open pdu: %v", err)
	}
	if _, err := r.Open("nope", nil); !errors.Is(err, ErrUnknownDriver) || !strings.Contains(err.Error(), "pdu") {
		t.Fatalf("unknown driver: %v", err)
	}
}

func TestRetryable(t *testing.T) {
	cases := map[error]bool{
		ErrTimeout: true, ErrUnreachable: true, ErrBusy: true,
		ErrAuth: false, ErrConfig: false, ErrRejected: false, ErrUnsupported: false,
		&Error{BMC: "x", Op: "y", Err: ErrAuth}:    false,
		&Error{BMC: "x", Op: "y", Err: ErrTimeout}: true,
	}
	for err, want := range cases {
		if got := Retryable(err); got != want {
			t.Errorf("Retryable(%v) = %v; want %v", err, got, want)
		}
	}
}

func TestSchemaRedactAndJSON(t *testing.T) {
	d, _ := NewRegistry().Lookup("ipmi")
	got := d.Schema.Redact(map[string]string{"host": "10.0.0.5", "password": "hunter2", "kg": "", "pasword": "typo"})
	if got["host"] != "10.0.0.5" || got["password"] != RedactedValue || got["kg"] != "" || got["pasword"] != RedactedValue {
		t.Fatalf("Redact = %v", got)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"name":"password","type":"string","required":false,"secret":true`) {
		t.Fatalf("driver JSON lacks the typed password field: %s", b)
	}
}
