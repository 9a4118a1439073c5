package predict

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// runState is an asset's run as the rul task follows it: when it began,
// its last Window rows, and, once it has had Window rows, the means of
// its first Window (start), which the state topic keeps.
type runState struct {
	began  time.Time // the run's time origin
	from   time.Time // its first row's start: rows before it are an earlier run's
	start  []float64 // by channel; nil until the run has had Window rows
	recent []runRow  // the last Window rows, oldest first
	last   time.Time // the end of its last row; zero after a restore
}

// runRow is one complete row of a run.
type runRow struct {
	t      float64   // window lengths since the run began, from 1
	values []float64 // by channel
	tp     pipeline.TopicPartition
	offset int64 // of its first window
}

// runEntry is a run's state-topic entry: when it began (its time
// origin), the start of its first row, and its start once it has one
// (empty before: a run that began after a gap or at maintenance).
type runEntry struct {
	Began int64     `json:"began_us"`
	From  int64     `json:"from_us,omitempty"` // absent in entries written before it was kept: Began
	Start []float64 `json:"start"`
}

// used are the names of the channels m reads.
func (m *RUL) used() []string {
	out := make([]string, len(m.Used))
	for i, c := range m.Used {
		out[i] = m.Channels[c]
	}
	return out
}

// Check reports why m cannot score, wrapping pipeline.ErrConfig: a
// model read from a model store is checked before use.
func (m *RUL) Check() error {
	switch {
	case m == nil || m.Model == nil:
		return fmt.Errorf("%w: predict: no remaining-life model (smaint train --task rul stores one as gbdt-rul)", pipeline.ErrConfig)
	case len(m.Used) == 0 || m.Window < 2:
		return fmt.Errorf("%w: predict: a remaining-life model of %d channels over %d rows", pipeline.ErrConfig, len(m.Used), m.Window)
	}
	for _, c := range m.Used {
		if c < 0 || c >= len(m.Channels) {
			return fmt.Errorf("%w: predict: the remaining-life model uses channel %d of %d", pipeline.ErrConfig, c, len(m.Channels))
		}
	}
	if !slices.Equal(m.Features, m.featureNames()) {
		return fmt.Errorf("%w: predict: the remaining-life model's features are not those of its channels %q", pipeline.ErrConfig, m.Channels)
	}
	for i, b := range []*Booster{m.Model, m.Lower, m.Upper} {
		if b == nil && i > 0 {
			continue // no interval
		}
		if err := b.check(len(m.Features)); err != nil {
			return fmt.Errorf("%w: predict: the remaining-life %s: %w", pipeline.ErrConfig, [...]string{"model", "lower quantile", "upper quantile"}[i], err)
		}
	}
	return nil
}

