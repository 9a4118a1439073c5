// Package demo plays the simulator's plant through a running pipeline and
// accounts for it: every valid reading sent must come out clean, once; the
// alerts and drift reports the pipeline raises are scored against the
// faults the simulator injected (simulate.Check). While it runs it prints
// a line a second and every alert as it opens, changes kind or resolves;
// then a summary. "smaint demo" runs it on services embedded in the
// process.
package demo

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/simulate"
)

// Config is one run.
type Config struct {
	Plant simulate.Config // the simulated plant; its Span, unless set, is what Rate sends in Duration
	Truth string          // a file to write the ground truth to ("": none)
	// Kafka are the options (KafkaOpts, WithSerde, CreateTopics) that reach
	// the pipeline's brokers, to send readings and watch the outputs.
	Kafka    []pipeline.Option
	Serde    *schemas.Serde // the pipeline's, to read its outputs
	Topics   pipeline.Topics
	Pipeline []pipeline.Service  // the stages' runners and what runs beside them
	Metrics  prometheus.Gatherer // the pipeline's
	Rate     float64             // records a second to send; 0: flat out
	Duration time.Duration       // how long to send; 0: the whole simulation
	Drain    time.Duration       // how long to wait, then, for the pipeline to finish
	Header   []string            // lines to print first (where the services are)
	Storage  Storage             // the database the sinks write to, if any
	Models   string              // the model store the retrain stage publishes to ("": no model loop)
	Out      io.Writer           // Run serializes its writes
}

// Run sends the simulation through the pipeline, waits for the pipeline to
// drain (up to Drain, or until ctx ends) and returns the summary, which it
// has printed. A run cut short by Duration or ctx counts only what was
// sent. The pipeline's services run until Run returns.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	sim, closeTruth, err := openPlant(&cfg)
	if err != nil {
		return nil, err
	}
	defer closeTruth()
	r := &run{cfg: cfg, sim: sim, out: &lockedWriter{w: cfg.Out}}
	r.check.OnAlert = r.printAlert
	t := cfg.Topics
	prod, err := pipeline.NewProducer(cfg.Kafka...)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	readings := pipeline.NewOutput[*schemas.SensorReading](t.Readings)
	if err := prod.Bind(ctx, readings); err != nil {
		return nil, err
	}
	// The watcher subscribes before the stages have created their topics.
	if err := prod.CreateTopics(ctx, t.All()...); err != nil {
		return nil, err
	}
	w, err := pipeline.NewWatcher(r.observe, []string{t.Clean, t.DLQ, t.Alerts, t.Drift, t.Forecasts, t.Retrain, t.ModelUpdates}, cfg.Kafka...)
	if err != nil {
		return nil, err
	}
	r.watch, r.dec = w, cfg.Serde.NewDecoder()
	r.header()

	// The pipeline runs until the summary is taken, or Run returns early:
	// either way it stops, and has stopped, before Run returns.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pipelineDone := make(chan error, 1)
	go func() { pipelineDone <- pipeline.RunAll(pctx, append(cfg.Pipeline, w)...) }()
	stopPipeline := sync.OnceValue(func() error { cancel(); return <-pipelineDone })
	defer stopPipeline()

	started, simStart := time.Now(), sim.EventTime()
	sent, err := r.feed(ctx, prod, readings, started)
	if err != nil {
		return nil, err
	}
	sendSecs := time.Since(started).Seconds()
	reached := sim.EventTime()
	// Let the pipeline finish what was sent, unless the user interrupted.
	drained := r.waitDrained(ctx)
	if err := stopPipeline(); err != nil {
		return nil, err
	}
	if err := closeTruth(); err != nil {
		return nil, fmt.Errorf("truth file: %w", err)
	}
	sum := r.summarize(reached, simStart, sent, sendSecs, time.Since(started).Seconds(), drained)
	sum.Print(r.out)
	return sum, nil
}

// openPlant creates the simulator, its span sized to what Rate sends in
// Duration when both are set (else the simulator's default).
func openPlant(cfg *Config) (*simulate.Sim, func() error, error) {
	if cfg.Plant.Span == 0 && cfg.Duration > 0 && cfg.Rate > 0 {
		probe, err := simulate.New(cfg.Plant)
		if err != nil {
			return nil, nil, err
		}
		cfg.Plant.Span = max(time.Minute, time.Duration(cfg.Duration.Seconds()*cfg.Rate/probe.ReadingsPerSecond()*float64(time.Second)))
	}
	cfg.Plant = cfg.Plant.WithDefaults()
	sim, closeTruth, err := simulate.Open(cfg.Plant, cfg.Truth)
	if err != nil && cfg.Truth != "" {
		err = fmt.Errorf("truth file: %w", err)
	}
	return sim, closeTruth, err
}

// run is one Run's state.
type run struct {
	cfg   Config
	sim   *simulate.Sim
	out   io.Writer
	check simulate.Check
	watch *pipeline.Watcher
	dec   *schemas.Decoder // observe's
	loop  models
}

