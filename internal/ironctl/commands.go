package ironctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Env is everything the CLI touches, so tests can run it in-process.
type Env struct {
	Args   []string // without the program name
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	HTTP   *http.Client
}

// ErrUsage is wrapped by errors about the command line itself.
var ErrUsage = errors.New("usage")

const usage = `ironctl — command-line client of an ironkit region

  ironctl login NAME URL (--api-key KEY | --username U --password P)
  ironctl [-p PROFILE] [-o table|json] COMMAND ...

Commands:
  machines list [--status S] [--owner U] [--zone Z] [--pool P] [--tag T] [--architecture A] [--limit N]
  machines show|delete SYSTEM_ID
  machines create hostname=H architecture=A mac_addresses=M1,M2 [power_type=T] [power_parameters.KEY=V ...]
  machines commission|test|abort|release|mark-broken|mark-fixed|rescue-mode|exit-rescue-mode|lock|unlock SYSTEM_ID [erase=true] [comment=...]
  machines deploy SYSTEM_ID [osystem=ubuntu] [distro_series=noble] [user_data=@FILE]
  machines allocate [architecture=A] [min_cpu_count=N] [min_memory_mib=N] [tags=T1,T2] [zone=Z] [pool=P] [not_in=ID1,ID2]
  machines power SYSTEM_ID on|off|query
  machines timeline SYSTEM_ID
  fabrics|vlans|subnets|ipranges|zones|pools|tags list|show ID|create KEY=V...|update ID KEY=V...|delete ID
  vlan update ID dhcp_on=true primary_rack=RACK_ID     (same as vlans update)
  ipaddresses list [subnet_id=N] | reserve subnet_id=N [ip=A] | release ID
  racks list|show ID|delete ID|sync-images ID|reconfigure ID
  boot-resources list | import SOURCE | upload OS/ARCH/SUBARCH/RELEASE/FLAVOUR/VERSION FILE
  events [system_id=ID] [type=T] [since=RFC3339] [limit=N]
  users list|create username=U password=P [email=E] [admin=true] | whoami
  api-keys list|create name=N|revoke ID
`

