package dedupe

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	dupLocal, dupStore, replays, degraded, restored prometheus.Counter
	storeUp, localEntries                           prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	dups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "smaint_dedupe_duplicates_total", Help: "Readings dropped as duplicates, by where the earlier sighting was found.",
	}, []string{"found_in"})
	m := metrics{
		dupLocal: dups.WithLabelValues("local"),
		dupStore: dups.WithLabelValues("store"),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_dedupe_replays_total", Help: "Readings consumed again at the position they were first seen at (after a restart or rebalance) and passed on.",
		}),
		degraded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_dedupe_store_degraded_total", Help: "Readings deduped by the local cache alone because the shared store failed.",
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_dedupe_restored_total", Help: "Reading ids read back from partition logs on taking partitions over.",
		}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_dedupe_store_up", Help: "1 while the shared dedupe store (Redis) answers, else 0.",
		}),
		localEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_dedupe_local_entries", Help: "Reading ids held by the in-process cache.",
		}),
	}
	if reg != nil {
		reg.MustRegister(dups, m.replays, m.degraded, m.restored, m.storeUp, m.localEntries)
	}
	return m
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
