package timescale

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
)

// HealthJobs is the Health component under which a Maintainer reports
// TimescaleDB's jobs. It stays ready when jobs fail (the pipeline still
// stores everything; a failing compression or retention job only lets
// the database grow), and its detail names each failing job.
const HealthJobs = "timescaledb/jobs"

// jobMetrics mirror timescaledb_information's view of each job.
type jobMetrics struct {
	failing     *prometheus.GaugeVec
	failures    *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
}

var jobLabels = []string{"job_id", "job", "table"}

func newJobMetrics(reg prometheus.Registerer) *jobMetrics {
	return &jobMetrics{
		failing: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_timescaledb_job_failing", Help: "1 while a TimescaleDB job's last run failed (compression, retention, refresh of the hourly rollup).",
		}, jobLabels)),
		failures: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_timescaledb_job_failures", Help: "Failed runs of a TimescaleDB job, as TimescaleDB counts them (job_stats.total_failures).",
		}, jobLabels)),
		lastSuccess: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_timescaledb_job_last_success_timestamp_seconds", Help: "When a TimescaleDB job last finished successfully (Unix seconds; 0: never).",
		}, jobLabels)),
	}
}

// jobWatch turns successive readings of the jobs into metrics, a Health
// detail and one log line per failed run.
type jobWatch struct {
	met    *jobMetrics
	health *pipeline.Health
	log    *slog.Logger
	seen   map[int32][]string // label values set, by job
	logged map[int32]time.Time
}

func newJobWatch(reg prometheus.Registerer, h *pipeline.Health, log *slog.Logger) *jobWatch {
	return &jobWatch{met: newJobMetrics(reg), health: h, log: log, seen: map[int32][]string{}, logged: map[int32]time.Time{}}
}

// observe records one reading of the jobs.
func (w *jobWatch) observe(jobs []Job) {
	current := map[int32]bool{}
	var problems []string
	for _, j := range jobs {
		current[j.ID] = true
		lv := []string{strconv.Itoa(int(j.ID)), j.Proc, j.Table}
		w.seen[j.ID] = lv
		w.met.failing.WithLabelValues(lv...).Set(b2f(j.Failing()))
		w.met.failures.WithLabelValues(lv...).Set(float64(j.Failures))
		last := 0.0
		if !j.LastSuccess.IsZero() {
			last = float64(j.LastSuccess.UnixNano()) / 1e9
		}
		w.met.lastSuccess.WithLabelValues(lv...).Set(last)
		if !j.Failing() {
			continue
		}
		problems = append(problems, j.Problem())
		if w.logged[j.ID].Equal(j.LastRun) {
			continue
		}
		w.logged[j.ID] = j.LastRun
		attrs := []any{"job_id", j.ID, "job", j.Name(), "failures", j.Failures, "runs", j.Runs, "last_run", j.LastRun}
		if e := j.LastError; e != nil {
			attrs = append(attrs, "sqlstate", e.Code, "err", e.Message)
		}
		w.log.Warn("a TimescaleDB job failed; `smaint migrate --run-policies` runs it by hand", attrs...)
	}
	for id, lv := range w.seen {
		if !current[id] {
			w.met.failing.DeleteLabelValues(lv...)
			w.met.failures.DeleteLabelValues(lv...)
			w.met.lastSuccess.DeleteLabelValues(lv...)
			delete(w.seen, id)
			delete(w.logged, id)
		}
	}
	detail := fmt.Sprintf("%d jobs, none failing", len(jobs))
	if len(problems) > 0 {
		detail = fmt.Sprintf("%d of %d jobs failing: %s", len(problems), len(jobs), strings.Join(problems, "; "))
	}
	w.health.Set(HealthJobs, true, detail)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// watchJobs reads the jobs every interval until ctx ends. A failed read
// is logged and shown in Health, and tried again next time.
func (m *Maintainer) watchJobs(ctx context.Context, every time.Duration, log *slog.Logger) error {
	w := newJobWatch(m.Registerer, m.Health, log)
	defer m.Health.Remove(HealthJobs)
	for {
		jobs, err := Jobs(ctx, m.Pool)
		switch {
		case err == nil:
			w.observe(jobs)
		case ctx.Err() == nil:
			log.Warn("cannot read TimescaleDB's jobs; trying again later", "err", err)
			m.Health.Set(HealthJobs, true, "cannot read the jobs: "+err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}
