package bench

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

// observer reads the features and alerts topics as a downstream consumer
// would and measures how long after it could exist each record arrived: a
// feature window can close only when the allowed lateness has passed its
// end, so its latency is arrival − (window end + lateness); an alert's is
// arrival − (end of the window that raised it + lateness). Event time is
// the wall clock the bench stamped readings with.
type observer struct {
	w        *pipeline.Watcher
	topics   pipeline.Topics
	dec      *schemas.Decoder
	lateness time.Duration
	start    time.Time
	stop     context.CancelFunc

	mu       sync.Mutex
	features []latencySample
	produced []latencySample // features by their record timestamp: when the stage produced them
	alerts   []latencySample
}

type latencySample struct {
	at time.Duration // since the start of the run
	ms float64
}

// newObserver starts an observer that runs until its stop is called or
// ctx ends.
func newObserver(ctx context.Context, kopts []kgo.Opt, serde *schemas.Serde, topics pipeline.Topics, lateness time.Duration, start time.Time) (*observer, error) {
	o := &observer{topics: topics, dec: serde.NewDecoder(), lateness: lateness, start: start}
	w, err := pipeline.NewWatcher(o.see, []string{topics.Features, topics.Alerts},
		pipeline.KafkaOpts(append(kopts, kgo.FetchMaxWait(50*time.Millisecond))...))
	if err != nil {
		return nil, err
	}
	o.w = w
	octx, stop := context.WithCancel(ctx)
	o.stop = stop
	go func() { _ = w.Run(octx) }()
	return o, nil
}

func (o *observer) see(r *pipeline.Observed) {
	now := time.Now()
	var fv schemas.FeatureVector
	var al schemas.Alert
	o.mu.Lock()
	defer o.mu.Unlock()
	switch r.Topic {
	case o.topics.Features:
		if o.dec.Decode(context.Background(), r.Value, &fv) == nil {
			due := fv.WindowEnd.Add(o.lateness)
			o.features = append(o.features, latencySample{now.Sub(o.start), ms(now.Sub(due))})
			o.produced = append(o.produced, latencySample{now.Sub(o.start), ms(r.Timestamp.Sub(due))})
		}
	case o.topics.Alerts:
		if o.dec.Decode(context.Background(), r.Value, &al) == nil && al.State == schemas.StateOpen {
			o.alerts = append(o.alerts, latencySample{now.Sub(o.start), ms(now.Sub(al.LastSeen.Add(o.lateness)))})
		}
	}
}

// waitCaughtUp waits until the observer has read every feature and alert
// produced so far, or timeout.
func (o *observer) waitCaughtUp(ctx context.Context, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if caught, err := o.w.CaughtUp(ctx); err == nil && caught {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// recentFeatureP99 is the p99 of the last n feature latencies, for the
// progress line; ok is false before any.
func (o *observer) recentFeatureP99(n int) (p99 float64, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.features) == 0 {
		return 0, false
	}
	return summarizeLatency(o.features[max(0, len(o.features)-n):]).P99, true
}

// fill sets the report's latencies.
func (o *observer) fill(rep *Report) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rep.FeatureLatency, rep.AlertLatency = summarizeLatency(o.features), summarizeLatency(o.alerts)
	rep.FeatureProduced = summarizeLatency(o.produced)
	rep.LatencySeries = latencySeries(o.features, 5*time.Second)
}

// LatencyStats summarizes latencies, in milliseconds.
type LatencyStats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarizeLatency(samples []latencySample) LatencyStats {
	if len(samples) == 0 {
		return LatencyStats{}
	}
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = s.ms
	}
	slices.Sort(v)
	// Nearest rank: the smallest value with at least p of the samples at
	// or below it.
	q := func(p float64) float64 { return v[max(0, int(math.Ceil(p*float64(len(v))))-1)] }
	return LatencyStats{Count: len(v), P50: q(0.50), P95: q(0.95), P99: q(0.99), Max: v[len(v)-1]}
}

// latencySeries summarizes samples per slice of the run.
func latencySeries(samples []latencySample, slice time.Duration) []LatencyPoint {
	buckets := map[int][]latencySample{}
	last := -1
	for _, s := range samples {
		i := int(s.at / slice)
		buckets[i] = append(buckets[i], s)
		last = max(last, i)
	}
	var out []LatencyPoint
	for i := 0; i <= last; i++ {
		if len(buckets[i]) > 0 {
			out = append(out, LatencyPoint{T: (time.Duration(i) * slice).Seconds(), LatencyStats: summarizeLatency(buckets[i])})
		}
	}
	return out
}
