// Package dedupe is the first stage of the pipeline: it validates raw
// readings, drops repeated reading_ids within a TTL, and passes the rest
// on to the clean topic.
//
// A reading_id is a duplicate when it was first seen at another input
// position (topic partition and offset). Remembering the position, not
// just the id, is what makes the stage safe to replay: after a crash the
// same input is consumed again, finds its own position already recorded,
// and passes, where a plain "seen" flag would drop it and lose it.
//
// Ids are looked up first in an in-process cache, then, for ids the cache
// does not know, in the shared Store (Redis) with one pipelined round trip
// per batch. If the store fails or is slow, the batch is deduped by the
// cache alone, the degradation is counted and logged, and the store is
// tried again after Config.StoreRetry: the stage never blocks on it.
package dedupe

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Stage is the dedupe stage. Create it with New; run it with a
// pipeline.Runner on sensor.readings.
type Stage struct {
	cfg   Config
	clean *pipeline.Output[*schemas.SensorReading]
	local *cache
	met   metrics

	storeDownUntil time.Time
	storeDown      bool

	// scratch, reused across batches
	verdicts []verdict
	claims   []Claim
	claimIdx []int
	posBuf   []byte
}

type verdict uint8

const (
	pass verdict = iota
	drop
	rejected
	pending // waiting for the store
)

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{
		cfg:   cfg,
		clean: pipeline.NewOutput[*schemas.SensorReading](cfg.CleanTopic),
		local: newCache(cfg.LocalCapacity, cfg.TTL.Nanoseconds()),
		met:   newMetrics(cfg.Registerer),
	}
	s.met.storeUp.Set(boolFloat(cfg.Store != nil))
	return s, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.clean} }

// Process validates, dedupes and forwards one batch, in input order.
// It never returns an error: store failures degrade to local dedupe.
func (s *Stage) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	now := s.cfg.Clock.Now()
	nowNs := now.UnixNano()
	s.verdicts = append(s.verdicts[:0], make([]verdict, len(in))...)
	s.claims, s.claimIdx = s.claims[:0], s.claimIdx[:0]
	useStore := s.cfg.Store != nil && !now.Before(s.storeDownUntil)

	pipeline.Each(in, out, func(i int, m *pipeline.Msg[schemas.SensorReading]) error {
		s.verdicts[i] = rejected
		if err := validate(&m.Value, now, s.cfg.MaxPast, s.cfg.MaxFuture); err != nil {
			return err
		}
		pos := packPos(m.Partition, m.Offset)
		if first, ok := s.local.lookup(m.Value.ReadingID, nowNs); ok {
			if first == pos {
				s.met.replays.Inc()
				s.verdicts[i] = pass
			} else {
				s.met.dupLocal.Inc()
				s.verdicts[i] = drop
			}
			return nil
		}
		s.local.put(m.Value.ReadingID, pos, nowNs)
		if !useStore {
			s.verdicts[i] = pass
			return nil
		}
		s.verdicts[i] = pending
		s.posBuf = strconv.AppendInt(append(strconv.AppendInt(s.posBuf[:0], int64(m.Partition), 10), ':'), m.Offset, 10)
		s.claims = append(s.claims, Claim{ID: m.Value.ReadingID, Pos: string(s.posBuf)})
		s.claimIdx = append(s.claimIdx, i)
		return nil
	})

	if len(s.claims) > 0 {
		s.resolveClaims(ctx, in, now)
	}
	for i := range in {
		if s.verdicts[i] == pass {
			s.clean.Emit(out, in[i].Value.SensorID, &in[i].Value)
		}
	}
	s.met.localEntries.Set(float64(s.local.len()))
	return nil
}

// resolveClaims asks the store about the ids the cache did not know and
// settles their pending verdicts; if the store fails they all pass.
func (s *Stage) resolveClaims(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], now time.Time) {
	sctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	err := s.cfg.Store.Claim(sctx, s.claims, s.cfg.TTL)
	cancel()
	if err != nil {
		s.storeDownUntil = now.Add(s.cfg.StoreRetry)
		s.met.degraded.Add(float64(len(s.claims)))
		s.met.storeUp.Set(0)
		if !s.storeDown {
			s.storeDown = true
			s.cfg.Logger.Warn("dedupe store unavailable; deduping locally", "err", err, "retry_in", s.cfg.StoreRetry)
		}
		for _, i := range s.claimIdx {
			s.verdicts[i] = pass
		}
		return
	}
	if s.storeDown {
		s.storeDown = false
		s.met.storeUp.Set(1)
		s.cfg.Logger.Info("dedupe store available again")
	}
	for k, c := range s.claims {
		i := s.claimIdx[k]
		switch {
		case !c.Existed:
			s.verdicts[i] = pass
		case c.Prev == c.Pos:
			s.met.replays.Inc()
			s.verdicts[i] = pass
		default:
			s.met.dupStore.Inc()
			s.verdicts[i] = drop
			// First seen elsewhere: every later sighting here is a duplicate too.
			s.local.put(in[i].Value.ReadingID, posElsewhere, now.UnixNano())
		}
	}
}

type metrics struct {
	dupLocal, dupStore, replays, degraded prometheus.Counter
	storeUp, localEntries                 prometheus.Gauge
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
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_dedupe_store_up", Help: "1 while the shared dedupe store (Redis) answers, else 0.",
		}),
		localEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smaint_dedupe_local_entries", Help: "Reading ids held by the in-process cache.",
		}),
	}
	if reg != nil {
		reg.MustRegister(dups, m.replays, m.degraded, m.storeUp, m.localEntries)
	}
	return m
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
