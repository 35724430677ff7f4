// Command regiond is ironkit's region controller: the REST API (/api/v1),
// the operator web page (/ and /ui/), durable lifecycle jobs, and (later)
// the rack RPC, on port 5240. It is a
// thin main: it reads flags, the YAML config file and the environment into
// a config.Config and hands it to internal/region.
//
//	regiond init                      schema, region key, rack shared secret
//	regiond createadmin [--username U] [--password P] [--email E]
//	regiond secret show | secret set HEX
//	regiond serve
//
// Common flags: --config FILE (YAML), --database DSN (a SQLite file by
// default; postgres://... for PostgreSQL), --listen ADDR, --log-level L.
// Environment: IRONKIT_REGIOND_* (see internal/config).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/ironkit/ironkit/internal/config"
	"github.com/ironkit/ironkit/internal/region"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/rackrpc"
	"github.com/ironkit/ironkit/store"
)

const usage = `usage: regiond [flags] COMMAND

Commands:
  init                 create the schema, the region key and the rack shared secret
  createadmin          create an administrator (asks for what the flags do not give)
  secret show          print the rack shared secret (racks need it to register)
  secret set HEX       set the rack shared secret (at least 32 hex characters)
  serve                run the region (API on :5240, jobs)

Flags (before or after the command):
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "regiond:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type flags struct {
	fs       *flag.FlagSet
	config   string
	database string
	listen   string
	logLevel string
	username string
	password string
	email    string
}

func newFlags() *flags {
	f := &flags{fs: flag.NewFlagSet("regiond", flag.ContinueOnError)}
	f.fs.StringVar(&f.config, "config", "", "YAML config file (default: none; /etc/ironkit/regiond.yaml in the systemd unit)")
	f.fs.StringVar(&f.database, "database", "", "SQLite file path or postgres:// URL (default "+config.DefaultDatabase+")")
	f.fs.StringVar(&f.listen, "listen", "", "API address (default "+config.DefaultListen+")")
	f.fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	f.fs.StringVar(&f.username, "username", "", "createadmin: the administrator's username")
	f.fs.StringVar(&f.password, "password", "", "createadmin: the password (asked for when absent)")
	f.fs.StringVar(&f.email, "email", "", "createadmin: the e-mail address")
	f.fs.Usage = func() {
		fmt.Fprint(f.fs.Output(), usage)
		f.fs.PrintDefaults()
		fmt.Fprintf(f.fs.Output(), "\nEnvironment: %s\n", strings.Join(config.EnvNames(), ", "))
	}
	return f
}

// parse accepts flags before and after the positional arguments.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		if f.fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, f.fs.Arg(0))
		args = f.fs.Args()[1:]
	}
}

func (f *flags) load() (config.Config, error) {
	c, err := config.Load(f.config, os.Getenv)
	if err != nil {
		return c, err
	}
	if f.database != "" {
		c.Database = f.database
	}
	if f.listen != "" {
		c.Listen = f.listen
	}
	if f.logLevel != "" {
		c.LogLevel = f.logLevel
	}
	return c, c.Validate()
}

func logger(c config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func run(ctx context.Context, args []string) error {
	f := newFlags()
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		f.fs.Usage()
		return flag.ErrHelp
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	log := logger(cfg)
	switch pos[0] {
	case "serve":
		svc, rpcSrv, err := rackrpc.OpenRegion(ctx, cfg, region.Options{Logger: log}, rackrpc.Config{})
		if err != nil {
			return err
		}
		// Racks' long-polls end with the region so shutdown is prompt.
		stopPolls := context.AfterFunc(ctx, rpcSrv.Stop)
		defer stopPolls()
		defer svc.Close()
		log.Info("regiond starting", "version", region.Version, "listen", cfg.Listen, "postgres", cfg.IsPostgres())
		return svc.Run(ctx)
	case "init", "createadmin", "secret":
		st, err := store.Open(ctx, cfg.Database, store.WithLogger(log))
		if err != nil {
			return err
		}
		defer st.Close()
		return admin(ctx, st, f, pos)
	}
	f.fs.Usage()
	return fmt.Errorf("%w: unknown command %q", flag.ErrHelp, pos[0])
}

func admin(ctx context.Context, st *store.Store, f *flags, pos []string) error {
	switch pos[0] {
	case "init":
		created, err := region.Init(ctx, st)
		if err != nil {
			return err
		}
		fmt.Printf("database ready (%s)\n", st.Backend())
		if created {
			// Shown once; `regiond secret show` prints it again.
			secret, err := region.RackSecret(ctx, st)
			if err != nil {
				return err
			}
			fmt.Printf("rack shared secret: %s\nnext: regiond createadmin, then regiond serve\n", secret)
		}
		return nil
	case "createadmin":
		in := bufio.NewReader(os.Stdin)
		if f.username == "" {
			f.username = prompt(in, "Username: ")
		}
		if f.password == "" {
			f.password = promptSecret(in, "Password: ")
			if again := promptSecret(in, "Again: "); again != f.password {
				return errors.New("createadmin: the passwords differ")
			}
		}
		if f.email == "" {
			f.email = prompt(in, "Email (optional): ")
		}
		u, err := region.CreateAdmin(ctx, st, auth.DefaultHasher(), f.username, f.email, f.password)
		if err != nil {
			return err
		}
		fmt.Printf("administrator %s created (id %d); log in with: ironctl login NAME http://HOST:5240 --username %s --password ...\n", u.Username, u.ID, u.Username)
		return nil
	case "secret":
		switch {
		case len(pos) == 2 && pos[1] == "show":
			s, err := region.RackSecret(ctx, st)
			if err != nil {
				return err
			}
			fmt.Println(s)
			return nil
		case len(pos) == 3 && pos[1] == "set":
			return region.SetRackSecret(ctx, st, pos[2])
		}
		return fmt.Errorf("%w: secret show | secret set HEX", flag.ErrHelp)
	}
	return nil
}

func prompt(in *bufio.Reader, q string) string {
	fmt.Fprint(os.Stderr, q)
	s, _ := in.ReadString('\n')
	return strings.TrimSpace(s)
}

func promptSecret(in *bufio.Reader, q string) string {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return prompt(in, q)
	}
	fmt.Fprint(os.Stderr, q)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(b)
}
