package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/sinks/timescale"
)

// dbFlags locate the database.
type dbFlags struct{ url string }

func (f *dbFlags) register(fs *flagSet) {
	fs.StringVar(&f.url, "database-url", "", "PostgreSQL or TimescaleDB URL, e.g. postgres://user:pass@host:5432/db (default "+timescale.DefaultURL+")")
	fs.alias("database-url", "DATABASE_URL")
	fs.secret("database-url")
}

// given reports whether a URL was set by flag or environment.
func (f *dbFlags) given() bool { return f.url != "" }

// connect returns a pool on the database, failing if it does not answer.
func (f *dbFlags) connect(ctx context.Context, app string) (*pgxpool.Pool, error) {
	pool, err := timescale.Connect(ctx, f.url, app)
	if errors.Is(err, timescale.ErrURL) {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	return pool, err
}