func (r *run) header() {
	for _, l := range r.cfg.Header {
		fmt.Fprintln(r.out, l)
	}
	rate := "unlimited"
	if r.cfg.Rate > 0 {
		rate = fmt.Sprintf("%.0f", r.cfg.Rate)
	}
	p := r.cfg.Plant
	fmt.Fprintf(r.out, "  plant     %d assets, %d sensors, %.0f readings per simulated second; %s of event time at %s records/s\n",
		p.Assets, r.sim.Sensors(), r.sim.ReadingsPerSecond(), p.Span.Round(time.Second), rate)
	r.cfg.Storage.header(r.out)
	fmt.Fprintln(r.out)
}

// feed sends the simulation, for Duration if set, printing a line a
// second, and returns how many records it sent.
func (r *run) feed(ctx context.Context, prod *pipeline.Producer, out *pipeline.Output[*schemas.SensorReading], started time.Time) (int64, error) {
	fctx := ctx
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
	}
	lctx, stopLine := context.WithCancel(fctx)
	lineDone := make(chan struct{})
	go func() { r.liveLine(lctx, started); close(lineDone) }()
	sent, err := r.sim.Feed(fctx, prod, out, r.cfg.Rate, 0, r.check.Expect)
	stopLine()
	<-lineDone
	if err != nil && fctx.Err() == nil {
		return sent, fmt.Errorf("simulator: %w", err)
	}
	return sent, nil
}

// metric is the sum of a counter or gauge of the pipeline's over the
// series whose labels include match.
func (r *run) metric(name string, match map[string]string) float64 {
	mfs, err := r.cfg.Metrics.Gather()
	if err != nil {
		return 0
	}
	return pipeline.SumMetric(mfs, name, match)
}

// liveLine prints one line a second until ctx ends.
func (r *run) liveLine(ctx context.Context, started time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastSent int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m := func(name string) int64 { return int64(r.metric(name, nil)) }
		sent := int64(r.metric("smaint_records_in_total", map[string]string{"stage": "dedupe"}))
		c := r.check.Counts()
		fmt.Fprintf(r.out, "[%4.0fs] in %9d (%6d/s)  clean %9d  dup dropped %6d  dlq %4d  windows %6d  anomalous %4d  alerts %3d  drift %3d\n",
			time.Since(started).Seconds(), sent, sent-lastSent, c.Clean, m("smaint_dedupe_duplicates_total"), c.DeadLetters,
			m("smaint_features_windows_total"), m("smaint_score_anomalies_total"), m("smaint_alerts_opened_total"), m("smaint_drift_drifted_total"))
		lastSent = sent
	}
}

// waitDrained waits, up to Drain or until ctx ends, for the pipeline to
// finish what was sent: the features stage has closed every window (the
// last ones on idle), every stage has processed all its input had and had
// its outputs acknowledged (pipeline.Runner.Drained, asked in pipeline
// order, so each is asked after what feeds it), and the check has read the
// outputs to their end. It is exact, not a guess at quiet: on a busy
// machine it takes longer, and says the same.
func (r *run) waitDrained(ctx context.Context) bool {
	deadline := time.Now().Add(r.cfg.Drain)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if r.metric("smaint_features_open_windows", nil) == 0 && r.drained(ctx) {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// drained reports whether every runner of the pipeline, then the check,
// has caught up.
func (r *run) drained(ctx context.Context) bool {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if done, err := pipeline.Drained(qctx, r.cfg.Pipeline...); err != nil || !done {
		return false
	}
	caught, err := r.watch.CaughtUp(qctx)
	return err == nil && caught
}

// observe hands a record of the pipeline's outputs to the check.
func (r *run) observe(o *pipeline.Observed) {
	ctx, t := context.Background(), r.cfg.Topics
	switch o.Topic {
	case t.DLQ:
		r.check.DeadLetter()
	case t.Retrain:
		r.check.Retrain()
	case t.Clean:
		var rd schemas.SensorReading
		if r.dec.Decode(ctx, o.Value, &rd) != nil {
			r.check.Clean(nil)
			return
		}
		r.check.Clean(&rd)
	case t.Alerts:
		var a schemas.Alert
		if r.dec.Decode(ctx, o.Value, &a) == nil {
			r.check.Alert(a)
		}
	case t.Drift:
		var rep schemas.DriftReport
		if r.dec.Decode(ctx, o.Value, &rep) == nil {
			r.check.Drift(rep)
		}
	case t.Forecasts:
		var f schemas.Forecast
		if r.dec.Decode(ctx, o.Value, &f) == nil {
			r.check.Forecast(&f)
		}
	case t.ModelUpdates:
		var u schemas.ModelUpdated
		if r.dec.Decode(ctx, o.Value, &u) == nil {
			r.loop.add(&u, o.Timestamp)
		}
	}
}

// printAlert prints an alert as it opens, changes kind, rises or resolves.
func (r *run) printAlert(a *schemas.Alert, changedKind bool) {
	if a.State == schemas.StateUpdated && !changedKind {
		return
	}
	mark := "!!"
	if a.State == schemas.StateResolved {
		mark = "ok"
	}
	fmt.Fprintf(r.out, "  %s %-8s %-13s %s at %s: %s\n", mark, a.Severity, a.Kind, a.State, a.LastSeen.Format("15:04"), a.Summary)
	if a.State != schemas.StateResolved {
		fmt.Fprintf(r.out, "           -> %s\n", a.RecommendedAction)
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
