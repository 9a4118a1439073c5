package timescale

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// TestRunJobsByHand: `smaint migrate --run-policies` runs compression,
// retention and the rollup's refresh; afterwards old chunks are
// compressed and the hourly rollup, current hour included, equals a
// GROUP BY over the raw rows.
func TestRunJobsByHand(t *testing.T) {
	ctx := context.Background()
	pool, _ := pipelinetest.Timescale(t)
	if _, err := Migrate(ctx, pool, MigrateConfig{Mode: ModeTimescale, CompressAfter: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	local, _ := localSink(t, Readings, Config{Pool: pool})
	from := time.Now().Add(-72 * time.Hour)
	rs := readingsFrom(from, 0, 72*60, 4, time.Minute*4)
	if _, err := local.Process(ctx, msgs(rs)); err != nil {
		t.Fatal(err)
	}
	jobs, err := RunJobs(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 {
		t.Fatalf("ran %d jobs, want compression, retention and refresh: %+v", len(jobs), jobs)
	}
	if n := count(t, pool, `SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = current_schema() AND hypertable_name = 'sensor_readings' AND is_compressed`); n == 0 {
		t.Fatal("no chunk compressed")
	}
	checkRollup(t, pool)

	// Late readings into hours already compressed and materialized, and a
	// replay of everything: the next refresh takes the late ones in.
	late := readingsFrom(from.Add(42*time.Hour+time.Second), 1_000_000, 600, 3, 3*time.Second)
	if _, err := local.Process(ctx, msgs(append(late, rs...))); err != nil {
		t.Fatal(err)
	}
	if _, err := RunJobs(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != int64(len(rs)+len(late)) {
		t.Fatalf("%d rows, want %d", n, len(rs)+len(late))
	}
	checkRollup(t, pool)
}

// TestJobWatch: failing jobs show in the metrics and in Health's detail
// (which stays ready), each failed run is logged once, a recovered job
// reads 0 and a removed one leaves the metrics.
func TestJobWatch(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := pipeline.NewHealth()
	var logs pipelinetest.Logs
	w := newJobWatch(reg, h, slog.New(slog.NewJSONHandler(&logs, nil)))
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ok := Job{ID: 1001, Proc: "policy_retention", Table: "sensor_readings", LastStatus: "Success", LastRun: at, LastSuccess: at.Add(time.Second), Runs: 4}
	bad := Job{ID: 1000, Proc: "policy_compression", Table: "sensor_readings", LastStatus: "Failed", LastRun: at, Runs: 2, Failures: 2,
		LastError: &JobError{At: at, Code: "24000", Message: `cannot drop portal "" while it is being set up`}}
	met := newJobMetrics(reg)
	failing := func(j Job) float64 {
		return testutil.ToFloat64(met.failing.WithLabelValues(strconv.Itoa(int(j.ID)), j.Proc, j.Table))
	}
	lines := func() int { return strings.Count(logs.String(), "a TimescaleDB job failed") }

	w.observe([]Job{bad, ok})
	w.observe([]Job{bad, ok})
	report, ready := h.Report()
	if !ready || len(report) != 1 || !strings.Contains(report[0].Detail, "1 of 2 jobs failing: compression of sensor_readings (job 1000) failed: SQLSTATE 24000") {
		t.Fatalf("health %v %+v", ready, report)
	}
	if failing(bad) != 1 || failing(ok) != 0 || lines() != 1 {
		t.Fatalf("failing %v/%v, %d log lines for one failed run", failing(bad), failing(ok), lines())
	}
	if got := testutil.ToFloat64(met.lastSuccess.WithLabelValues("1001", ok.Proc, ok.Table)); got != float64(at.Unix()+1) {
		t.Fatalf("last success %v", got)
	}

	bad.LastRun, bad.Failures = at.Add(time.Hour), 3
	w.observe([]Job{bad, ok})
	if lines() != 2 || !strings.Contains(logs.String(), `"sqlstate":"24000"`) {
		t.Fatalf("a second failed run: %d lines\n%s", lines(), logs.String())
	}

	bad.LastStatus, bad.LastSuccess = "Success", at.Add(2*time.Hour)
	w.observe([]Job{bad})
	if report, _ := h.Report(); failing(bad) != 0 || report[0].Detail != "1 jobs, none failing" {
		t.Fatalf("recovered: failing %v, %+v", failing(bad), report)
	}
	if n := testutil.CollectAndCount(met.failing); n != 1 {
		t.Fatalf("%d series after a job went away, want 1", n)
	}
}

// TestMaintainerWatchesTheScheduler: on TimescaleDB the Maintainer reads
// the jobs and their runs. Whether they ran and succeeded depends on the
// server (on the test machine the scheduler's runs fail, see the README):
// each job's metric says what timescaledb_information says.
func TestMaintainerWatchesTheScheduler(t *testing.T) {
	ctx := context.Background()
	pool, _ := pipelinetest.Timescale(t)
	if _, err := Migrate(ctx, pool, MigrateConfig{Mode: ModeTimescale}); err != nil {
		t.Fatal(err)
	}
	// Whether and when the scheduler runs the new policies is its own
	// business (on a busy test server it may wait): the Maintainer must
	// report the state timescaledb_information gives, before or after.
	before, err := Jobs(ctx, pool)
	if err != nil || len(before) != 3 {
		t.Fatalf("jobs %+v, %v", before, err)
	}
	reg := prometheus.NewRegistry()
	h := pipeline.NewHealth()
	var logs pipelinetest.Logs
	m := &Maintainer{Pool: pool, JobsEvery: 20 * time.Millisecond, Registerer: reg, Health: h, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	run, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(run) }()
	pipelinetest.Eventually(t, "the jobs in Health", func() bool {
		report, _ := h.Report()
		return len(report) == 1 && report[0].Component == HealthJobs
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after, err := Jobs(ctx, pool)
	if err != nil || len(after) != 3 {
		t.Fatalf("jobs %+v, %v", after, err)
	}
	met := newJobMetrics(reg)
	for i, j := range after {
		got := testutil.ToFloat64(met.failing.WithLabelValues(strconv.Itoa(int(j.ID)), j.Proc, j.Table))
		t.Logf("%s: status %q, failing metric %v, %s", j.Name(), j.LastStatus, got, j.Problem())
		if got != b2f(j.Failing()) && got != b2f(before[i].Failing()) {
			t.Errorf("%s: last run %q (before: %q), but failing metric %v", j.Name(), j.LastStatus, before[i].LastStatus, got)
		}
		if j.Failing() && j.LastError == nil {
			t.Errorf("%s failed with no error in job_errors", j.Name())
		}
	}
}
