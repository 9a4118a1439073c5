//go:build !prod

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smaint/smaint/bench"
	"github.com/smaint/smaint/stages/features"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "http" {
		return benchHTTPCmd(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("bench", "Usage: smaint bench [flags]\n\nRuns the pipeline (\"smaint run\" in a child process) on an embedded Kafka broker,\nor --brokers, with K sensors, flat out (--rate 0: --count readings are produced\nfirst, then consumed as fast as the pipeline can) or at --rate readings/s for\n--duration. Measures readings/s per stage and end to end, event-to-feature and\nevent-to-alert latency, the pipeline's CPU time and peak RSS, then a raw\nconsume→produce loop over the readings topic. Prints a table; --json and --plot\nwrite the report and a chart.\n", stderr)
	var (
		lf                 logFlags
		jsonPath, plotPath string
		brokers            listFlag
		c                  = bench.Config{}.WithDefaults()
		fd                 = features.Config{}.WithDefaults()
		names              = listFlag(bench.DefaultStages())
	)
	fs.IntVar(&c.Sensors, "sensors", c.Sensors, "sensors (readings go round-robin over them)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "readings per second to produce while the pipeline runs; 0: flat out")
	fs.Int64Var(&c.Count, "count", 0, fmt.Sprintf("readings to produce (0: flat out %d; paced, until --duration)", c.Count))
	fs.DurationVar(&c.Duration, "duration", c.Duration, "paced: how long to produce")
	fs.Var(funcValue{fd.Windows, func(s string) error { return features.ParseWindows(s, &fd) }}, "windows", "feature windows, as run's --windows")
	fs.DurationVar(&c.Lateness, "lateness", c.Lateness, "allowed lateness, as run's --lateness")
	fs.Var(&names, "stages", "stages to run, as run's --stages (not the sink)")
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of every topic")
	fs.Var(&brokers, "brokers", "use these Kafka brokers instead of an embedded one (topics must be empty or absent)")
	fs.StringVar(&c.RedisURL, "redis", "", "Redis for dedupe (default: 127.0.0.1:6379 if it answers, else an embedded miniredis)")
	fs.StringVar(&jsonPath, "json", "", "write the report as JSON to this file")
	fs.StringVar(&plotPath, "plot", "", "draw throughput and latency over time to this .svg or .png file")
	fs.Float64Var(&c.Duplicates, "duplicates", c.Duplicates, "share of readings sent twice")
	fs.IntVar(&c.Anomalies, "anomalies", -1, "sensors whose level shifts halfway through, for alerts (-1: 1 in 200)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the pipeline process's CPU profile to this file")
	fs.StringVar(&c.PprofAddr, "pprof", "", "serve the pipeline process's /debug/pprof on this address")
	fs.IntVar(&c.DedupeCache, "dedupe-cache", 0, "run's --dedupe-cache: reading ids remembered per partition (0: run's default)")
	fs.StringVar(&c.Delivery, "delivery", "", "run's --delivery: exactly-once or at-least-once (default: run's default, exactly-once)")
	fs.StringVar(&c.MemoryLimit, "memory-limit", "", "the pipeline process's GOMEMLIMIT, e.g. 256MiB (default: this process's)")
	fs.DurationVar(&c.Drain, "drain-timeout", c.Drain, "how long to wait for the pipeline to finish the produced readings")
	lf.register(fs, "warn")
	if err := fs.parse(args); err != nil {
		return err
	}
	if plotPath != "" && !strings.HasSuffix(plotPath, ".svg") && !strings.HasSuffix(plotPath, ".png") {
		return fmt.Errorf("%w: --plot %q: want a .svg or .png file", errUsage, plotPath)
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	if len(names) == 1 && names[0] == "all" {
		names = bench.DefaultStages()
	}
	c.Windows, c.Lateness, c.Stages, c.Brokers, c.Out, c.Logger = fd.Windows(), latenessOf(c.Lateness), names, brokers, stdout, log
	// To the flags 0 is none and --anomalies -1 the default; to bench.Config
	// 0 is the default.
	switch {
	case c.Anomalies == 0:
		c.Anomalies = bench.None
	case c.Anomalies < 0:
		c.Anomalies = 0
	}
	if c.Duplicates < 0 {
		return fmt.Errorf("%w: --duplicates %v (want 0-0.5)", errUsage, c.Duplicates)
	} else if c.Duplicates == 0 {
		c.Duplicates = bench.None
	}
	if err := c.Validate(); err != nil { // the flags' values, before a zero turns into a default
		return err
	}
	rep, err := bench.Run(ctx, c)
	if err != nil {
		return err
	}
	if err := report(rep, stdout, jsonPath); err != nil {
		return err
	}
	if plotPath != "" {
		if err := rep.Plot(plotPath); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		fmt.Fprintf(stdout, "  plot: %s\n", plotPath)
	}
	return nil
}

func benchHTTPCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench http", "Usage: smaint bench http [flags]\n\nRuns smaint serve in a child process on an embedded Kafka broker (or --brokers)\nand loads it: concurrent clients post JSON batches, Avro container files and\nsingle readings, each for --duration, measuring readings/s and latency\npercentiles. Then it abuses it (unknown keys, no key, a read-only key, oversized\nbodies, malformed JSON, invalid readings, a flood from a rate-limited key),\ncounting the answers, and checks that the readings topic holds exactly the\naccepted readings.\n", stderr)
	var (
		lf       logFlags
		jsonPath string
		brokers  listFlag
		c        = bench.HTTPConfig{}.WithDefaults()
	)
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long each load phase lasts")
	fs.IntVar(&c.Clients, "clients", c.Clients, "concurrent clients in the load phases")
	fs.IntVar(&c.Batch, "batch", c.Batch, "readings per request in the batch phases")
	fs.IntVar(&c.Sensors, "sensors", c.Sensors, "sensors the readings go round-robin over")
	fs.Var(&brokers, "brokers", "use these Kafka brokers instead of an embedded one")
	fs.StringVar(&jsonPath, "json", "", "write the report as JSON to this file")
	lf.register(fs, "warn")
	if err := fs.parse(args); err != nil {
		return err
	}
	if c.Duration < 100*time.Millisecond || c.Clients < 1 || c.Batch < 1 || c.Batch > 10_000 || c.Sensors < 1 {
		return fmt.Errorf("%w: want --duration of 100ms or more, --clients and --sensors of 1 or more, --batch 1 to 10000", errUsage)
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	c.Brokers, c.Out, c.Logger = brokers, stdout, log
	rep, err := bench.RunHTTP(ctx, c)
	if err != nil {
		return err
	}
	if err := report(rep, stdout, jsonPath); err != nil {
		return err
	}
	if rep.Accepted != rep.OnTopic || !rep.HealthyAfter {
		return fmt.Errorf("the API lost or repeated readings, or was not healthy after the abuse (see above)")
	}
	return nil
}

// report prints rep and, with a path, writes it as JSON there.
func report(rep interface {
	Print(io.Writer)
	WriteJSON(string) error
}, stdout io.Writer, jsonPath string) error {
	rep.Print(stdout)
	if jsonPath != "" {
		if err := rep.WriteJSON(jsonPath); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	return nil
}
