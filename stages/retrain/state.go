package retrain

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// partState is what the stage knows of one input partition: the next
// offset to process and, after a restart, the offset replay reaches and
// which requests below it were still waiting.
type partState struct {
	next, replayTo int64
	pendingAt      map[int64]bool
}

func (s *Stage) part(tp pipeline.TopicPartition) *partState {
	p := s.parts[tp]
	if p == nil {
		p = &partState{pendingAt: map[int64]bool{}}
		s.parts[tp] = p
	}
	return p
}

// checkpoint is a partition's checkpoint: where processing had got to,
// the requests of the partition still waiting, and when each model was
// last trained (the cooldown), which every partition carries.
type checkpoint struct {
	Next    int64            `json:"next"`
	Pending []int64          `json:"pending,omitempty"`
	Trained map[string]int64 `json:"trained,omitempty"` // model -> RequestedAt, Unix µs
}

// Checkpoint implements pipeline.Checkpointer.
func (s *Stage) Checkpoint(tp pipeline.TopicPartition) string {
	p := s.parts[tp]
	if p == nil {
		return ""
	}
	c := checkpoint{Next: p.next, Trained: map[string]int64{}}
	for _, r := range s.pending {
		if r.at == tp {
			c.Pending = append(c.Pending, r.offset)
		}
	}
	for m, t := range s.trained {
		c.Trained[m] = t.UnixMicro()
	}
	b, _ := json.Marshal(c) // cannot fail
	return "r1 " + string(b)
}

// Resume implements pipeline.Checkpointer: inputs below the checkpoint
// replay to rebuild the waiting requests, and decide nothing again.
func (s *Stage) Resume(tp pipeline.TopicPartition, cp string) {
	delete(s.parts, tp)
	var c checkpoint
	if len(cp) < 3 || cp[:3] != "r1 " || json.Unmarshal([]byte(cp[3:]), &c) != nil {
		return
	}
	p := s.part(tp)
	p.next, p.replayTo = c.Next, c.Next
	for _, off := range c.Pending {
		p.pendingAt[off] = true
	}
	for m, t := range c.Trained {
		if at := time.UnixMicro(t); at.After(s.trained[m]) {
			s.trained[m] = at
		}
	}
}

// Retained implements pipeline.Retainer: the waiting requests, the
// windows they collected and the recent windows are read again after a
// restart.
func (s *Stage) Retained() map[pipeline.TopicPartition]int64 {
	out := map[pipeline.TopicPartition]int64{}
	keep := func(tp pipeline.TopicPartition, off int64) {
		if o, ok := out[tp]; !ok || off < o {
			out[tp] = off
		}
	}
	for _, r := range s.pending {
		keep(r.at, r.offset)
		for tp, off := range r.oldest {
			keep(tp, off)
		}
	}
	for _, ring := range s.recent {
		for _, w := range ring {
			keep(w.at, w.offset)
		}
	}
	for _, in := range s.incidents {
		keep(in.at, in.offset)
	}
	return out
}

// Revoked implements pipeline.Revoker: requests read from, or windows
// collected from, revoked partitions are dropped; the new owner reads
// them again from the retained offsets.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	gone := map[pipeline.TopicPartition]bool{}
	for _, tp := range tps {
		gone[tp] = true
		delete(s.parts, tp)
	}
	kept := s.pending[:0]
	for _, r := range s.pending {
		lost := gone[r.at]
		for tp := range r.oldest {
			lost = lost || gone[tp]
		}
		if !lost {
			kept = append(kept, r)
		}
	}
	s.pending = kept
	s.met.pending.Set(float64(len(s.pending)))
	for typ, ring := range s.recent {
		s.recent[typ] = slices.DeleteFunc(ring, func(w seenWindow) bool { return gone[w.at] })
	}
	for id, in := range s.incidents {
		if gone[in.at] {
			delete(s.incidents, id)
		}
	}
	s.met.incidents.Set(float64(len(s.incidents)))
}

type metrics struct {
	decisions   *prometheus.CounterVec
	pending     prometheus.Gauge
	storeErrors prometheus.Counter
	incidents   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_retrain_decisions_total", Help: "Retrain decisions, by action: published, shadow, rejected, skipped.",
		}, []string{"action"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_retrain_pending", Help: "Retrain requests waiting for the windows after them.",
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_retrain_store_errors_total", Help: "Decisions put off because the model store could not be read or written; tried again with the next batch.",
		}),
		incidents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_retrain_incidents", Help: "Alerts the retrain stage keeps to leave their sensors' windows out of training.",
		}),
	}
	for _, a := range []string{schemas.ModelPublished, schemas.ModelShadow, schemas.ModelRejected, schemas.ModelSkipped} {
		m.decisions.WithLabelValues(a) // 0 from the start, for rates and dashboards
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.pending, m.storeErrors, m.incidents)
	}
	return m
}
