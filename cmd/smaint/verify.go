package main

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/simulate"
)

// verifier reads the pipeline's outcome topics from the start, outside
// any consumer group, for the demo's summary: it checks the clean readings
// against what the simulator sent (each must arrive, once) and keeps the
// alerts, drift reports and retrain requests to score against the
// simulator's ground truth.
type verifier struct {
	cl     *kgo.Client
	dec    *schemas.Decoder
	topics pipeline.Topics

	mu       sync.Mutex
	expected bitset // seqs of readings that must reach the clean topic
	seen     bitset // seqs that did
	next     map[string]map[int32]int64
	alerts   alertLog
	drifts   []schemas.DriftReport // drifted reports

	// onAlert, if set, sees every alert record, and whether its kind
	// changed from the alert's previous record.
	onAlert func(a *schemas.Alert, changedKind bool)

	sentValid     atomic.Int64 // valid readings the simulator sent, copies included
	sentMalformed atomic.Int64 // malformed records it sent

	cleanN   atomic.Int64 // records on the clean topic
	distinct atomic.Int64 // of which distinct expected readings
	foreign  atomic.Int64 // clean readings the simulator did not send as expected
	dlqN     atomic.Int64
	alertsN  atomic.Int64 // alert records of every state
	retrainN atomic.Int64
}

func newVerifier(opts []kgo.Opt, serde *schemas.Serde, topics pipeline.Topics) (*verifier, error) {
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topics.Clean, topics.DLQ, topics.Alerts, topics.Drift, topics.Retrain),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, err
	}
	return &verifier{cl: cl, dec: serde.NewDecoder(), topics: topics, next: map[string]map[int32]int64{}}, nil
}

// expect records that the simulator is about to send ev. One record per
// seq of a valid reading must reach the clean topic, whichever copy of it
// dedupe sees first.
func (v *verifier) expect(ev simulate.Event) {
	if ev.Kind == simulate.KindMalformed {
		v.sentMalformed.Add(1)
		return
	}
	v.sentValid.Add(1)
	v.mu.Lock()
	v.expected.set(ev.Seq)
	v.mu.Unlock()
}

// Run consumes until ctx ends.
func (v *verifier) Run(ctx context.Context) error {
	defer v.cl.Close()
	for {
		fs := v.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachRecord(func(rec *kgo.Record) { v.observe(ctx, rec) })
	}
}

func (v *verifier) observe(ctx context.Context, rec *kgo.Record) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ps := v.next[rec.Topic]
	if ps == nil {
		ps = map[int32]int64{}
		v.next[rec.Topic] = ps
	}
	ps[rec.Partition] = rec.Offset + 1
	switch rec.Topic {
	case v.topics.DLQ:
		v.dlqN.Add(1)
	case v.topics.Retrain:
		v.retrainN.Add(1)
	case v.topics.Alerts:
		v.alertsN.Add(1)
		var a schemas.Alert
		if v.dec.Decode(ctx, rec.Value, &a) != nil {
			return
		}
		changed := v.alerts.add(a)
		if v.onAlert != nil {
			v.onAlert(&a, changed)
		}
	case v.topics.Drift:
		var r schemas.DriftReport
		if v.dec.Decode(ctx, rec.Value, &r) == nil && r.Drifted {
			v.drifts = append(v.drifts, r)
		}
	case v.topics.Clean:
		v.cleanN.Add(1)
		var r schemas.SensorReading
		if err := v.dec.Decode(ctx, rec.Value, &r); err != nil {
			v.foreign.Add(1)
			return
		}
		seq, ok := simulate.SeqOf(r.ReadingID)
		switch {
		case !ok || !v.expected.has(seq):
			v.foreign.Add(1)
		case !v.seen.has(seq):
			v.seen.set(seq)
			v.distinct.Add(1)
		}
	}
}

// caughtUp reports whether the verifier has read its topics to their
// current ends.
func (v *verifier) caughtUp(ctx context.Context) (bool, error) {
	ends, err := kadm.NewClient(v.cl).ListEndOffsets(ctx, v.topics.Clean, v.topics.DLQ, v.topics.Alerts, v.topics.Drift, v.topics.Retrain)
	if err != nil {
		return false, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	done := true
	ends.Each(func(e kadm.ListedOffset) {
		if e.Offset > 0 && v.next[e.Topic][e.Partition] < e.Offset {
			done = false
		}
	})
	return done, nil
}

// results returns copies of the alerts seen and the drifted reports.
func (v *verifier) results() ([]alertSeen, []schemas.DriftReport) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.alerts.seen(), append([]schemas.DriftReport(nil), v.drifts...)
}

// duplicatesSent counts the copies of valid readings sent beyond the
// first of each: the duplicates dedupe should drop.
func (v *verifier) duplicatesSent() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sentValid.Load() - v.expected.count()
}

// lost counts the expected readings that never reached the clean topic.
func (v *verifier) lost() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.expected.count() - v.seen.count()
}

// bitset is a growable set of small non-negative integers.
type bitset struct{ words []uint64 }

func (b *bitset) set(i uint64) {
	w := int(i / 64)
	for w >= len(b.words) {
		b.words = append(b.words, 0)
	}
	b.words[w] |= 1 << (i % 64)
}

func (b *bitset) has(i uint64) bool {
	w := int(i / 64)
	return w < len(b.words) && b.words[w]&(1<<(i%64)) != 0
}

func (b *bitset) count() int64 {
	var n int64
	for _, w := range b.words {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}
