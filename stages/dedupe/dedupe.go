// Package dedupe is the first stage of the pipeline: it validates raw
// readings, drops repeated reading_ids within a TTL, and passes the rest
// on to the clean topic in input order.
//
// A reading_id is a duplicate when it was first seen at another input
// position (topic partition and offset). Remembering the position, not
// just the id, is what makes the stage safe to replay: after a crash the
// same input is consumed again, finds its own position already recorded,
// and passes, where a plain "seen" flag would drop it and lose it.
//
// Ids are looked up in an in-process cache, which a shared store backs in
// one of two ways (Config.Log or Config.Claims, see their docs). If the
// store fails or is slow, the stage dedupes with the cache alone, counts
// and logs the degradation, and tries the store again after
// Config.StoreRetry: it never blocks on the store and never drops a
// reading because of it.
package dedupe

import (
	"context"
	"strconv"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Stage is the dedupe stage. Create it with New; run it with a
// pipeline.Runner on sensor.readings. Process, Revoked and the store calls
// are made from the runner's goroutine only.
type Stage struct {
	cfg    Config
	clean  *pipeline.Output[*schemas.SensorReading]
	caches map[pipeline.TopicPartition]*cache
	met    metrics

	storeDownUntil time.Time
	storeDown      bool
	restored       map[pipeline.TopicPartition]bool

	// scratch, reused across batches
	verdicts []verdict
	claims   []Claim
	claimIdx []int
	logged   map[pipeline.TopicPartition][]LogEntry
	posBuf   []byte
}

type verdict uint8

const (
	pass verdict = iota
	drop
	rejected
	pending // waiting for the claim store
)

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{
		cfg:      cfg,
		clean:    pipeline.NewOutput[*schemas.SensorReading](cfg.CleanTopic),
		caches:   make(map[pipeline.TopicPartition]*cache),
		met:      newMetrics(cfg.Registerer),
		restored: make(map[pipeline.TopicPartition]bool),
		logged:   make(map[pipeline.TopicPartition][]LogEntry),
	}
	s.met.storeUp.Set(boolFloat(cfg.Log != nil || cfg.Claims != nil))
	return s, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.clean} }

// Revoked implements pipeline.Revoker: the stage forgets the partitions'
// caches. A partition that comes back is restored from the log again,
// since another owner may have added to it meanwhile.
func (s *Stage) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	for _, tp := range tps {
		delete(s.restored, tp)
		delete(s.caches, tp)
	}
}

// cacheFor returns the cache of tp, creating it on first use.
func (s *Stage) cacheFor(tp pipeline.TopicPartition) *cache {
	c := s.caches[tp]
	if c == nil {
		c = newCache(s.cfg.LocalCapacity, s.cfg.TTL.Nanoseconds())
		s.caches[tp] = c
	}
	return c
}

// Process validates, dedupes and forwards one batch, in input order. It
// never returns an error: store failures degrade to the local cache.
func (s *Stage) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	now := s.cfg.Clock.Now()
	nowNs := now.UnixNano()
	storeUp := !now.Before(s.storeDownUntil)
	// After a failure the store is probed with this batch's append, which
	// StoreTimeout bounds, before a restore (bounded only by the longer
	// RestoreTimeout) is tried again on the next batch.
	if s.cfg.Log != nil && storeUp && !s.storeDown {
		storeUp = s.restore(ctx, in, now)
	}
	if cap(s.verdicts) < len(in) {
		s.verdicts = make([]verdict, len(in))
	}
	s.verdicts = s.verdicts[:len(in)]
	s.claims, s.claimIdx = s.claims[:0], s.claimIdx[:0]
	for tp, es := range s.logged {
		s.logged[tp] = es[:0]
	}

	var (
		tp    pipeline.TopicPartition
		local *cache
	)
	pipeline.Each(in, out, func(i int, m *pipeline.Msg[schemas.SensorReading]) error {
		s.verdicts[i] = rejected
		id, err := validate(&m.Value, m.Size, now, &s.cfg)
		if err != nil {
			return err
		}
		if local == nil || m.Partition != tp.Partition || m.Topic != tp.Topic {
			tp = pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}
			local = s.cacheFor(tp)
		}
		if first, ok := local.lookup(id, nowNs); ok {
			if first == m.Offset {
				s.met.replays.Inc()
				s.verdicts[i] = pass
			} else {
				s.met.dupLocal.Inc()
				s.verdicts[i] = drop
			}
			return nil
		}
		local.put(id, m.Offset, nowNs)
		s.verdicts[i] = pass
		switch {
		case s.cfg.Claims != nil && storeUp:
			s.verdicts[i] = pending
			s.posBuf = strconv.AppendInt(append(strconv.AppendInt(s.posBuf[:0], int64(m.Partition), 10), ':'), m.Offset, 10)
			s.claims = append(s.claims, Claim{ID: m.Value.ReadingID, Pos: string(s.posBuf)})
			s.claimIdx = append(s.claimIdx, i)
		case s.cfg.Log != nil:
			s.logged[tp] = append(s.logged[tp], LogEntry{ID: m.Value.ReadingID, Offset: m.Offset})
		}
		return nil
	})

	switch {
	case len(s.claims) > 0:
		s.resolveClaims(ctx, in, now)
	case s.cfg.Log != nil && storeUp:
		s.appendLog(ctx, now)
	case s.cfg.Log != nil:
		for _, es := range s.logged {
			s.met.degraded.Add(float64(len(es)))
		}
	}
	for i := range in {
		if s.verdicts[i] != pass {
			continue
		}
		// A reading keyed by its sensor keeps its producer's partition,
		// and with it the producer's order (pipeline's placement.go says
		// why); one keyed otherwise, or not at all, goes by sensor id.
		if r := &in[i].Value; string(in[i].Key) == r.SensorID {
			s.clean.EmitAt(out, in[i].Partition, r.SensorID, r)
		} else {
			s.clean.Emit(out, r.SensorID, r)
		}
	}
	n := 0
	for _, c := range s.caches {
		n += c.len()
	}
	s.met.localEntries.Set(float64(n))
	return nil
}

