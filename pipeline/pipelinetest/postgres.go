package pipelinetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresURL is the server tests use: SMAINT_TEST_DATABASE_URL, default
// the "test" database on 127.0.0.1:5432 as user postgres.
func PostgresURL() string {
	if u := os.Getenv("SMAINT_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// Postgres returns a pool whose search_path is a schema of its own,
// created for the test and dropped when it ends, so tests can run in
// parallel against one database. Its connections carry the
// application_name the schema name, so a test can find (and kill) them.
// Without a server the test is skipped, unless SMAINT_REQUIRE_SERVICES is
// set, when it fails.
func Postgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return inSchema(t, PostgresURL())
}

// TimescaleURL is the TimescaleDB server tests use: SMAINT_TEST_TIMESCALE_URL,
// default the "test" database of the cluster .ci/services starts on
// 127.0.0.1:5433, which preloads the extension and has it created.
func TimescaleURL() string {
	if u := os.Getenv("SMAINT_TEST_TIMESCALE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5433/test?sslmode=disable"
}

// Timescale is Postgres on the TimescaleDB server (TimescaleURL). The
// extension lives in the database's public schema, off the pool's
// search_path, as in a deployment with a schema of its own.
func Timescale(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return inSchema(t, TimescaleURL())
}

// inSchema is Postgres on the server at url.
func inSchema(t testing.TB, url string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		if Required() {
			t.Fatalf("PostgreSQL at %s: %v", url, err)
		}
		t.Skipf("no PostgreSQL at %s (%v); set SMAINT_REQUIRE_SERVICES=1 to make this a failure", url, err)
	}
	defer admin.Close(ctx)
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	schema := fmt.Sprintf("t_%.40s_%06d", name, rand.IntN(1_000_000))
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = schema
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, url); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(ctx)
		}
	})
	return pool, schema
}

// SchemaURL is PostgresURL with the schema Postgres made as the search
// path and as the application name: the URL a child process (smaint run,
// smaint migrate) connects with, to work in the test's schema, with
// connections the test can find by name.
func SchemaURL(t testing.TB, schema string) string {
	t.Helper()
	return schemaURL(t, PostgresURL(), schema)
}

// TimescaleSchemaURL is SchemaURL on the TimescaleDB server, for a schema
// Timescale made.
func TimescaleSchemaURL(t testing.TB, schema string) string {
	t.Helper()
	return schemaURL(t, TimescaleURL(), schema)
}

func schemaURL(t testing.TB, base, schema string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
