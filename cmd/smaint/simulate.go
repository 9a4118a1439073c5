package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/smaint/smaint/bench/demo"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages/forecast"
	"github.com/smaint/smaint/stages/simulate"
)

func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "Usage: smaint simulate --brokers HOST:PORT [flags]\n\nProduces simulated plant readings to sensor.readings, keyed by sensor_id, with\nthe faults of --scenarios injected; --truth records what was injected where.\nPrints a JSON summary when done.\n\nWith --csv FILE it writes the valid readings to a CSV file instead (no Kafka;\nduplicates and malformed records are left out), ready for smaint backtest.\n", stderr)
	var (
		kf        kafkaFlags
		sf        simFlags
		lf        logFlags
		count     int64
		csvOut    string
		limitsOut string
	)
	kf.register(fs)
	sf.register(fs, 10_000)
	lf.register(fs, "warn")
	fs.DurationVar(&sf.cfg.Span, "span", simulate.Config{}.WithDefaults().Span, "event time the simulation covers, ending now")
	fs.Int64Var(&count, "count", 0, "stop after this many records (0: when the span is covered)")
	fs.StringVar(&csvOut, "csv", "", "write the readings to this CSV file instead of Kafka")
	fs.StringVar(&limitsOut, "limits", "", "also write the simulated plant's failure limits to this file, for --limits of run and backtest")
	fs.Var(timeFlag{&sf.cfg.Start}, "start", "event time of the first reading, RFC 3339 (default: --span before now); fixes the daily cycle's phase for repeatable runs")
	if err := fs.parse(args); err != nil {
		return err
	}
	if count < 0 {
		return fmt.Errorf("%w: --count must not be negative", errUsage)
	}
	if err := sf.validate(); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	var d *deps
	var opts []pipeline.Option
	if csvOut == "" {
		if err := kf.validate(); err != nil {
			return err
		}
		if err := kf.check(ctx, log); err != nil {
			return err
		}
		if d, opts, err = kf.connect(log); err != nil {
			return err
		}
	}
	if limitsOut != "" {
		// The limits of the plant's sensor types only: the backtest warns
		// of a limit that applies to no sensor.
		limits := slices.DeleteFunc(demo.PlantLimits(), func(l forecast.Limit) bool { return !slices.Contains(sf.types, l.SensorType) })
		b, err := json.MarshalIndent(limits, "", "  ")
		if err == nil {
			err = os.WriteFile(limitsOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			return fmt.Errorf("--limits: %w", err)
		}
	}
	sim, closeTruth, err := sf.open()
	if err != nil {
		return err
	}
	defer closeTruth()
	res := simulated{File: csvOut}
	start := time.Now()
	var n int64
	if csvOut != "" {
		if n, err = sim.WriteCSVFile(ctx, csvOut, count); err != nil {
			err = fmt.Errorf("--csv: %w", err)
		}
		res.Rows = &n
	} else {
		n, err = sim.Send(ctx, opts, d.topics.Readings, sf.rate, count)
		secs := time.Since(start).Seconds()
		perSec := float64(n) / secs
		res.Sent, res.Seconds, res.PerSecond = &n, &secs, &perSec
	}
	if err == nil {
		err = closeTruth()
	}
	if err != nil {
		return err
	}
	res.EventsUntil, res.Stats = sim.EventTime().Format(time.RFC3339), sim.Stats()
	return json.NewEncoder(stdout).Encode(res)
}

// simulated is what simulate prints: what it sent to Kafka, or wrote to
// a file (the fields of the other are left out), and what it injected.
type simulated struct {
	Sent        *int64         `json:"sent,omitempty"`
	Seconds     *float64       `json:"seconds,omitempty"`
	PerSecond   *float64       `json:"records_per_sec,omitempty"`
	Rows        *int64         `json:"rows,omitempty"`
	File        string         `json:"file,omitempty"`
	EventsUntil string         `json:"event_time_reached"`
	Stats       simulate.Stats `json:"injected"`
}

// simFlags configure the simulator; their defaults are those of
// simulate.Config.WithDefaults.
type simFlags struct {
	cfg       simulate.Config
	types     listFlag
	scenarios string
	truthPath string
	rate      float64
}

func (s *simFlags) register(fs *flagSet, defaultRate float64) {
	d := simulate.Config{}.WithDefaults()
	fs.IntVar(&s.cfg.Assets, "assets", d.Assets, "simulated assets (machines)")
	s.types = d.Types
	fs.Var(&s.types, "types", "sensor types on every asset: temperature, vibration, pressure, current, acoustic, humidity")
	fs.Int64Var(&s.cfg.Seed, "seed", d.Seed, "random seed; equal seeds give equal streams")
	fs.StringVar(&s.scenarios, "scenarios", "all", "faults to inject: all, none, or a list of "+fmt.Sprint(simulate.AllScenarios))
	fs.Float64Var(&s.cfg.DuplicateRate, "duplicate-rate", d.DuplicateRate, "fraction of readings sent twice")
	fs.Float64Var(&s.cfg.MalformedRate, "malformed-rate", d.MalformedRate, "fraction of records replaced by malformed ones")
	fs.Float64Var(&s.cfg.LateRate, "late-rate", d.LateRate, "fraction of readings delayed 30-90 s of event time")
	fs.Float64Var(&s.cfg.OutOfOrderRate, "out-of-order-rate", d.OutOfOrderRate, "fraction of readings delayed up to 5 s of event time")
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
	return s.cfg.WithDefaults().Validate()
}

// open creates the simulator, with the ground truth file if asked for.
// closeTruth flushes and closes that file.
func (s *simFlags) open() (*simulate.Sim, func() error, error) {
	sim, closeTruth, err := simulate.Open(s.cfg, s.truthPath)
	if err != nil && s.truthPath != "" && !errors.Is(err, pipeline.ErrConfig) {
		err = fmt.Errorf("--truth: %w", err)
	}
	return sim, closeTruth, err
}
