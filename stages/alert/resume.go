package alert

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Retained implements pipeline.Retainer: for each input partition, the
// oldest offset a sensor's state was built from (its last M windows, its
// open alerts' first events, the drift reports it holds, the first of the
// forecasts in a row that foresee a crossing).
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := map[pipeline.TopicPartition]int64{}
	keep := func(tp pipeline.TopicPartition, off int64) {
		if off < 0 {
			return
		}
		if cur, ok := out[tp]; !ok || off < cur {
			out[tp] = off
		}
	}
	for _, sn := range s.sensors {
		for _, w := range sn.recent {
			keep(pipeline.TopicPartition{Topic: w.topic, Partition: sn.partition}, w.offset)
		}
		for _, h := range sn.held {
			keep(h.tp, h.off)
		}
		if len(sn.driftStats) > 0 {
			keep(sn.driftStats[0].tp, sn.driftStats[0].off)
		}
		if sn.predict.run > 0 {
			keep(sn.predict.from, sn.predict.fromOffset)
		}
		for _, a := range []*openAlert{sn.anomaly, sn.drift, sn.predicted} {
			if a != nil {
				keep(a.keep, a.keepOffset)
			}
		}
	}
	return out
}

// Checkpoint implements pipeline.Checkpointer: the next offset to apply.
func (s *Stage) Checkpoint(tp pipeline.TopicPartition) string {
	if n, ok := s.next[tp]; ok {
		return pipeline.NextOffset("a1", n)
	}
	return ""
}

// Resume implements pipeline.Checkpointer: events below the checkpointed
// offset rebuild state without being sent again.
func (s *Stage) Resume(tp pipeline.TopicPartition, checkpoint string) {
	if next, ok := pipeline.ParseNextOffset("a1", checkpoint); ok {
		s.next[tp], s.replayTo[tp] = next, next
	}
}

// Revoked implements pipeline.Revoker: the partitions' sensors go.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		delete(s.next, tp)
		delete(s.replayTo, tp)
		if p := s.parts[tp.Partition]; p != nil {
			for id := range p.sensors {
				delete(s.sensors, id)
			}
			delete(s.parts, tp.Partition)
		}
	}
}

type metrics struct {
	opened, resolved, changes              *prometheus.CounterVec
	stale, upgraded, driftHeld, driftUsual prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_alerts_opened_total", Help: "Alerts opened, by kind.",
		}, []string{"kind"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_alerts_resolved_total", Help: "Alerts resolved, by kind.",
		}, []string{"kind"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_alert_records_total", Help: "Alert records emitted, by kind and state.",
		}, []string{"kind", "state"}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_alert_stale_scores_total", Help: "Scores of windows already applied (re-sent upstream), ignored.",
		}),
		driftHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_alert_drift_held_total", Help: "Drifted reports that opened no alert: not yet persistent, or explained by an incident.",
		}),
		driftUsual: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_alert_drift_usual_total", Help: "Drifted reports not counted towards a drift alert: the sensor's windows usually differ about as much (KS statistic under DriftTypical times its median), or it has had too few reports yet.",
		}),
		upgraded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_alert_drift_upgraded_total", Help: "Drift alerts that became anomaly alerts when their sensor turned anomalous.",
		}),
	}
	// Every kind's series exists from the start, at 0, so that rates and
	// dashboards see a kind before its first alert.
	for k := schemas.KindAnomaly; k <= schemas.KindPredicted; k++ {
		m.opened.WithLabelValues(k.String())
		m.resolved.WithLabelValues(k.String())
	}
	if reg != nil {
		reg.MustRegister(m.opened, m.resolved, m.changes, m.stale, m.upgraded, m.driftHeld, m.driftUsual)
	}
	return m
}
