package retrain

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Event is one input of the stage: a feature window, a retrain request
// or an alert.
type Event struct {
	Features *schemas.FeatureVector
	Request  *schemas.RetrainEvent
	Alert    *schemas.Alert
}

// Decode returns the runner's decoder for Events from the three topics.
// alertsTopic may be empty: the stage then knows of no incident.
func Decode(featuresTopic, retrainTopic, alertsTopic string) pipeline.DecodeFunc[Event] {
	return func(ctx context.Context, d *schemas.Decoder, topic string, b []byte, ev *Event) error {
		switch topic {
		case featuresTopic:
			*ev = Event{Features: new(schemas.FeatureVector)}
			return d.Decode(ctx, b, ev.Features)
		case retrainTopic:
			*ev = Event{Request: new(schemas.RetrainEvent)}
			return d.Decode(ctx, b, ev.Request)
		case alertsTopic:
			if alertsTopic != "" {
				*ev = Event{Alert: new(schemas.Alert)}
				return d.Decode(ctx, b, ev.Alert)
			}
		}
		return fmt.Errorf("%w: retrain stage does not read topic %s", pipeline.ErrInvalid, topic)
	}
}

// seenWindow is a window of recent, with where it was read.
type seenWindow struct {
	fv     schemas.FeatureVector
	at     pipeline.TopicPartition
	offset int64
}

// request is a retrain request waiting for the windows after it.
type request struct {
	ev      schemas.RetrainEvent
	at      pipeline.TopicPartition
	offset  int64
	typ     string
	bands   int
	windows []schemas.FeatureVector
	oldest  map[pipeline.TopicPartition]int64 // of the windows collected
}

// Stage is the retrain stage. Process and the runner hooks are called
// from the runner's goroutine; a batch that makes requests ready trains
// their candidates, up to Config.MaxConcurrent at once, before Process
// returns, so a decision is committed with the inputs that led to it.
// Process never fails a batch (its state would then hold the batch
// twice on the runner's retry): a request whose decision needs a store
// that cannot be read or written stays waiting, and is decided with a
// later batch.
type Stage struct {
	cfg     Config
	updates *pipeline.Output[*schemas.ModelUpdated]
	met     *metrics

	pending []*request
	// recent are the last Config.After windows of each sensor type: a
	// request arrives after the drift stage has seen the change, and by
	// then windows after it may have gone by on the features topic.
	recent  map[string][]seenWindow
	trained map[string]time.Time // model -> RequestedAt of its last training (the cooldown)
	// incidents are the alerts, by AlertID, that mark their sensor's
	// windows as no example of normal (see incidentKind).
	incidents map[string]*incident
	parts     map[pipeline.TopicPartition]*partState
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Stage{cfg: cfg, updates: pipeline.NewOutput[*schemas.ModelUpdated](cfg.UpdatesTopic), met: newMetrics(cfg.Registerer),
		recent: map[string][]seenWindow{}, trained: map[string]time.Time{}, parts: map[pipeline.TopicPartition]*partState{},
		incidents: map[string]*incident{}}, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.updates} }

// Process implements pipeline.Stage.
func (s *Stage) Process(ctx context.Context, in []pipeline.Msg[Event], out *pipeline.Emitter) error {
	for i := range in {
		m := &in[i]
		tp := pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		p := s.part(tp)
		replay := m.Offset < p.replayTo
		p.next = max(p.next, m.Offset+1)
		switch {
		case m.Value.Request != nil:
			if replay && !p.pendingAt[m.Offset] {
				continue // decided before the restart
			}
			s.request(*m.Value.Request, tp, m.Offset, out)
		case m.Value.Features != nil:
			s.window(m.Value.Features, tp, m.Offset)
		case m.Value.Alert != nil:
			s.alert(m.Value.Alert, tp, m.Offset)
		}
	}
	s.decideReady(ctx, out)
	s.forgetIncidents()
	return nil
}

