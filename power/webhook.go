package power

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// WebhookDriverInfo describes the "webhook" driver: templated HTTP calls
// per action, like MAAS's webhook power driver. URIs and the body are Go
// text/templates over [WebhookData].
func WebhookDriverInfo() DriverInfo {
	return DriverInfo{
		Name:        "webhook",
		Description: "templated HTTP calls per power action (VM managers, PDUs, home-grown controllers)",
		Schema: Schema{
			{Name: "power_on_uri", Type: TypeString, Required: true, Description: "URL (template) called to power on"},
			{Name: "power_off_uri", Type: TypeString, Required: true, Description: "URL (template) called to power off"},
			{Name: "power_query_uri", Type: TypeString, Description: "URL (template) whose answer gives the state; empty: state unknown"},
			{Name: "power_cycle_uri", Type: TypeString, Description: "URL (template) called to power cycle; empty: off then on"},
			{Name: "power_soft_uri", Type: TypeString, Description: "URL (template) called for a soft shutdown; empty: the off URL"},
			{Name: "boot_device_uri", Type: TypeString, Description: "URL (template) called to set the boot device; empty: not supported"},
			{Name: "method", Type: TypeChoice, Default: "POST", Choices: []string{"POST", "PUT", "GET"}, Description: "HTTP method of action calls"},
			{Name: "body", Type: TypeString, Description: "request body template for action calls, e.g. {\"action\":\"{{.Action}}\"}"},
			{Name: "power_on_regex", Type: TypeString, Default: `status.*:.*running`, Description: "regular expression the query answer matches when on"},
			{Name: "power_off_regex", Type: TypeString, Default: `status.*:.*stopped`, Description: "regular expression the query answer matches when off"},
			{Name: "username", Type: TypeString, Description: "HTTP basic user"},
			{Name: "password", Type: TypeString, Secret: true, Description: "HTTP basic password"},
			{Name: "token", Type: TypeString, Secret: true, Description: "bearer token (Authorization: Bearer ...)"},
			{Name: "insecure", Type: TypeBool, Default: "false", Description: "skip TLS certificate verification"},
			{Name: "timeout", Type: TypeDuration, Default: "10s", Description: "deadline of each HTTP call"},
		},
		New: func(p Params, env Env) (Driver, error) { return NewWebhook(p, env) },
	}
}

// WebhookData is what URI and body templates see.
type WebhookData struct {
	Action     string // on, off, cycle, soft, query, boot
	Device     string // pxe or disk (boot calls)
	Mode       string // bios, uefi or empty (boot calls)
	Persistent bool   // boot calls
}

// Webhook is the webhook driver.
type Webhook struct {
	uris   map[string]*template.Template
	body   *template.Template
	method string
	onRe   *regexp.Regexp
	offRe  *regexp.Regexp
	user   string
	pass   string
	token  string
	httpc  *http.Client
	log    *slog.Logger
	name   string
}

// NewWebhook builds the webhook driver from validated parameters.
func NewWebhook(p Params, env Env) (*Webhook, error) {
	d := &Webhook{uris: map[string]*template.Template{}, method: p.String("method"),
		user: p.String("username"), pass: p.String("password"), token: p.String("token"), log: env.Logger}
	if d.method == "" {
		d.method = http.MethodPost
	}
	for _, name := range []string{"power_on_uri", "power_off_uri", "power_query_uri", "power_cycle_uri", "power_soft_uri", "boot_device_uri"} {
		v := p.String(name)
		if v == "" {
			continue
		}
		t, err := template.New(name).Option("missingkey=error").Parse(v)
		if err != nil {
			return nil, fmt.Errorf("%w: webhook driver: parameter %q = %q is not a valid template: %v", ErrConfig, name, v, err)
		}
		if !strings.Contains(v, "{{") {
			if _, err := (Field{Type: TypeURL}).parse(v); err != nil {
				return nil, fmt.Errorf("%w: webhook driver: parameter %q = %q: %v", ErrConfig, name, v, err)
			}
		}
		d.uris[name] = t
	}
	// The name leaves out user info and query, where tokens hide.
	d.name = p.String("power_on_uri")
	if u, err := url.Parse(d.name); err == nil && u.Host != "" {
		d.name = u.Scheme + "://" + u.Host + u.Path
	}
	if b := p.String("body"); b != "" {
		t, err := template.New("body").Option("missingkey=error").Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%w: webhook driver: parameter \"body\" is not a valid template: %v", ErrConfig, err)
		}
		d.body = t
	}
	for name, re := range map[string]**regexp.Regexp{"power_on_regex": &d.onRe, "power_off_regex": &d.offRe} {
		v := p.String(name)
		if v == "" {
			v = map[string]string{"power_on_regex": `status.*:.*running`, "power_off_regex": `status.*:.*stopped`}[name]
		}
		r, err := regexp.Compile(v)
		if err != nil {
			return nil, fmt.Errorf("%w: webhook driver: parameter %q = %q is not a regular expression: %v", ErrConfig, name, v, err)
		}
		*re = r
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	timeout := p.Duration("timeout")
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	d.httpc = env.HTTPClient
	if d.httpc == nil {
		d.httpc = &http.Client{Timeout: timeout, Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: p.Bool("insecure")}, //nolint:gosec // explicit operator switch
			TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout, IdleConnTimeout: 30 * time.Second,
		}}
	}
	return d, nil
}

