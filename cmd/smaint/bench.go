package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/features"
)

// benchFlags configure "smaint bench".
type benchFlags struct {
	sensors    int
	rate       float64
	count      int64
	duration   time.Duration
	windows    string
	lateness   time.Duration
	stages     string
	partitions int
	brokers    listFlag
	redisURL   string
	jsonPath   string
	plotPath   string
	dupRate    float64
	anomalies  int
	cpuProfile string
	pprofAddr  string
	dedupeSize int
	memLimit   string
	drain      time.Duration
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "Usage: smaint bench [flags]\n\nRuns the pipeline (\"smaint run\" in a child process) on an embedded Kafka broker,\nor --brokers, with K sensors, flat out (--rate 0: --count readings are produced\nfirst, then consumed as fast as the pipeline can) or at --rate readings/s for\n--duration. Measures readings/s per stage and end to end, event-to-feature and\nevent-to-alert latency, the pipeline's CPU time and peak RSS, then a raw\nconsume→produce loop over the readings topic. Prints a table; --json and --plot\nwrite the report and a chart.\n", stderr)
	var (
		bf bench
		lf logFlags
	)
	f := &bf.flags
	fs.IntVar(&f.sensors, "sensors", 10_000, "sensors (readings go round-robin over them)")
	fs.Float64Var(&f.rate, "rate", 0, "readings per second to produce while the pipeline runs; 0: flat out")
	fs.Int64Var(&f.count, "count", 0, "readings to produce (flat out: default 6,000,000; paced: 0 means until --duration)")
	fs.DurationVar(&f.duration, "duration", 60*time.Second, "paced: how long to produce")
	fs.StringVar(&f.windows, "windows", "60s", "feature windows, as run's --windows")
	fs.DurationVar(&f.lateness, "lateness", 10*time.Second, "allowed lateness, as run's --lateness")
	fs.StringVar(&f.stages, "stages", "dedupe,features,score,drift,alert", "stages to run")
	fs.IntVar(&f.partitions, "partitions", 6, "partitions of every topic")
	fs.Var(&f.brokers, "brokers", "use these Kafka brokers instead of an embedded one (topics must be empty or absent)")
	fs.StringVar(&f.redisURL, "redis", "", "Redis for dedupe (default: 127.0.0.1:6379 if it answers, else an embedded miniredis)")
	fs.StringVar(&f.jsonPath, "json", "", "write the report as JSON to this file")
	fs.StringVar(&f.plotPath, "plot", "", "draw throughput and latency over time to this .svg or .png file")
	fs.Float64Var(&f.dupRate, "duplicates", 0.01, "share of readings sent twice")
	fs.IntVar(&f.anomalies, "anomalies", -1, "sensors whose level shifts halfway through, for alerts (default: 1 in 200)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write the pipeline process's CPU profile to this file")
	fs.StringVar(&f.pprofAddr, "pprof", "", "serve the pipeline process's /debug/pprof on this address")
	fs.IntVar(&f.dedupeSize, "dedupe-cache", 0, "run's --dedupe-cache: reading ids remembered per partition (0: run's default)")
	fs.StringVar(&f.memLimit, "memory-limit", "", "the pipeline process's GOMEMLIMIT, e.g. 256MiB (default: none)")
	fs.DurationVar(&f.drain, "drain-timeout", 2*time.Minute, "how long to wait for the pipeline to finish the produced readings")
	lf.register(fs, "warn")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	bf.out, bf.log = stdout, log
	defer bf.env.close()
	rep, err := bf.run(ctx)
	if err != nil {
		return err
	}
	rep.print(stdout)
	if f.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.jsonPath, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	if f.plotPath != "" {
		if err := rep.plot(f.plotPath); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		fmt.Fprintf(stdout, "  plot: %s\n", f.plotPath)
	}
	return nil
}

