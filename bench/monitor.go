package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/smaint/smaint/pipeline"
)

// monitor samples the pipeline process ten times a second: its stages'
// input counters (from its /metrics), its CPU and memory, and the
// generator's progress; once a second it prints the progress line and
// keeps a point of the series for the report.
type monitor struct {
	b     *run
	child *pipelineProc
	rep   *Report
	start time.Time

	obs atomic.Pointer[observer] // set once the observer runs

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

// newMonitor returns a monitor whose series starts at start.
func newMonitor(b *run, child *pipelineProc, rep *Report, start time.Time) *monitor {
	return &monitor{
		b: b, child: child, rep: rep, start: start,
		seen: map[string]float64{}, last: map[string]float64{}, lag: map[string]float64{},
		lastChange: map[string]time.Time{}, seenAt: start, lastAt: start,
		lastSent: b.sent.Load(), // a flat-out backlog was produced before the start
	}
}

// run samples until ctx ends, then takes a last sample.
func (m *monitor) run(ctx context.Context) {
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
func (m *monitor) sample(ctx context.Context, keep bool) {
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
	for _, s := range m.rep.stages {
		label := map[string]string{"stage": runnerOf(mfs, s)}
		in := pipeline.SumMetric(mfs, "smaint_records_in_total", label)
		if in != m.seen[s] {
			if m.first.IsZero() && s == "dedupe" {
				m.first, m.cpuFirst = m.seenAt, m.cpuSeen
			}
			m.seen[s], m.lastChange[s], m.cpuDone = in, now, cpu
		}
		m.lag[s] = pipeline.SumMetric(mfs, "smaint_consumer_lag", label)
	}
	m.seenAt, m.cpuSeen = now, cpu
	if !keep {
		return
	}
	dt := now.Sub(m.lastAt).Seconds()
	pt := Point{T: now.Sub(m.start).Seconds(), Stages: map[string]float64{}, RSSMiB: float64(rss) / (1 << 20)}
	sent := m.b.sent.Load()
	pt.Produced = float64(sent-m.lastSent) / dt
	var line strings.Builder
	fmt.Fprintf(&line, "[%4.0fs] produced %9d (%7.0f/s) ", pt.T, sent, pt.Produced)
	for _, s := range m.rep.stages {
		pt.Stages[s] = (m.seen[s] - m.last[s]) / dt
		m.last[s] = m.seen[s]
		fmt.Fprintf(&line, " %s %7.0f/s", s, pt.Stages[s])
	}
	lag := pipeline.SumMetric(mfs, "smaint_consumer_lag", nil)
	fmt.Fprintf(&line, "  lag %7.0f  cpu %.2f cores  rss %4.0f MiB", lag, (cpu-m.lastCPU)/dt, pt.RSSMiB)
	if obs := m.obs.Load(); obs != nil && m.b.cfg.Rate > 0 {
		if p99, ok := obs.recentFeatureP99(2000); ok {
			fmt.Fprintf(&line, "  feature p99 %.0f ms", p99)
		}
	}
	m.rep.Series = append(m.rep.Series, pt)
	m.lastSent, m.lastCPU, m.lastAt = sent, cpu, now
	fmt.Fprintln(m.b.cfg.Out, line.String())
}

// fill sets the run's length and rates: readings that went through are
// all of them once drained, what dedupe consumed if the drain timed out.
func (m *monitor) fill(rep *Report) {
	rep.Seconds = m.activeSeconds()
	if rep.Seconds <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rep.EndToEnd = min(float64(rep.Produced), m.seen["dedupe"]) / rep.Seconds
	for _, s := range rep.stages {
		rep.StageRates[s] = m.seen[s] / rep.Seconds
	}
}

// runnerOf is the stage label of the runner that runs stage: stage
// itself, or the name of a runner it shares (pipeline.SharedName).
func runnerOf(mfs []*dto.MetricFamily, stage string) string {
	for _, mf := range mfs {
		if mf.GetName() != "smaint_records_in_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "stage" && slices.Contains(strings.Split(lp.GetValue(), "+"), stage) {
					return lp.GetValue()
				}
			}
		}
	}
	return stage
}

// activeSeconds is the time from the sample before dedupe consumed its
// first reading to the sample at which a stage's counter last moved: the
// run's length, up to two samples too long.
func (m *monitor) activeSeconds() float64 {
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
func (m *monitor) activeCPU() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cpuDone - m.cpuFirst
}

// waitDrained waits until every stage has fetched its input to the end
// (its lag gauge reads 0), dedupe has consumed every reading produced, and
// no stage's counter has moved for two seconds; or timeout, or the child
// exits. Windows still open are not waited for: they close when the
// watermark or the idle timeout says so.
func (m *monitor) waitDrained(ctx context.Context, timeout time.Duration, exited <-chan struct{}) bool {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		case <-time.After(250 * time.Millisecond):
		}
		m.mu.Lock()
		done := m.seen["dedupe"] >= float64(m.b.sent.Load())
		for _, s := range m.rep.stages {
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
