package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/smaint/smaint/stages/simulate"
)

// liveLine prints one line a second while the demo runs.
type liveLine struct {
	w       io.Writer
	d       *deps
	ver     *verifier
	sim     *simulate.Sim
	started time.Time
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newLiveLine(w io.Writer, d *deps, ver *verifier, sim *simulate.Sim, started time.Time) *liveLine {
	l := &liveLine{w: w, d: d, ver: ver, sim: sim, started: started, done: make(chan struct{})}
	l.wg.Add(1)
	return l
}

func (l *liveLine) run(ctx context.Context) {
	defer l.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastSent int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.done:
			return
		case <-tick.C:
		}
		// The simulator is not safe to read concurrently; its progress is
		// taken from the metrics and the verifier instead.
		m := func(name string) int64 { return int64(metricSum(l.d.reg, name, nil)) }
		sent := int64(metricSum(l.d.reg, "smaint_records_in_total", map[string]string{"stage": "dedupe"}))
		fmt.Fprintf(l.w, "[%4.0fs] in %9d (%6d/s)  clean %9d  dup dropped %6d  dlq %4d  windows %6d  anomalous %4d  alerts %3d  drift %3d\n",
			time.Since(l.started).Seconds(), sent, sent-lastSent, l.ver.cleanN.Load(), m("smaint_dedupe_duplicates_total"),
			l.ver.dlqN.Load(), m("smaint_features_windows_total"), m("smaint_score_anomalies_total"),
			m("smaint_alerts_opened_total"), m("smaint_drift_drifted_total"))
		lastSent = sent
	}
}

// stop ends the line and waits for it.
func (l *liveLine) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}
