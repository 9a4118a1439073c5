package features

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	windows, late, idleCloses, idleWaits, nonFinite, windowErrors, sparse prometheus.Counter
	open                                                                  prometheus.Gauge
	watermark                                                             *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		windows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_features_windows_total", Help: "Feature windows emitted.",
		}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_features_late_total", Help: "Readings that arrived after their window had closed, routed to the late topic.",
		}),
		idleCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_features_idle_closes_total", Help: "Times a partition's windows were closed because it went idle.",
		}),
		idleWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_features_idle_waits_total", Help: "Times a quiet partition's windows were kept open past the idle timeout because input was on its way (a backlog, or readings held in an upstream transaction a crashed instance left open).",
		}),
		nonFinite: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_features_nonfinite_total", Help: "Features that came out non-finite (from extreme values) and were set to 0.",
		}),
		windowErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_features_window_errors_total", Help: "Windows dropped because computing them failed (a bug; see the logs).",
		}),
		sparse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_features_sparse_windows_total", Help: "Windows emitted with fewer readings than their statistics need (SparseReadings).",
		}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_features_open_windows", Help: "Windows open, waiting for the watermark.",
		}),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_features_watermark_seconds", Help: "Each input partition's watermark (event time, Unix seconds): windows ending before it are closed. time() minus it is how far event time lags the wall clock.",
		}, []string{"partition"}),
	}
	if reg != nil {
		reg.MustRegister(m.windows, m.late, m.idleCloses, m.idleWaits, m.nonFinite, m.windowErrors, m.sparse, m.open, m.watermark)
	}
	return m
}
