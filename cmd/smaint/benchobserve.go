package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// latencyObserver reads the features and alerts topics as a downstream
// consumer would and measures how long after it could exist each record
// arrived: a feature window can close only when the allowed lateness has
// passed its end, so its latency is arrival − (window end + lateness); an
// alert's is arrival − (end of the window that raised it + lateness).
// Event time is the wall clock the bench stamped readings with.
type latencyObserver struct {
	cl       *kgo.Client
	dec      *schemas.Decoder
	topics   pipeline.Topics
	lateness time.Duration
	start    time.Time

	mu       sync.Mutex
	features []latencySample
	produced []latencySample // features by their record timestamp: when the stage produced them
	alerts   []latencySample
}

type latencySample struct {
	at time.Duration // since the start of the run
	ms float64
}

func newLatencyObserver(opts []kgo.Opt, serde *schemas.Serde, topics pipeline.Topics, lateness time.Duration, start time.Time) (*latencyObserver, error) {
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topics.Features, topics.Alerts),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))...)
	if err != nil {
		return nil, err
	}
	return &latencyObserver{cl: cl, dec: serde.NewDecoder(), topics: topics, lateness: lateness, start: start}, nil
}

// Run reads until ctx ends.
func (o *latencyObserver) Run(ctx context.Context) error {
	defer o.cl.Close()
	var fv schemas.FeatureVector
	var al schemas.Alert
	for {
		fs := o.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		o.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case o.topics.Features:
				if o.dec.Decode(ctx, r.Value, &fv) == nil {
					due := fv.WindowEnd.Add(o.lateness)
					o.features = append(o.features, latencySample{now.Sub(o.start), ms(now.Sub(due))})
					o.produced = append(o.produced, latencySample{now.Sub(o.start), ms(r.Timestamp.Sub(due))})
				}
			case o.topics.Alerts:
				if o.dec.Decode(ctx, r.Value, &al) == nil && al.State == schemas.StateOpen {
					o.alerts = append(o.alerts, latencySample{now.Sub(o.start), ms(now.Sub(al.LastSeen.Add(o.lateness)))})
				}
			}
		})
		o.mu.Unlock()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// snapshot returns copies of the samples so far.
func (o *latencyObserver) snapshot() (features, alerts []latencySample) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.features), slices.Clone(o.alerts)
}

// producedLatency summarizes the features' latency up to the moment the
// features stage produced them (their record timestamps): the part of
// event→feature spent before the last hop through the broker.
func (o *latencyObserver) producedLatency() latencyStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return summarizeLatency(o.produced)
}

// latencyStats summarizes samples, in milliseconds.
type latencyStats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarizeLatency(samples []latencySample) latencyStats {
	if len(samples) == 0 {
		return latencyStats{}
	}
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = s.ms
	}
	slices.Sort(v)
	// Nearest rank: the smallest value with at least p of the samples at
	// or below it.
	q := func(p float64) float64 { return v[max(0, int(math.Ceil(p*float64(len(v))))-1)] }
	return latencyStats{Count: len(v), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: v[len(v)-1]}
}
