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
	lastCPU    float64 // CPU seconds at the last kept point
	lastAt     time.Time
	cpuSeen    float64 // CPU seconds at the last sample
	cpuFirst   float64 // at the sample before the first reading was consumed
	cpuDone    float64 // at the sample where a counter last moved
}

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
	cpu, rss, _ := m.child.resources()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.rep.stageOrderNames {
		label := map[string]string{"stage": runnerName(s, m.rep.stageOrderNames)}
		in := familySum(mfs, "smaint_records_in_total", label)
		if in != m.seen[s] {
			if m.first.IsZero() && s == "dedupe" {
				m.first, m.cpuFirst = m.seenAt, m.cpuSeen
			}
			m.seen[s], m.lastChange[s], m.cpuDone = in, now, cpu
		}
		m.lag[s] = familySum(mfs, "smaint_consumer_lag", label)
	}
	m.seenAt, m.cpuSeen = now, cpu
	if !keep {
		return
	}
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

// activeSeconds is the time from the sample before dedupe consumed its
// first reading to the sample at which a stage's counter last moved: the
// run's length, up to two samples too long.
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

// activeCPU is the child's CPU seconds over activeSeconds' interval.
func (m *benchMonitor) activeCPU() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cpuDone - m.cpuFirst
}

// waitDrained waits until every stage has fetched its input to the end
// (its lag gauge reads 0), dedupe has consumed every reading produced, and
// no stage's counter has moved for two seconds; or timeout, or the child
// exits. Windows still open are not waited for: they close when the
// watermark or the idle timeout says so.
func (m *benchMonitor) waitDrained(ctx context.Context, timeout time.Duration, exited <-chan struct{}) bool {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		case <-time.After(250 * time.Millisecond):
		}
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