// remaining scores a complete row with the remaining-life model: the
// row joins its asset's run (which begins with it, if the asset has
// none), and the model reads the run's last Window rows against its
// first. The row's time is the window lengths since the run began, so a
// model trained on one row per cycle reads one window as one cycle. When
// the run reaches Window rows, its start goes to the state topic.
//
// A row RunGap or more after the run's last one ends the run and begins
// a new one with the row, whatever maintenance was done meanwhile (the
// time off line is not life used). Otherwise a row at or after renewing
// maintenance done since the run's first row (Maintained; not in replay)
// ends the run, and a new one begins with the row, dated from the latest
// such maintenance. A new run's beginning goes to the state topic at once, so
// that a restart does not join its rows to the old run. A row from before
// the run's first (an earlier run's, replayed) is nil.
func (s *Stage) remaining(asset string, r *row, replay bool, partition int32, out *pipeline.Emitter) *schemas.Prediction {
	m := s.cfg.RUL
	run := s.runs[asset]
	switch {
	case run != nil && r.start.Before(run.from):
		return nil
	case run != nil && s.cfg.RunGap > 0 && !run.last.IsZero() && r.start.Sub(run.last) >= s.cfg.RunGap:
		s.cfg.Logger.Info("a run ended: nothing came from its asset for the run gap or longer, and a new run begins",
			"asset", asset, "began", run.began, "last", run.last, "next", r.start)
		run = s.begin(asset, r.start, r.start, partition, out)
	case run != nil && !replay:
		if at, ok := s.renewal(asset, run.from, r.start); ok {
			s.cfg.Logger.Info("a run ended: maintenance renewed its asset, and a new run begins", "asset", asset, "began", run.began, "maintenance", at, "next", r.start)
			run = s.begin(asset, at, r.start, partition, out)
		}
	case run == nil:
		run = &runState{began: r.start, from: r.start}
		s.runs[asset] = run
	}
	run.last = r.end
	step := r.end.Sub(r.start)
	t := 1.0
	if step > 0 {
		t += float64((r.start.Sub(run.began) + step/2) / step)
	}
	values := make([]float64, len(m.Channels))
	for _, c := range m.Used {
		values[c] = r.num[m.Channels[c]]
	}
	run.recent = append(run.recent, runRow{t: t, values: values, tp: r.tp, offset: r.offset})
	if len(run.recent) > m.Window {
		run.recent = run.recent[len(run.recent)-m.Window:]
	}
	ts, rows := make([]float64, len(run.recent)), make([][]float64, len(run.recent))
	for i, rr := range run.recent {
		ts[i], rows[i] = rr.t, rr.values
	}
	start := run.start
	if start == nil {
		start = m.startOf(rows) // every row of the run so far
		if len(rows) == m.Window {
			run.start = start
			// Inputs are finite (nonFinite), so start is, unless means
			// of values near the float64 limit overflow.
			b, err := json.Marshal(runEntry{Began: run.began.UnixMicro(), From: run.from.UnixMicro(), Start: start})
			if err != nil {
				s.cfg.Logger.Error("a run's start cannot be kept: a restart will begin the run again", "asset", asset, "err", err)
			} else {
				s.state.EmitAt(out, partition, asset, &schemas.StageState{Key: asset, Value: b})
			}
		}
	}
	x := m.featuresAt(ts, rows, start)
	pr := s.record(asset, r)
	pr.RemainingLife = m.predictOf(x)
	pr.RemainingLower, pr.RemainingUpper = m.intervalOf(x)
	_, contrib := m.Model.Contributions(x)
	for _, d := range topDrivers(m.Features, contrib, s.cfg.Drivers) {
		pr.Drivers[d.Feature] = d.Effect
	}
	return pr
}

// begin starts asset's new run, dated from began, with the row that
// starts at from, and writes its beginning to the state topic.
func (s *Stage) begin(asset string, began, from time.Time, partition int32, out *pipeline.Emitter) *runState {
	run := &runState{began: began, from: from}
	s.runs[asset] = run
	b, _ := json.Marshal(runEntry{Began: began.UnixMicro(), From: from.UnixMicro()}) // cannot fail
	s.state.EmitAt(out, partition, asset, &schemas.StageState{Key: asset, Value: b})
	return run
}

// renewal returns the latest renewing maintenance of asset after after
// (the start of its run's first row) and at or before start, if there is
// one. Those at or before after are forgotten: done with, or learnt too
// late to matter, since the run began after them (a run begun at one
// renewal is not begun again at another that came before its first row).
func (s *Stage) renewal(asset string, after, start time.Time) (time.Time, bool) {
	ts := s.renewed[asset]
	done := 0
	for done < len(ts) && !ts[done].After(after) {
		done++
	}
	if done > 0 {
		ts = slices.Delete(ts, 0, done)
		if len(ts) == 0 {
			delete(s.renewed, asset)
		} else {
			s.renewed[asset] = ts
		}
	}
	i, _ := slices.BinarySearchFunc(ts, start, func(t, target time.Time) int { return t.Compare(target) })
	for i < len(ts) && ts[i].Equal(start) {
		i++
	}
	if i == 0 {
		return time.Time{}, false
	}
	return ts[i-1], true
}

// Restore implements pipeline.Restorer: an asset's run start, from the
// state topic. The rows since come back as the retained input replays.
func (s *Stage) Restore(tp pipeline.TopicPartition, key string, value []byte) {
	var e runEntry
	if err := json.Unmarshal(value, &e); err != nil || (s.cfg.RUL != nil && len(e.Start) > 0 && len(e.Start) != len(s.cfg.RUL.Channels)) {
		s.cfg.Logger.Warn("a run's state entry is not usable; the run starts again", "asset", key, "err", err)
		return
	}
	run := &runState{began: time.UnixMicro(e.Began).UTC()}
	run.from = run.began
	if e.From != 0 {
		run.from = time.UnixMicro(e.From).UTC()
	}
	if len(e.Start) > 0 {
		run.start = e.Start
	}
	s.runs[key] = run
	s.part(tp).assets[key] = true
}

var _ pipeline.Restorer = (*Stage)(nil)
