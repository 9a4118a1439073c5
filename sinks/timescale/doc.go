// Package timescale stores smaint's records in TimescaleDB, or in plain
// PostgreSQL when the extension is absent: versioned migrations (Migrate),
// sink stages that write batches with COPY and stay idempotent under
// replay (Sink), retention for plain PostgreSQL (Retention) and CSV export
// (Export).
//
// Every function takes its connections from a caller's pgxpool.Pool, and
// works in the pool's search_path, so several deployments (or tests) can
// share a database in different schemas.
package timescale