func (f *benchFlags) validate() error {
	switch {
	case f.sensors < 1:
		return fmt.Errorf("%w: --sensors must be positive", errUsage)
	case f.rate < 0 || math.IsNaN(f.rate) || math.IsInf(f.rate, 0):
		return fmt.Errorf("%w: --rate %v (want a finite number, 0 or more)", errUsage, f.rate)
	case f.count < 0:
		return fmt.Errorf("%w: --count must not be negative", errUsage)
	case f.rate > 0 && f.count == 0 && f.duration <= 0:
		return fmt.Errorf("%w: a paced run needs --duration or --count", errUsage)
	case f.partitions < 1 || f.partitions > 1000:
		return fmt.Errorf("%w: --partitions %d (want 1-1000)", errUsage, f.partitions)
	case !(f.dupRate >= 0 && f.dupRate <= 0.5): // NaN too
		return fmt.Errorf("%w: --duplicates %v (want 0-0.5)", errUsage, f.dupRate)
	case f.dedupeSize < 0:
		return fmt.Errorf("%w: --dedupe-cache must not be negative", errUsage)
	case f.lateness < 0:
		return fmt.Errorf("%w: --lateness must not be negative", errUsage)
	case f.memLimit != "" && !memLimitSyntax.MatchString(f.memLimit):
		return fmt.Errorf("%w: --memory-limit %q: want a size as GOMEMLIMIT takes it, e.g. 256MiB or 1GiB", errUsage, f.memLimit)
	case f.plotPath != "" && !strings.HasSuffix(f.plotPath, ".svg") && !strings.HasSuffix(f.plotPath, ".png"):
		return fmt.Errorf("%w: --plot %q: want a .svg or .png file", errUsage, f.plotPath)
	}
	if f.rate == 0 && f.count == 0 {
		f.count = 6_000_000
	}
	if f.anomalies < 0 {
		f.anomalies = max(1, f.sensors/200)
	}
	var names []string
	for _, s := range strings.Split(f.stages, ",") {
		if s = strings.TrimSpace(s); s == "sink" || !slices.Contains(stageNames, s) {
			return fmt.Errorf("%w: --stages: %q is not a stage bench runs (%s)", errUsage, s, strings.Join(stageNames[:5], ", "))
		}
		names = append(names, s)
	}
	// Bench feeds sensor.readings; only dedupe reads it, and its start and
	// end are timed by dedupe's counter.
	if !slices.Contains(names, "dedupe") {
		return fmt.Errorf("%w: --stages must include dedupe: the other stages read what it writes", errUsage)
	}
	if err := features.ParseWindows(f.windows, &features.Config{}); err != nil {
		return fmt.Errorf("%w: --windows: %v", errUsage, err)
	}
	if f.memLimit == "" {
		f.memLimit = os.Getenv("GOMEMLIMIT") // the child inherits it; the report says so
	}
	return positiveDuration("drain-timeout", f.drain)
}

// memLimitSyntax is what the Go runtime accepts in GOMEMLIMIT; anything
// else would make the child panic at start.
var memLimitSyntax = regexp.MustCompile(`^[0-9]+(B|KiB|MiB|GiB|TiB)?$`)

// bench is one run of "smaint bench".
type bench struct {
	flags  benchFlags
	out    io.Writer
	log    *slog.Logger
	env    embedded
	opts   []kgo.Opt
	topics pipeline.Topics
	runID  string
	sent   atomic.Int64
}