// SetPower calls the action's URI; a cycle without its own URI is off then on.
func (d *Webhook) SetPower(ctx context.Context, a Action) error {
	if err := a.Validate(); err != nil {
		return err
	}
	name := map[Action]string{ActionOn: "power_on_uri", ActionOff: "power_off_uri", ActionCycle: "power_cycle_uri", ActionSoft: "power_soft_uri"}[a]
	if _, ok := d.uris[name]; !ok {
		switch a {
		case ActionCycle:
			if err := d.SetPower(ctx, ActionOff); err != nil {
				return err
			}
			return d.SetPower(ctx, ActionOn)
		case ActionSoft:
			name = "power_off_uri"
		}
	}
	_, err := d.call(ctx, name, d.method, WebhookData{Action: string(a)})
	return err
}

// SetBootDevice calls boot_device_uri.
func (d *Webhook) SetBootDevice(ctx context.Context, b BootOverride) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if _, ok := d.uris["boot_device_uri"]; !ok {
		return fmt.Errorf("%w: webhook driver has no boot_device_uri; set it to support boot devices", ErrUnsupported)
	}
	_, err := d.call(ctx, "boot_device_uri", d.method, WebhookData{Action: "boot", Device: string(b.Device), Mode: string(b.Mode), Persistent: b.Persistent})
	return err
}

// PowerState GETs power_query_uri and matches the answer against the regexes.
func (d *Webhook) PowerState(ctx context.Context) (State, error) {
	if _, ok := d.uris["power_query_uri"]; !ok {
		return Unknown, fmt.Errorf("%w: webhook driver has no power_query_uri", ErrUnsupported)
	}
	body, err := d.call(ctx, "power_query_uri", http.MethodGet, WebhookData{Action: "query"})
	if err != nil {
		return Unknown, err
	}
	switch {
	case d.onRe.Match(body):
		return On, nil
	case d.offRe.Match(body):
		return Off, nil
	}
	return Unknown, nil
}

// String names the webhook for messages (the power-on URI's template).
func (d *Webhook) String() string { return "webhook " + d.name }

// Close releases idle connections.
func (d *Webhook) Close() error { d.httpc.CloseIdleConnections(); return nil }

func (d *Webhook) call(ctx context.Context, name, method string, data WebhookData) ([]byte, error) {
	var u bytes.Buffer
	if err := d.uris[name].Execute(&u, data); err != nil {
		return nil, fmt.Errorf("%w: webhook driver: parameter %q: %v", ErrConfig, name, err)
	}
	var body io.Reader
	if d.body != nil && method != http.MethodGet {
		var b bytes.Buffer
		if err := d.body.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("%w: webhook driver: parameter \"body\": %v", ErrConfig, err)
		}
		body = &b
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%w: webhook driver: parameter %q gives %q: %v", ErrConfig, name, u.String(), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case d.token != "":
		req.Header.Set("Authorization", "Bearer "+d.token)
	case d.user != "":
		req.SetBasicAuth(d.user, d.pass)
	}
	resp, err := d.httpc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("webhook %s %s: %w", method, req.URL.Redacted(), classifyNetErr(err))
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	code := resp.StatusCode
	switch {
	case code < 300:
		return out, nil
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nil, fmt.Errorf("webhook %s %s: %w: HTTP %d; check the username/password or token parameters", method, req.URL.Redacted(), ErrAuth, code)
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, fmt.Errorf("webhook %s %s: %w: HTTP %d", method, req.URL.Redacted(), ErrBusy, code)
	}
	return nil, fmt.Errorf("webhook %s %s: %w: HTTP %d: %s", method, req.URL.Redacted(), ErrRejected, code, bytes.TrimSpace(out[:min(len(out), 200)]))
}
