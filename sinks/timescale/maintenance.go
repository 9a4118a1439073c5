package timescale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
)

// Maintainer looks after the stored data in either mode.
//
// On plain PostgreSQL it does what TimescaleDB's policies do: it folds
// the hourly rollup's deltas into its base table (Compact) and deletes
// readings older than the retention Migrate recorded (Retain). The
// hourly rollup is kept when raw rows go, as TimescaleDB keeps a
// continuous aggregate. Each step is a short transaction, so it never
// holds long locks against the sink.
//
// On TimescaleDB, whose scheduler runs those policies, it watches them:
// every JobsEvery it reads each job's state (Jobs) into the metrics
// smaint_timescaledb_job_failing, _failures and
// _last_success_timestamp_seconds, into the Health component HealthJobs,
// and logs each failed run once.
//
// Any number of Maintainers may run.
type Maintainer struct {
	Pool         *pgxpool.Pool
	CompactEvery time.Duration // default 10 s
	RetainEvery  time.Duration // default 1 h
	JobsEvery    time.Duration // default 1 min
	ChunkRows    int           // rows per retention DELETE (default 10,000)
	Logger       *slog.Logger
	Clock        pipeline.Clock
	Registerer   prometheus.Registerer
	Health       *pipeline.Health
}

var errNotPlain = errors.New("timescale: maintenance is TimescaleDB's in this mode")

// Run compacts and retains on schedule (plain mode), or watches
// TimescaleDB's jobs (timescale mode), until ctx ends; before Migrate it
// waits for it. Failures are logged and tried again next time.
func (m *Maintainer) Run(ctx context.Context) error {
	compactEvery, retainEvery := m.CompactEvery, m.RetainEvery
	if compactEvery <= 0 {
		compactEvery = 10 * time.Second
	}
	if retainEvery <= 0 {
		retainEvery = time.Hour
	}
	log := m.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lastRetain time.Time
	for {
		_, err := m.Compact(ctx)
		if err == nil && time.Since(lastRetain) >= retainEvery {
			var n int64
			if n, err = m.Retain(ctx); err == nil {
				lastRetain = time.Now()
				if n > 0 {
					log.Info("retention deleted old readings", "rows", n)
				}
			}
		}
		switch {
		case errors.Is(err, errNotPlain):
			log.Info("TimescaleDB runs compression, retention and the rollup; smaint watches its jobs")
			every := m.JobsEvery
			if every <= 0 {
				every = time.Minute
			}
			return m.watchJobs(ctx, every, log)
		case err != nil && ctx.Err() == nil:
			log.Warn("storage maintenance failed; trying again later", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(compactEvery):
		}
	}
}

func (m *Maintainer) plain(ctx context.Context) (Settings, error) {
	st, err := ReadSettings(ctx, m.Pool)
	if err == nil && st.Mode != ModePlain {
		err = errNotPlain
	}
	return st, err
}

// Compact folds the rollup's deltas into its base table, in one
// statement: deltas appended meanwhile stay for the next run. It returns
// how many deltas it folded.
func (m *Maintainer) Compact(ctx context.Context) (int64, error) {
	if _, err := m.plain(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := m.Pool.QueryRow(ctx, `
		WITH moved AS (DELETE FROM sensor_readings_hourly_delta RETURNING *),
		folded AS (
			INSERT INTO sensor_readings_hourly_base AS b (bucket, sensor_id, sum, count, min, max)
			SELECT bucket, sensor_id, sum(sum), sum(count), min(min), max(max)
			FROM moved GROUP BY bucket, sensor_id ORDER BY sensor_id, bucket
			ON CONFLICT (sensor_id, bucket) DO UPDATE SET
				sum = b.sum + excluded.sum, count = b.count + excluded.count,
				min = least(b.min, excluded.min), max = greatest(b.max, excluded.max))
		SELECT count(*) FROM moved`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("timescale: compact the hourly rollup: %w", err)
	}
	return n, nil
}

// Retain deletes the readings older than the retention period and
// returns how many it deleted.
func (m *Maintainer) Retain(ctx context.Context) (int64, error) {
	st, err := m.plain(ctx)
	if err != nil {
		return 0, err
	}
	clock := m.Clock
	if clock == nil {
		clock = pipeline.SystemClock{}
	}
	chunk := m.ChunkRows
	if chunk <= 0 {
		chunk = 10_000
	}
	cutoff := clock.Now().Add(-st.Retention)
	deleted := newSinkMetrics(m.Registerer).retained.WithLabelValues("sensor_readings")
	var total int64
	for {
		tag, err := m.Pool.Exec(ctx, `DELETE FROM sensor_readings WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM sensor_readings WHERE ts < $1 LIMIT $2))`, cutoff, chunk)
		if err != nil {
			return total, fmt.Errorf("timescale: retention: %w", err)
		}
		total += tag.RowsAffected()
		deleted.Add(float64(tag.RowsAffected()))
		if tag.RowsAffected() < int64(chunk) {
			return total, nil
		}
	}
}
