package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "Usage: smaint simulate --brokers HOST:PORT [flags]\n\nProduces simulated plant readings to sensor.readings, keyed by sensor_id, with\nthe faults of --scenarios injected; --truth records what was injected where.\nPrints a JSON summary when done.\n\nWith --csv FILE it writes the valid readings to a CSV file instead (no Kafka;\nduplicates and malformed records are left out), ready for smaint backtest.\n", stderr)
	var (
		kf     kafkaFlags
		sf     simFlags
		lf     logFlags
		count  int64
		csvOut string
		from   string
	)
	kf.register(fs)
	sf.register(fs, 10_000)
	lf.register(fs, "warn")
	fs.DurationVar(&sf.cfg.Span, "span", time.Hour, "event time the simulation covers, ending now")
	fs.Int64Var(&count, "count", 0, "stop after this many records (0: when the span is covered)")
	fs.StringVar(&csvOut, "csv", "", "write the readings to this CSV file instead of Kafka")
	fs.StringVar(&from, "start", "", "event time of the first reading, RFC 3339 (default: --span before now); fixes the daily cycle's phase for repeatable runs")
	if err := fs.parse(args); err != nil {
		return err
	}
	if from != "" {
		t, err := time.Parse(time.RFC3339, from)
		if err != nil {
			return fmt.Errorf("%w: --start: %v", errUsage, err)
		}
		sf.cfg.Start = t
	}
	if csvOut != "" {
		if err := sf.validate(); err != nil {
			return err
		}
		return simulateCSV(ctx, csvOut, &sf, count, stdout)
	}
	if err := kf.validate(); err != nil {
		return err
	}
	if err := sf.validate(); err != nil {
		return err
	}
	if count < 0 {
		return fmt.Errorf("%w: --count must not be negative", errUsage)
	}
	d, opts, err := setup(&kf, &lf, stderr)
	if err != nil {
		return err
	}
	sim, closeTruth, err := sf.open()
	if err != nil {
		return err
	}
	prod, err := pipeline.NewProducer(opts...)
	if err != nil {
		return err
	}
	defer prod.Close()
	out := pipeline.NewOutput[*schemas.SensorReading](d.topics.Readings)
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = prod.Bind(bctx, out)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	start := time.Now()
	f := &feeder{sim: sim, prod: prod, out: out, rate: sf.rate}
	sent, err := f.run(ctx, count)
	if cerr := closeTruth(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	return json.NewEncoder(stdout).Encode(struct {
		Sent        int64   `json:"sent"`
		Seconds     float64 `json:"seconds"`
		PerSecond   float64 `json:"records_per_sec"`
		EventsUntil string  `json:"event_time_reached"`
		Stats       any     `json:"injected"`
	}{sent, elapsed.Seconds(), float64(sent) / elapsed.Seconds(), sim.EventTime().Format(time.RFC3339), sim.Stats()})
}