// restore reads back the log of every partition of the batch this stage
// has not restored since it was assigned. It reports whether the store
// is still usable.
func (s *Stage) restore(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], now time.Time) bool {
	var tps []pipeline.TopicPartition
	for i := range in {
		tp := pipeline.TopicPartition{Topic: in[i].Topic, Partition: in[i].Partition}
		if !s.restored[tp] {
			s.restored[tp] = true // tentatively, so each is asked once
			tps = append(tps, tp)
		}
	}
	for _, tp := range tps {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RestoreTimeout)
		n := 0
		local := s.cacheFor(tp)
		err := s.cfg.Log.Restore(rctx, tp, now.Add(-s.cfg.TTL), s.cfg.TTL, func(e LogEntry, seenAt time.Time) {
			if id, ok := parseUUID(e.ID); ok {
				local.put(id, e.Offset, seenAt.UnixNano())
				n++
			}
		})
		cancel()
		if err != nil {
			for _, t := range tps {
				delete(s.restored, t)
			}
			s.storeFailed(now, err)
			return false
		}
		s.met.restored.Add(float64(n))
		s.cfg.Logger.Info("dedupe log restored", "topic", tp.Topic, "partition", tp.Partition, "ids", n)
	}
	return true
}

func (s *Stage) appendLog(ctx context.Context, now time.Time) {
	n := 0
	for _, es := range s.logged {
		n += len(es)
	}
	if n == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	err := s.cfg.Log.Append(sctx, now, s.cfg.TTL, s.logged)
	cancel()
	if err != nil {
		s.met.degraded.Add(float64(n))
		s.storeFailed(now, err)
		return
	}
	s.storeOK()
}

// resolveClaims asks the claim store about the ids the cache did not know
// and settles their pending verdicts; if the store fails they all pass.
func (s *Stage) resolveClaims(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], now time.Time) {
	sctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	err := s.cfg.Claims.Claim(sctx, s.claims, s.cfg.TTL)
	cancel()
	if err != nil {
		s.met.degraded.Add(float64(len(s.claims)))
		s.storeFailed(now, err)
		for _, i := range s.claimIdx {
			s.verdicts[i] = pass
		}
		return
	}
	s.storeOK()
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
			id, _ := parseUUID(c.ID)
			s.cacheFor(pipeline.TopicPartition{Topic: in[i].Topic, Partition: in[i].Partition}).put(id, offElsewhere, now.UnixNano())
		}
	}
}

func (s *Stage) storeFailed(now time.Time, err error) {
	s.storeDownUntil = now.Add(s.cfg.StoreRetry)
	s.met.storeUp.Set(0)
	if !s.storeDown {
		s.storeDown = true
		s.cfg.Logger.Warn("dedupe store unavailable; deduping with the local cache alone", "err", err, "retry_in", s.cfg.StoreRetry)
	}
}

func (s *Stage) storeOK() {
	if s.storeDown {
		s.storeDown = false
		s.cfg.Logger.Info("dedupe store available again")
	}
	s.met.storeUp.Set(1)
}
