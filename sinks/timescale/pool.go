package timescale

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline"
)

// DefaultURL is where smaint looks for PostgreSQL when no URL is given:
// the local server's postgres database.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres"

// ErrURL means a database URL does not parse. It wraps pipeline.ErrConfig.
var ErrURL = fmt.Errorf("%w: database URL", pipeline.ErrConfig)

// NewPool returns a pool on the database at url (DefaultURL if ""), whose
// connections name themselves app (application_name, unless url sets it)
// and give up connecting after 5 s (unless url says otherwise). It does
// not connect yet.
func NewPool(ctx context.Context, url, app string) (*pgxpool.Pool, error) {
	if url == "" {
		url = DefaultURL
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrURL, err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = app
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Connect is NewPool, then a ping: a database that does not answer within
// 10 s is an error naming it (see Where).
func Connect(ctx context.Context, url, app string) (*pgxpool.Pool, error) {
	pool, err := NewPool(ctx, url, app)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", Where(url), err)
	}
	return pool, nil
}

// Where names the database of url (DefaultURL if "") for messages:
// user@host:port/database, without the password.
func Where(url string) string {
	if url == "" {
		url = DefaultURL
	}
	if cfg, err := pgxpool.ParseConfig(url); err == nil {
		c := cfg.ConnConfig
		return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
	}
	return "(unparsable URL)"
}
