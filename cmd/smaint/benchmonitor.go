package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchMonitor samples the pipeline process once a second: its stages'
// input counters (from its /metrics), its CPU and memory, and the
// generator's progress; it prints the progress line and keeps the series
// for the report.
type benchMonitor struct {
	b     *bench
	child *pipelineProc
	rep   *benchReport
	start time.Time

	obs atomic.Pointer[latencyObserver] // set once the observer runs

	mu         sync.Mutex
	seen       map[string]float64   // stage -> records in, at the last sample
	seenAt     time.Time            // when that sample was taken
	last       map[string]float64   // stage -> records in, at the last kept point
	lag        map[string]float64   // stage -> consumer lag, at the last sample
	lastChange map[string]time.Time // stage -> when its counter last moved
	first      time.Time            // when the first reading was consumed
	lastSent   int64
	lastCPU    float64
	lastAt     time.Time
}

// readingStages are the stages that consume readings; the run is done
// when they have consumed them all and the windows closed meanwhile have
// gone through score and alert.
var readingStages = []string{"dedupe", "features", "drift"}

// newBenchMonitor returns a monitor whose series starts at start.
func newBenchMonitor(b *bench, child *pipelineProc, rep *benchReport, start time.Time) *benchMonitor {
	return &benchMonitor{
		b: b, child: child, rep: rep, start: start,
		seen: map[string]float64{}, last: map[string]float64{}, lag: map[string]float64{},
		lastChange: map[string]time.Time{}, seenAt: start, lastAt: start,
		lastSent: b.sent.Load(), // a flat-out backlog was produced before the start
	}
}

// run samples until ctx ends, then takes a last sample.
func (m *benchMonitor) run(ctx context.Context) {
	// Sample ten times a second, for the timing of the run's start and
	// end (the run's measured length can be up to two samples too long,
	// never too short); print and keep one point a second.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			m.sample(context.WithoutCancel(ctx), false)
			return
		case <-tick.C:
			m.sample(ctx, n%10 == 0)
		}
	}
}

// sample reads the counters; with keep it also adds a point to the series
// (covering the time since the last kept point) and prints the line.
func (m *benchMonitor) sample(ctx context.Context, keep bool) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	mfs, err := m.child.scrape(sctx)
	cancel()
	if err != nil {
		return
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.rep.stageOrderNames {
		in := familySum(mfs, "smaint_records_in_total", map[string]string{"stage": s})
		if in != m.seen[s] {
			if m.first.IsZero() && s == "dedupe" {
				m.first = m.seenAt
			}
			m.seen[s], m.lastChange[s] = in, now
		}
		m.lag[s] = familySum(mfs, "smaint_consumer_lag", map[string]string{"stage": s})
	}
	m.seenAt = now
	if !keep {
		return
	}
	cpu, rss, _ := m.child.resources()
	dt := now.Sub(m.lastAt).Seconds()
	pt := benchPoint{T: now.Sub(m.start).Seconds(), Stages: map[string]float64{}, RSSMiB: float64(rss) / (1 << 20)}
	sent := m.b.sent.Load()
	pt.Produced = float64(sent-m.lastSent) / dt
	var line strings.Builder
	fmt.Fprintf(&line, "[%4.0fs] produced %9d (%7.0f/s) ", pt.T, sent, pt.Produced)
	for _, s := range m.rep.stageOrderNames {
		pt.Stages[s] = (m.seen[s] - m.last[s]) / dt
		m.last[s] = m.seen[s]
		fmt.Fprintf(&line, " %s %7.0f/s", s, pt.Stages[s])
	}
	lag := familySum(mfs, "smaint_consumer_lag", nil)
	fmt.Fprintf(&line, "  lag %7.0f  cpu %.2f cores  rss %4.0f MiB", lag, (cpu-m.lastCPU)/dt, pt.RSSMiB)
	if obs := m.obs.Load(); obs != nil && m.b.flags.rate > 0 {
		if feats, _ := obs.snapshot(); len(feats) > 0 {
			recent := feats[max(0, len(feats)-2000):]
			fmt.Fprintf(&line, "  feature p99 %.0f ms", summarizeLatency(recent).P99)
		}
	}
	m.rep.Series = append(m.rep.Series, pt)
	m.lastSent, m.lastCPU, m.lastAt = sent, cpu, now
	fmt.Fprintln(m.b.out, line.String())
}

// stageIn returns a stage's records in at the last sample.
func (m *benchMonitor) stageIn(stage string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[stage]
}

// activeSeconds is the time from the first reading consumed to the last
// reading processed by the stages that consume readings.
func (m *benchMonitor) activeSeconds() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first.IsZero() {
		return 0
	}
	var done time.Time
	for _, t := range m.lastChange {
		if t.After(done) {
			done = t
		}
	}
	return done.Sub(m.first).Seconds()
}

// waitDrained waits until the stages that consume readings have fetched
// their inputs to the end (their lag gauges read 0), dedupe has consumed
// every reading produced, and no stage's counter has moved for two
// seconds; or timeout. Windows still open are not waited for: they close
// when the watermark or the idle timeout says so.
func (m *benchMonitor) waitDrained(ctx context.Context, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		m.mu.Lock()
		done := m.seen["dedupe"] >= float64(m.b.sent.Load()) || !slices.Contains(m.rep.stageOrderNames, "dedupe")
		for _, s := range m.rep.stageOrderNames {
			if time.Since(m.lastChange[s]) < 2*time.Second {
				done = false
			}
			if m.lag[s] != 0 {
				done = false
			}
		}
		m.mu.Unlock()
		if done {
			return true
		}
	}
	return false
}