// Main runs the CLI and returns the process exit status.
func Main(ctx context.Context, env Env) int {
	if err := run(ctx, env); err != nil {
		fmt.Fprintln(env.Stderr, "ironctl:", err)
		if errors.Is(err, ErrUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func run(ctx context.Context, env Env) error {
	fs := flag.NewFlagSet("ironctl", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, usage) }
	profile := fs.String("p", "", "profile to use (default: the current one)")
	output := fs.String("o", "table", "output format: table or json")
	if err := fs.Parse(env.Args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	args := fs.Args()
	if len(args) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: no command", ErrUsage)
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("%w: -o %q: use table or json", ErrUsage, *output)
	}
	path := DefaultProfilePath(env.Getenv)
	if args[0] == "login" {
		return login(ctx, env, path, args[1:])
	}
	ps, err := LoadProfiles(path)
	if err != nil {
		return err
	}
	p, err := ps.Pick(*profile)
	if err != nil {
		return err
	}
	c := &cli{env: env, format: *output, client: &Client{URL: p.URL, APIKey: p.APIKey, HTTP: env.HTTP}}
	return c.dispatch(ctx, args)
}

func login(ctx context.Context, env Env, path string, args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	key := fs.String("api-key", "", "an API key (ikk_...)")
	user := fs.String("username", "", "log in with a username ...")
	pass := fs.String("password", "", "... and password (creates an API key named ironctl)")
	var pos []string
	for len(args) > 0 { // allow flags after the positional arguments
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: login NAME URL (--api-key KEY | --username U --password P)", ErrUsage)
	}
	name, regionURL := pos[0], strings.TrimRight(pos[1], "/")
	if u, err := url.Parse(regionURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: URL %q: use http://HOST:5240", ErrUsage, pos[1])
	}
	c := &Client{URL: regionURL, HTTP: env.HTTP}
	switch {
	case *key != "":
		c.APIKey = *key
	case *user != "" && *pass != "":
		var reply struct {
			APIKey struct {
				Key string `json:"key"`
			} `json:"api_key"`
		}
		if err := c.Do(ctx, "POST", "/api/v1/login", map[string]string{"username": *user, "password": *pass, "key_name": "ironctl"}, &reply); err != nil {
			return err
		}
		c.APIKey = reply.APIKey.Key
	default:
		return fmt.Errorf("%w: give --api-key, or --username and --password", ErrUsage)
	}
	var me map[string]any
	if err := c.Do(ctx, "GET", "/api/v1/users/me", nil, &me); err != nil {
		return fmt.Errorf("the region refused the credentials: %w", err)
	}
	ps, err := LoadProfiles(path)
	if err != nil {
		return err
	}
	ps.Profiles[name] = Profile{URL: regionURL, APIKey: c.APIKey}
	ps.Current = name
	if err := ps.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "logged in to %s as %v (profile %s)\n", regionURL, me["username"], name)
	return nil
}

type cli struct {
	env    Env
	format string
	client *Client
}

func (c *cli) show(resource string, v any) error { return render(c.env.Stdout, c.format, resource, v) }

func (c *cli) call(ctx context.Context, resource, method, path string, body any) error {
	var out any
	if err := c.client.Do(ctx, method, path, body, &out); err != nil {
		return err
	}
	if out == nil {
		fmt.Fprintln(c.env.Stdout, "ok")
		return nil
	}
	return c.show(resource, out)
}

// collections are the plain CRUD resources.
var collections = map[string]bool{"fabrics": true, "vlans": true, "subnets": true, "ipranges": true, "zones": true, "pools": true, "tags": true}

// singular accepts "vlan" for "vlans" and so on.
func plural(s string) string {
	if !strings.HasSuffix(s, "s") && (collections[s+"s"] || s == "machine" || s == "rack" || s == "user" || s == "event") {
		return s + "s"
	}
	return s
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	res := plural(args[0])
	rest := args[1:]
	need := func(n int, form string) error {
		if len(rest) < n {
			return fmt.Errorf("%w: %s %s", ErrUsage, res, form)
		}
		return nil
	}
	switch {
	case res == "machines":
		return c.machines(ctx, rest)
	case collections[res]:
		if err := need(1, "list|show|create|update|delete"); err != nil {
			return err
		}
		base := "/api/v1/" + res
		switch rest[0] {
		case "list":
			return c.call(ctx, res, "GET", base, nil)
		case "show", "delete":
			if err := need(2, rest[0]+" ID"); err != nil {
				return err
			}
			m := map[string]string{"show": "GET", "delete": "DELETE"}[rest[0]]
			return c.call(ctx, res, m, base+"/"+url.PathEscape(rest[1]), nil)
		case "create":
			body, err := keyValues(rest[1:])
			if err != nil {
				return err
			}
			return c.call(ctx, res, "POST", base, body)
		case "update":
			if err := need(2, "update ID KEY=VALUE..."); err != nil {
				return err
			}
			body, err := keyValues(rest[2:])
			if err != nil {
				return err
			}
			return c.call(ctx, res, "PATCH", base+"/"+url.PathEscape(rest[1]), body)
		}
	case res == "racks":
		if err := need(1, "list|show ID|delete ID|sync-images ID|reconfigure ID"); err != nil {
			return err
		}
		switch rest[0] {
		case "list":
			return c.call(ctx, res, "GET", "/api/v1/racks", nil)
		case "sync-images", "reconfigure":
			// Queue a rack command (admin): the rack runs it on its next poll.
			if err := need(2, rest[0]+" ID"); err != nil {
				return err
			}
			return c.call(ctx, res, "POST", "/api/v1/racks/"+url.PathEscape(rest[1])+"/"+rest[0], nil)
		case "show", "delete":
			if err := need(2, rest[0]+" ID"); err != nil {
				return err
			}
			return c.call(ctx, res, map[string]string{"show": "GET", "delete": "DELETE"}[rest[0]], "/api/v1/racks/"+url.PathEscape(rest[1]), nil)
		}
	case res == "events":
		kv, err := keyValues(rest)
		if err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range kv {
			q.Set(k, fmt.Sprint(v))
		}
		return c.call(ctx, res, "GET", "/api/v1/events?"+q.Encode(), nil)
	case res == "ipaddresses":
		if err := need(1, "list|reserve|release"); err != nil {
			return err
		}
		kv, err := keyValues(rest[1:])
		if rest[0] != "release" && err != nil {
			return err
		}
		switch rest[0] {
		case "list":
			q := url.Values{}
			for k, v := range kv {
				q.Set(k, fmt.Sprint(v))
			}
			return c.call(ctx, res, "GET", "/api/v1/ipaddresses?"+q.Encode(), nil)
		case "reserve":
			return c.call(ctx, res, "POST", "/api/v1/ipaddresses", kv)
		case "release":
			if err := need(2, "release ID"); err != nil {
				return err
			}
			return c.call(ctx, res, "DELETE", "/api/v1/ipaddresses/"+url.PathEscape(rest[1]), nil)
		}
	case res == "users":
		if err := need(1, "list|create"); err != nil {
			return err
		}
		switch rest[0] {
		case "list":
			return c.call(ctx, res, "GET", "/api/v1/users", nil)
		case "create":
			kv, err := keyValues(rest[1:])
			if err != nil {
				return err
			}
			return c.call(ctx, res, "POST", "/api/v1/users", kv)
		}
	case res == "boot-resources":
		return c.bootResources(ctx, rest)
	case res == "whoami":
		return c.call(ctx, "users", "GET", "/api/v1/users/me", nil)
	case res == "api-keys":
		if err := need(1, "list|create|revoke"); err != nil {
			return err
		}
		switch rest[0] {
		case "list":
			return c.call(ctx, res, "GET", "/api/v1/users/me/api-keys", nil)
		case "create":
			kv, err := keyValues(rest[1:])
			if err != nil {
				return err
			}
			return c.call(ctx, res, "POST", "/api/v1/users/me/api-keys", kv)
		case "revoke":
			if err := need(2, "revoke ID"); err != nil {
				return err
			}
			return c.call(ctx, res, "DELETE", "/api/v1/users/me/api-keys/"+url.PathEscape(rest[1]), nil)
		}
	}
	return fmt.Errorf("%w: unknown command %q; run ironctl without arguments for help", ErrUsage, strings.Join(args, " "))
}

// machineActions are the machine subcommands that are plain actions.
var machineActions = map[string]bool{"commission": true, "test": true, "abort": true, "deploy": true, "release": true,
	"mark-broken": true, "mark-fixed": true, "rescue-mode": true, "exit-rescue-mode": true, "lock": true, "unlock": true}

func (c *cli) machines(ctx context.Context, rest []string) error {
	if len(rest) == 0 {
		return fmt.Errorf("%w: machines list|show|create|allocate|power|timeline|ACTION", ErrUsage)
	}
	verb, rest := rest[0], rest[1:]
	id := func() (string, error) {
		if len(rest) == 0 {
			return "", fmt.Errorf("%w: machines %s SYSTEM_ID", ErrUsage, verb)
		}
		return url.PathEscape(rest[0]), nil
	}
	switch {
	case verb == "list":
		return c.listMachines(ctx, rest)
	case verb == "show" || verb == "delete":
		sid, err := id()
		if err != nil {
			return err
		}
		return c.call(ctx, "machines", map[string]string{"show": "GET", "delete": "DELETE"}[verb], "/api/v1/machines/"+sid, nil)
	case verb == "timeline":
		sid, err := id()
		if err != nil {
			return err
		}
		return c.machineTimeline(ctx, sid)
	case verb == "create":
		kv, err := keyValues(rest)
		if err != nil {
			return err
		}
		return c.call(ctx, "machines", "POST", "/api/v1/machines", kv)
	case verb == "allocate":
		kv, err := keyValues(rest)
		if err != nil {
			return err
		}
		return c.call(ctx, "machines", "POST", "/api/v1/machines/allocate", kv)
	case verb == "power":
		if len(rest) != 2 || (rest[1] != "on" && rest[1] != "off" && rest[1] != "query") {
			return fmt.Errorf("%w: machines power SYSTEM_ID on|off|query", ErrUsage)
		}
		return c.call(ctx, "machines", "POST", "/api/v1/machines/"+url.PathEscape(rest[0])+"/actions/power-"+rest[1], nil)
	case machineActions[verb]:
		sid, err := id()
		if err != nil {
			return err
		}
		kv, err := keyValues(rest[1:])
		if err != nil {
			return err
		}
		return c.call(ctx, "machines", "POST", "/api/v1/machines/"+sid+"/actions/"+verb, kv)
	}
	return fmt.Errorf("%w: unknown machines command %q", ErrUsage, verb)
}

// listMachines follows the cursor through every page unless --limit caps
// the count.
func (c *cli) listMachines(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("machines list", flag.ContinueOnError)
	fs.SetOutput(c.env.Stderr)
	q := url.Values{}
	for _, name := range []string{"status", "owner", "zone", "pool", "tag", "architecture", "hostname", "mac"} {
		fs.Func(name, "filter by "+name, func(v string) error { q.Set(name, v); return nil })
	}
	limit := fs.Int("limit", 0, "at most this many machines (default: all)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	var all []any
	for {
		pageSize := 1000
		if *limit > 0 && *limit-len(all) < pageSize {
			pageSize = *limit - len(all)
		}
		q.Set("limit", strconv.Itoa(pageSize))
		var page struct {
			Machines []any  `json:"machines"`
			Next     string `json:"next"`
		}
		if err := c.client.Do(ctx, "GET", "/api/v1/machines?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		all = append(all, page.Machines...)
		if page.Next == "" || (*limit > 0 && len(all) >= *limit) {
			break
		}
		q.Set("cursor", page.Next)
	}
	if all == nil {
		all = []any{}
	}
	return c.show("machines", all)
}

// Fields whose values stay strings even when they look like numbers, and
// fields that take comma-separated lists.
var (
	stringFields = map[string]bool{"hostname": true, "name": true, "description": true, "comment": true, "ip": true,
		"cidr": true, "start_ip": true, "end_ip": true, "gateway_ip": true, "osystem": true, "distro_series": true,
		"user_data": true, "architecture": true, "zone": true, "pool": true, "owner": true, "password": true,
		"username": true, "email": true, "system_id": true, "type": true, "since": true, "power_type": true}
	listFields = map[string]bool{"mac_addresses": true, "tags": true, "dns_servers": true, "not_in": true, "ip_addresses": true}
)

// keyValues turns KEY=VALUE arguments into a JSON object: numbers and
// booleans are typed (except for string fields), list fields split on
// commas, a.b=V nests, and @FILE reads a file (user_data=@cloud-init.yaml).
func keyValues(args []string) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: %q: use KEY=VALUE", ErrUsage, a)
		}
		if strings.HasPrefix(v, "@") {
			b, err := os.ReadFile(v[1:])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			v = string(b)
		}
		if parent, child, nested := strings.Cut(k, "."); nested {
			m, _ := out[parent].(map[string]any)
			if m == nil {
				m = map[string]any{}
				out[parent] = m
			}
			m[child] = v // nested values (power parameters) are strings
			continue
		}
		switch {
		case listFields[k]:
			items := []any{}
			for _, it := range strings.Split(v, ",") {
				if it != "" {
					items = append(items, it)
				}
			}
			out[k] = items
		case stringFields[k]:
			out[k] = v
		case v == "true" || v == "false":
			out[k] = v == "true"
		default:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[k] = n
			} else {
				out[k] = v
			}
		}
	}
	return out, nil
}
