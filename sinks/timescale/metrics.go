package timescale

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// sinkMetrics are shared by every sink on a registry, labelled by table.
type sinkMetrics struct {
	rows     *prometheus.CounterVec // rows stored, by table and path
	existing *prometheus.CounterVec // replayed rows already stored
	rejected *prometheus.CounterVec // records dead-lettered
	errors   *prometheus.CounterVec // failed writes (retried)
	up       *prometheus.GaugeVec   // 1 while writes succeed
	seconds  *prometheus.HistogramVec
	retained *prometheus.CounterVec // rows deleted by retention
}

func newSinkMetrics(reg prometheus.Registerer) *sinkMetrics {
	return &sinkMetrics{
		rows: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_sink_rows_total", Help: "Rows the sink stored, by table and path (copy: fast path; upsert: a batch that conflicted).",
		}, []string{"table", "path"})),
		existing: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_sink_rows_existing_total", Help: "Replayed rows that were already stored and were left alone.",
		}, []string{"table"})),
		rejected: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_sink_rows_rejected_total", Help: "Records the database refused, sent to the dead-letter topic.",
		}, []string{"table"})),
		errors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_sink_write_errors_total", Help: "Batch writes that failed and will be retried.",
		}, []string{"table"})),
		up: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_sink_database_up", Help: "1 while the sink's last write succeeded, 0 while it is retrying.",
		}, []string{"table"})),
		seconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smaint_sink_write_seconds", Help: "Time to write one batch, transaction included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"table"})),
		retained: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_retention_deleted_total", Help: "Rows deleted by retention (plain PostgreSQL).",
		}, []string{"table"})),
	}
}

// register registers c, or returns the collector already registered
// under its name, so that several sinks share one set of metrics.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
