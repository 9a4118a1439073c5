package timescale

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Job is one of TimescaleDB's background jobs on smaint's tables (the
// schema of the pool's search_path): compression, retention or the
// hourly rollup's refresh, as timescaledb_information reports it.
type Job struct {
	ID    int32
	Proc  string // TimescaleDB's procedure, e.g. policy_compression
	Table string // the hypertable or continuous aggregate it works on
	// LastStatus is TimescaleDB's: "Success", "Failed", or "" before the
	// first run.
	LastStatus  string
	LastRun     time.Time // start of the last run; zero before the first
	LastSuccess time.Time // end of the last successful run; zero: never
	NextStart   time.Time
	Runs        int64
	Failures    int64
	// LastError is the newest entry of timescaledb_information.job_errors
	// for the job, nil when there is none (TimescaleDB prunes that log).
	LastError *JobError
}

// JobError is a failed run's error as TimescaleDB logged it.
type JobError struct {
	At      time.Time // when the run ended
	Code    string    // SQLSTATE
	Message string
}

// Failing reports whether the job's last run failed.
func (j Job) Failing() bool { return j.LastStatus == "Failed" }

// Name says what the job does, for people: "compression of sensor_readings".
func (j Job) Name() string {
	what := strings.TrimPrefix(j.Proc, "policy_")
	switch j.Proc {
	case "policy_refresh_continuous_aggregate":
		what = "refresh"
	case "policy_compression":
		what = "compression"
	}
	if j.Table == "" {
		return what
	}
	return what + " of " + j.Table
}

// Problem describes a failing job's last failure in one line, or "".
func (j Job) Problem() string {
	if !j.Failing() {
		return ""
	}
	s := fmt.Sprintf("%s (job %d) failed", j.Name(), j.ID)
	if e := j.LastError; e != nil {
		s += fmt.Sprintf(": SQLSTATE %s %s", e.Code, e.Message)
	}
	if j.LastSuccess.IsZero() {
		return s + "; it has never succeeded"
	}
	return s + "; last success " + j.LastSuccess.UTC().Format(time.RFC3339)
}

// Jobs reads TimescaleDB's jobs on the tables of the pool's schema,
// ordered by id. It fails with ErrMode unless the schema was migrated in
// TimescaleDB mode.
func Jobs(ctx context.Context, pool *pgxpool.Pool) ([]Job, error) {
	st, err := ReadSettings(ctx, pool)
	if err != nil {
		return nil, err
	}
	if st.Mode != ModeTimescale {
		return nil, fmt.Errorf("%w: the schema is in %s mode; TimescaleDB jobs exist in timescale mode only", ErrMode, st.Mode)
	}
	rows, err := pool.Query(ctx, `
		SELECT j.job_id, j.proc_name::text, coalesce(j.hypertable_name::text, ''), coalesce(s.last_run_status, ''),
		       CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END,
		       CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish END,
		       CASE WHEN isfinite(s.next_start) THEN s.next_start END,
		       coalesce(s.total_runs, 0), coalesce(s.total_failures, 0),
		       e.finish_time, coalesce(e.sqlerrcode, ''), coalesce(e.err_message, '')
		FROM timescaledb_information.jobs j
		LEFT JOIN timescaledb_information.job_stats s USING (job_id)
		LEFT JOIN LATERAL (
			SELECT finish_time, sqlerrcode, err_message FROM timescaledb_information.job_errors e
			WHERE e.job_id = j.job_id ORDER BY finish_time DESC LIMIT 1) e ON true
		WHERE j.hypertable_schema = current_schema()
		ORDER BY j.job_id`)
	if err != nil {
		return nil, fmt.Errorf("timescale: read jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		var (
			j                    Job
			last, ok, next, errs *time.Time
			code, msg            string
		)
		err := r.Scan(&j.ID, &j.Proc, &j.Table, &j.LastStatus, &last, &ok, &next, &j.Runs, &j.Failures, &errs, &code, &msg)
		j.LastRun, j.LastSuccess, j.NextStart = deref(last), deref(ok), deref(next)
		if errs != nil {
			j.LastError = &JobError{At: *errs, Code: code, Message: msg}
		}
		return j, err
	})
	if err != nil {
		return nil, fmt.Errorf("timescale: read jobs: %w", err)
	}
	return jobs, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// RunJobs runs every TimescaleDB job on the schema's tables now, in the
// calling session (CALL run_job), in id order: compression, retention
// and the rollup's refresh, as the scheduler would. It returns the jobs
// it ran; the first failure ends it, wrapped with the job's name. It is
// what an operator uses where the scheduler cannot run jobs, and what
// tests use instead of waiting for a schedule. A job the scheduler is
// running at the same time (SQLSTATE 55P03) is tried again for up to
// runJobPatience.
func RunJobs(ctx context.Context, pool *pgxpool.Pool) ([]Job, error) {
	jobs, err := Jobs(ctx, pool)
	if err != nil {
		return nil, err
	}
	for i, j := range jobs {
		if err := runJob(ctx, pool, j.ID); err != nil {
			return jobs[:i], fmt.Errorf("timescale: run %s (job %d): %w", j.Name(), j.ID, err)
		}
	}
	return jobs, nil
}

const runJobPatience = time.Minute

func runJob(ctx context.Context, pool *pgxpool.Pool, id int32) error {
	deadline := time.Now().Add(runJobPatience)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		_, err := pool.Exec(ctx, `CALL run_job($1)`, id)
		if pgCode(err) != "55P03" || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
