package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/simulate"
)

// simFlags configure the simulator.
type simFlags struct {
	cfg       simulate.Config
	types     listFlag
	scenarios string
	truthPath string
	rate      float64
}

func (s *simFlags) register(fs *flagSet, defaultRate float64) {
	fs.IntVar(&s.cfg.Assets, "assets", 20, "simulated assets (machines)")
	s.types = listFlag{"temperature", "vibration", "pressure", "current"}
	fs.Var(&s.types, "types", "sensor types on every asset: temperature, vibration, pressure, current, acoustic, humidity")
	fs.Int64Var(&s.cfg.Seed, "seed", 1, "random seed; equal seeds give equal streams")
	fs.StringVar(&s.scenarios, "scenarios", "all", "faults to inject: all, none, or a list of "+fmt.Sprint(simulate.AllScenarios))
	fs.Float64Var(&s.cfg.DuplicateRate, "duplicate-rate", 0.02, "fraction of readings sent twice")
	fs.Float64Var(&s.cfg.MalformedRate, "malformed-rate", 0.002, "fraction of records replaced by malformed ones")
	fs.Float64Var(&s.cfg.LateRate, "late-rate", 0.001, "fraction of readings delayed 30-90 s of event time")
	fs.Float64Var(&s.cfg.OutOfOrderRate, "out-of-order-rate", 0.01, "fraction of readings delayed up to 5 s of event time")
	fs.IntVar(&s.cfg.Incidents, "incidents", 0, "incidents to inject (0: one per 4 assets)")
	fs.IntVar(&s.cfg.Drifts, "drifts", 0, "drifting sensors (0: one per 10 assets)")
	fs.StringVar(&s.truthPath, "truth", "", "write the ground truth (JSON lines) to this file")
	fs.Float64Var(&s.rate, "rate", defaultRate, "records per second to send; 0 sends flat out")
}

func (s *simFlags) validate() error {
	sc, err := simulate.ParseScenarios(s.scenarios)
	if err != nil {
		return fmt.Errorf("%w: --scenarios: %v", errUsage, err)
	}
	s.cfg.Scenarios = sc
	s.cfg.Types = s.types
	if s.rate < 0 {
		return fmt.Errorf("%w: --rate must not be negative", errUsage)
	}
	return nil
}

// open creates the simulator, with the ground truth file if asked for.
// The returned close flushes and closes that file.
func (s *simFlags) open() (*simulate.Sim, func() error, error) {
	closeFn := func() error { return nil }
	if s.truthPath != "" {
		f, err := os.Create(s.truthPath)
		if err != nil {
			return nil, nil, fmt.Errorf("--truth: %w", err)
		}
		s.cfg.Truth = f
		closeFn = f.Close
	}
	sim, err := simulate.New(s.cfg)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return sim, func() error {
		err := sim.Flush()
		if cerr := closeFn(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// feeder sends the simulator's events to the readings topic at a rate.
type feeder struct {
	sim  *simulate.Sim
	prod *pipeline.Producer
	out  *pipeline.Output[*schemas.SensorReading]
	rate float64 // records per second; 0 is flat out
	// onEvent, if set, sees every event just before it is sent.
	onEvent func(simulate.Event)
}

// run sends until the simulation ends, limit events were sent (limit 0:
// no limit) or ctx ends, then flushes. It returns the events sent.
func (f *feeder) run(ctx context.Context, limit int64) (int64, error) {
	// ctx decides when to stop sending; records already queued must not
	// fail with it (kgo fails buffered records whose context ends).
	pctx := context.WithoutCancel(ctx)
	var sent int64
	started := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil && (limit == 0 || sent < limit) {
		budget := int64(1 << 62)
		if f.rate > 0 {
			budget = int64(f.rate*time.Since(started).Seconds()) - sent
			if budget <= 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
				continue
			}
		}
		for ; budget > 0 && (limit == 0 || sent < limit); budget-- {
			ev, ok, err := f.sim.Next()
			if err != nil {
				return sent, err
			}
			if !ok {
				return sent, f.flush(ctx)
			}
			if f.onEvent != nil {
				f.onEvent(ev)
			}
			if ev.Raw != nil {
				err = f.prod.SendRaw(pctx, f.out.Topic(), ev.Key, ev.Raw)
			} else {
				err = pipeline.Send(pctx, f.prod, f.out, ev.Key, &ev.Reading)
			}
			if err != nil {
				return sent, err
			}
			sent++
			if f.rate == 0 && sent%4096 == 0 && ctx.Err() != nil {
				break
			}
		}
	}
	return sent, f.flush(ctx)
}

func (f *feeder) flush(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return f.prod.Flush(fctx)
}

// spanFor returns the event time a run of d at rate should cover, so the
// simulation ends about when the run does.
func spanFor(sim *simulate.Sim, d time.Duration, rate float64) time.Duration {
	return time.Duration(d.Seconds() * rate / sim.ReadingsPerSecond() * float64(time.Second))
}
