package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultDatabaseURL is where smaint looks for PostgreSQL when no URL is
// given: the local server's postgres database.
const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres"

// dbFlags locate the database.
type dbFlags struct{ url string }

func (f *dbFlags) register(fs *flagSet) {
	fs.StringVar(&f.url, "database-url", "", "PostgreSQL or TimescaleDB URL, e.g. postgres://user:pass@host:5432/db (default "+defaultDatabaseURL+")")
	fs.alias("database-url", "DATABASE_URL")
}

// given reports whether a URL was set by flag or environment.
func (f *dbFlags) given() bool { return f.url != "" }

// pool returns a pool on the database; it does not connect yet.
func (f *dbFlags) pool(ctx context.Context, app string) (*pgxpool.Pool, error) {
	u := f.url
	if u == "" {
		u = defaultDatabaseURL
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("%w: --database-url: %v", errUsage, err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = app
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// connect returns a pool on the database, failing if it does not answer.
func (f *dbFlags) connect(ctx context.Context, app string) (*pgxpool.Pool, error) {
	pool, err := f.pool(ctx, app)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", f.where(), err)
	}
	return pool, nil
}

// where names the database for messages, without its password.
func (f *dbFlags) where() string {
	u := f.url
	if u == "" {
		u = defaultDatabaseURL
	}
	if cfg, err := pgxpool.ParseConfig(u); err == nil {
		c := cfg.ConnConfig
		return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
	}
	return "(unparsable URL)"
}

// ping reports whether a database answers, for the demo's decision.
func (f *dbFlags) ping(ctx context.Context, log *slog.Logger) bool {
	pool, err := f.connect(ctx, "smaint-demo")
	if err != nil {
		log.Debug("no database", "err", err)
		return false
	}
	pool.Close()
	return true
}

// longDuration is a duration flag that also takes days ("180d").
type longDuration struct{ d *time.Duration }

func (l longDuration) String() string {
	if l.d == nil {
		return ""
	}
	if *l.d%(24*time.Hour) == 0 && *l.d > 0 {
		return strconv.FormatInt(int64(*l.d/(24*time.Hour)), 10) + "d"
	}
	return l.d.String()
}

func (l longDuration) Set(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a number of days", s)
		}
		*l.d = time.Duration(n * float64(24*time.Hour))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 90m, 12h, 7d)", s)
	}
	*l.d = d
	return nil
}