// request files a retrain request, or skips it with a decision record.
func (s *Stage) request(ev schemas.RetrainEvent, tp pipeline.TopicPartition, off int64, out *pipeline.Emitter) {
	typ, ok := strings.CutPrefix(ev.ModelName, "iforest-")
	skip := func(reason string) {
		s.emit(out, &schemas.ModelUpdated{ModelName: ev.ModelName, Action: schemas.ModelSkipped, Reason: reason, TrainedAt: ev.RequestedAt})
	}
	switch last, cooling := s.trained[ev.ModelName]; {
	case !ok || typ == "":
		skip("not an Isolation Forest model (iforest-<type>); nothing to retrain")
	case cooling && ev.RequestedAt.Sub(last) < s.cfg.Cooldown:
		skip(fmt.Sprintf("cooldown: trained for the request of %s, less than %v before this one (%s)",
			last.UTC().Format(time.RFC3339), s.cfg.Cooldown, ev.RequestedAt.UTC().Format(time.RFC3339)))
	case s.waiting(ev.ModelName):
		skip("a request for this model is already waiting for its windows")
	default:
		r := &request{ev: ev, at: tp, offset: off, typ: typ, bands: -1, oldest: map[pipeline.TopicPartition]int64{}}
		for i := range s.recent[typ] {
			w := &s.recent[typ][i]
			r.take(&w.fv, w.at, w.offset, s.cfg.After)
		}
		s.pending = append(s.pending, r)
		s.met.pending.Set(float64(len(s.pending)))
		s.cfg.Logger.Info("retrain request waiting for windows", "model", ev.ModelName, "after", ev.RequestedAt, "windows", s.cfg.After)
	}
}

func (s *Stage) waiting(model string) bool {
	for _, r := range s.pending {
		if r.ev.ModelName == model {
			return true
		}
	}
	return false
}

// window keeps fv among the recent windows of its type and gives it to
// the requests of its type it comes after.
func (s *Stage) window(fv *schemas.FeatureVector, tp pipeline.TopicPartition, off int64) {
	if fv.Count < 3 {
		return // degenerate windows teach nothing (as in train)
	}
	ring := append(s.recent[fv.SensorType], seenWindow{*fv, tp, off})
	if len(ring) > s.cfg.After {
		ring = ring[len(ring)-s.cfg.After:]
	}
	s.recent[fv.SensorType] = ring
	for _, r := range s.pending {
		if r.typ == fv.SensorType {
			r.take(fv, tp, off, s.cfg.After)
		}
	}
}

// take adds fv to r's windows if it comes after the request, has r's
// number of features, and r still wants windows.
func (r *request) take(fv *schemas.FeatureVector, tp pipeline.TopicPartition, off int64, want int) {
	if fv.WindowStart.Before(r.ev.RequestedAt) || len(r.windows) >= want {
		return
	}
	if r.bands < 0 {
		r.bands = len(fv.BandEnergies)
	}
	if len(fv.BandEnergies) != r.bands {
		return
	}
	r.windows = append(r.windows, *fv)
	if o, ok := r.oldest[tp]; !ok || off < o {
		r.oldest[tp] = off
	}
}

// decideReady trains and judges the requests that have their windows.
func (s *Stage) decideReady(ctx context.Context, out *pipeline.Emitter) {
	var ready []*request
	for _, r := range s.pending {
		if len(r.windows) >= s.cfg.After {
			ready = append(ready, r)
		}
	}
	if len(ready) == 0 {
		return
	}
	decisions := make([]*schemas.ModelUpdated, len(ready))
	errs := make([]error, len(ready))
	sem := make(chan struct{}, s.cfg.MaxConcurrent)
	var wg sync.WaitGroup
	for i, r := range ready {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			decisions[i], errs[i] = s.decide(ctx, r)
		}()
	}
	wg.Wait()
	for i, r := range ready {
		if errs[i] != nil {
			// The store could not be read or written: the request stays
			// waiting, ready, and is decided again with the next batch.
			// The batch itself succeeds, so it is never processed twice.
			s.met.storeErrors.Inc()
			s.cfg.Logger.Warn("retrain decision waits for the model store", "model", r.ev.ModelName, "err", errs[i])
			continue
		}
		s.trained[r.ev.ModelName] = r.ev.RequestedAt
		s.emit(out, decisions[i])
		s.pending = removed(s.pending, r)
	}
	s.met.pending.Set(float64(len(s.pending)))
}

func removed(rs []*request, r *request) []*request {
	for i := range rs {
		if rs[i] == r {
			return append(rs[:i], rs[i+1:]...)
		}
	}
	return rs
}

// emit writes a decision and its log line.
func (s *Stage) emit(out *pipeline.Emitter, u *schemas.ModelUpdated) {
	s.met.decisions.WithLabelValues(u.Action).Inc()
	attrs := []any{"model", u.ModelName, "action", u.Action, "reason", u.Reason}
	if u.Version != "" {
		attrs = append(attrs, "version", u.Version, "uri", u.URI)
	}
	for _, k := range []string{"far_candidate", "far_current", "windows", "holdout"} {
		if v, ok := u.Metrics[k]; ok {
			attrs = append(attrs, k, v)
		}
	}
	s.cfg.Logger.Info("retrain decision", attrs...)
	s.updates.Emit(out, u.ModelName, u)
}