func (b *bench) run(ctx context.Context) (*benchReport, error) {
	f := &b.flags
	b.topics = pipeline.DefaultTopics()
	brokers, registry := []string(f.brokers), ""
	if len(brokers) == 0 {
		// The embedded broker keeps every record in this process, on the
		// pipeline's cores. A paced run trims its topics to the last
		// 15 seconds (checked every 5 s), so that a long run does not slow the
		// broker down as it goes; a flat-out run needs all its records.
		var kopts []kfake.Opt
		if f.rate > 0 {
			kopts = append(kopts, kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": "5000"}))
		}
		if err := b.env.startKafka("127.0.0.1:0", b.log, kopts...); err != nil {
			return nil, err
		}
		if err := b.env.startRegistry("127.0.0.1:0", b.log); err != nil {
			return nil, err
		}
		brokers, registry = []string{b.env.kafkaAddr}, b.env.regURL
	}
	if err := b.env.connectRedis(ctx, f.redisURL, b.log); err != nil {
		return nil, err
	}
	redisURL := "redis://" + b.env.rdb.Options().Addr
	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	b.runID = hex.EncodeToString(runID)
	prefix := "smaint:bench:" + b.runID + ":"
	defer b.env.dropKeys(context.WithoutCancel(ctx), prefix)

	kf := kafkaFlags{partitions: f.partitions, replication: -1, registry: registry, brokers: listFlag(brokers)}
	if len(f.brokers) == 0 {
		kf.replication = 1
	}
	if err := kf.validate(); err != nil {
		return nil, err
	}
	serde, err := kf.serde()
	if err != nil {
		return nil, err
	}
	d := newDeps(b.log, serde)
	base, err := kf.runnerOpts(d)
	if err != nil {
		return nil, err
	}
	b.opts = []kgo.Opt{kgo.SeedBrokers(brokers...)}
	admin, err := kgo.NewClient(b.opts...)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	if err := pipeline.EnsureTopics(ctx, admin, int32(f.partitions), int16(kf.replication), append(b.topics.All(), "smaint.bench.raw")...); err != nil {
		return nil, err
	}
	if len(f.brokers) == 0 && f.rate > 0 {
		topics := append(b.topics.All(), "smaint.bench.raw")
		rs, err := kadm.NewClient(admin).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("15000")}}, topics...)
		for _, r := range rs {
			if err == nil && r.Err != nil {
				err = fmt.Errorf("%s: %w", r.Name, r.Err)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("embedded broker: set retention: %w", err)
		}
	}
	// Records left by an earlier run would be counted as this run's, and
	// the stages' groups would start from that run's offsets.
	for _, t := range []string{b.topics.Readings, b.topics.Clean, b.topics.Features, "smaint.bench.raw"} {
		n, err := topicRecords(ctx, admin, t)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("%w: --brokers: topic %s already holds %d records; bench needs empty topics (a fresh cluster, or delete them)", errUsage, t, n)
		}
	}
	prod, err := pipeline.NewProducer(base...)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	readings := pipeline.NewOutput[*schemas.SensorReading](b.topics.Readings)
	if err := prod.Bind(ctx, readings); err != nil {
		return nil, err
	}
	gen := newBenchGen(f.sensors, f.dupRate, 1)

	rep := &benchReport{Sensors: f.sensors, Mode: "flat out", TargetRate: f.rate, Stages: f.stages, Windows: f.windows,
		LatenessSecs: f.lateness.Seconds(), Partitions: f.partitions, Redis: b.env.redisDesc, StageRates: map[string]float64{},
		DedupeCache: f.dedupeSize, MemoryLimit: f.memLimit}
	for _, s := range strings.Split(f.stages, ",") {
		rep.stageOrderNames = append(rep.stageOrderNames, strings.TrimSpace(s))
	}
	if f.rate > 0 {
		rep.Mode = fmt.Sprintf("paced at %.0f/s", f.rate)
	}

	childArgs := []string{"--brokers", strings.Join(brokers, ","), "--stages", f.stages, "--redis", redisURL, "--redis-prefix", prefix,
		"--windows", f.windows, "--lateness", f.lateness.String(), "--partitions", fmt.Sprint(f.partitions), "--log-level", "warn"}
	if registry != "" {
		childArgs = append(childArgs, "--registry", registry)
	}
	if f.cpuProfile != "" {
		childArgs = append(childArgs, "--cpuprofile", f.cpuProfile)
	}
	if f.pprofAddr != "" {
		childArgs = append(childArgs, "--pprof", f.pprofAddr)
	}
	if f.dedupeSize > 0 {
		childArgs = append(childArgs, "--dedupe-cache", fmt.Sprint(f.dedupeSize))
	}

	// Flat out: the readings are on the topic before the pipeline starts,
	// so it runs as fast as it can, as the raw loop will on the same
	// records.
	if f.rate == 0 {
		span := time.Duration(f.count/int64(f.sensors)) * time.Second
		fmt.Fprintf(b.out, "producing %d readings: %d sensors, one reading a second each, %v of plant time...\n", f.count, f.sensors, span)
		gen.replayFrom = time.Now().Add(-span).Truncate(time.Minute)
		gen.shift(f.anomalies, gen.replayFrom.Add(span/2))
		if err := benchFeed(ctx, gen, prod, readings, 0, f.count, &b.sent); err != nil {
			return nil, err
		}
	}

	// The monitor starts with the child process: the stages consume as
	// soon as their groups join, before /readyz says so. The run is timed
	// from the last sample that saw dedupe's counter at 0 (or, if none did,
	// from the process's start), so it is never timed too short.
	start := time.Now()
	child, err := startPipeline(childArgs, f.memLimit)
	if err != nil {
		return nil, err
	}
	defer func() {
		select {
		case <-child.done:
		default:
			_ = child.cmd.Process.Kill()
		}
	}()
	mon := newBenchMonitor(b, child, rep, start)
	mctx, stopMon := context.WithCancel(ctx)
	defer stopMon()
	monDone := make(chan struct{})
	go func() { mon.run(mctx); close(monDone) }()
	if err := child.waitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	// The observer starts once the pipeline has created its topics: a
	// consumer asking for a topic that does not exist yet can have the
	// broker create it with its own defaults.
	obs, err := newLatencyObserver(b.opts, serde, b.topics, f.lateness, start)
	if err != nil {
		return nil, err
	}
	octx, stopObs := context.WithCancel(ctx)
	defer stopObs()
	go obs.Run(octx)
	mon.obs.Store(obs)

	if f.rate > 0 {
		pctx := ctx
		if f.count == 0 {
			var cancel context.CancelFunc
			pctx, cancel = context.WithTimeout(ctx, f.duration)
			defer cancel()
		}
		gen.shift(f.anomalies, time.Now().Add(f.duration/2))
		if err := benchFeed(pctx, gen, prod, readings, f.rate, f.count, &b.sent); err != nil && pctx.Err() == nil {
			return nil, err
		}
	}
	rep.Produced = b.sent.Load()
	rep.Drained = mon.waitDrained(ctx, f.drain, child.done)
	stopMon()
	<-monDone
	rep.Seconds = mon.activeSeconds()
	if rep.Seconds > 0 {
		// Readings that went through: all of them once drained, what dedupe
		// consumed if the drain timed out.
		rep.EndToEnd = min(float64(rep.Produced), mon.stageIn("dedupe")) / rep.Seconds
		for _, s := range rep.stageOrderNames {
			rep.StageRates[s] = mon.stageIn(s) / rep.Seconds
		}
	}
	stopObs()
	// Latency means something only when readings are stamped as they are
	// produced, in a paced run; a replayed backlog's windows are late by
	// construction.
	if f.rate > 0 {
		feats, alerts := obs.snapshot()
		rep.FeatureLatency, rep.AlertLatency = summarizeLatency(feats), summarizeLatency(alerts)
		rep.FeatureProduced = obs.producedLatency()
		rep.LatencySeries = latencySeries(feats, 5*time.Second)
	}

	cpu, peak, err := child.stop(time.Minute)
	if err != nil {
		return nil, err
	}
	rep.CPUSeconds, rep.PeakRSSMiB = cpu, float64(peak)/(1<<20)
	_, _, self := procResources("self")
	rep.BenchRSSMiB = float64(self) / (1 << 20)
	if rep.Seconds > 0 {
		rep.CPUCores = mon.activeCPU() / rep.Seconds
	}

	fmt.Fprintf(b.out, "raw consume→produce over the readings topic...\n")
	n, secs, err := rawPassthrough(ctx, b.opts, b.topics.Readings, "smaint.bench.raw", "smaint-bench-raw-"+b.runID)
	if err != nil {
		return nil, err
	}
	rep.RawRecords = n
	if secs > 0 {
		rep.RawPerSec = float64(n) / secs
		if f.rate == 0 { // a paced rate says nothing of the pipeline's limit
			rep.RatioOfRaw = rep.EndToEnd / rep.RawPerSec
		}
	}
	return rep, nil
}

// latencySeries summarizes samples per slice of the run.
func latencySeries(samples []latencySample, slice time.Duration) []latencyPoint {
	buckets := map[int][]latencySample{}
	last := -1
	for _, s := range samples {
		i := int(s.at / slice)
		buckets[i] = append(buckets[i], s)
		last = max(last, i)
	}
	var out []latencyPoint
	for i := 0; i <= last; i++ {
		if len(buckets[i]) > 0 {
			out = append(out, latencyPoint{T: (time.Duration(i) * slice).Seconds(), latencyStats: summarizeLatency(buckets[i])})
		}
	}
	return out
}
