// Package bench measures the pipeline end to end on the machine it runs
// on: "smaint run" in a child process (so that its CPU time and memory are
// its own), fed with readings by this process, on an embedded broker or
// given ones, beside a raw consume→produce loop over the same records.
// Run does one run and returns its Report; "smaint bench" is its command
// line, and run-e2e.sh the runs behind the README's figures.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/embedded"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/features"
)

// ErrConfig marks a Config that cannot run (wrapping pipeline.ErrConfig).
var ErrConfig = fmt.Errorf("%w: bench", pipeline.ErrConfig)

// Config shapes one run. The zero value, after WithDefaults, is the
// README's flat-out run: 10,000 sensors, 6,000,000 readings, every stage
// but the sink, on an embedded broker.
type Config struct {
	Sensors  int           // readings go round-robin over them (default 10,000)
	Rate     float64       // readings per second while the pipeline runs; 0: flat out
	Count    int64         // readings to produce (flat out: default 6,000,000; paced: 0 means until Duration)
	Duration time.Duration // paced: how long to produce (default 60s)

	// Windows and Lateness are the pipeline's --windows and --lateness
	// (default: the features stage's). Lateness also dates the moment a
	// window can close, from which latency is measured.
	Windows  string
	Lateness time.Duration
	// Stages are the pipeline's --stages; they must include dedupe, which
	// reads what the bench produces (default dedupe, features, score,
	// drift, alert).
	Stages     []string
	Partitions int      // of every topic (default 6)
	Brokers    []string // none: an embedded broker and registry in this process
	RedisURL   string   // "": 127.0.0.1:6379 if it answers, else an embedded Redis
	// Duplicates is the share of readings sent twice, Anomalies the
	// sensors whose level shifts halfway through (defaults 0.01 and 1 in
	// 200; None for none: a zero means the default).
	Duplicates  float64
	Anomalies   int
	DedupeCache int    // the pipeline's --dedupe-cache (0: its default)
	Delivery    string // the pipeline's --delivery ("": its default, exactly-once)
	MemoryLimit string // the pipeline's GOMEMLIMIT, e.g. 256MiB ("": this process's)
	CPUProfile  string // the pipeline's --cpuprofile
	PprofAddr   string // the pipeline's --pprof
	// Ready bounds the wait for the pipeline process to be ready (default
	// 1m); Drain, for it to finish the readings produced (default 2m).
	Ready, Drain time.Duration

	// Pipeline makes the command that runs "smaint run" with args (default:
	// this executable with "run" and args).
	Pipeline func(args []string) (*exec.Cmd, error)
	Out      io.Writer    // progress lines (default: discard)
	Logger   *slog.Logger // default: discard
}

// None, as Config.Duplicates or Config.Anomalies, asks for none.
const None = -1

// DefaultStages are the stages a run runs unless told otherwise: every
// stage of the topology but the storage.
func DefaultStages() []string {
	specs, _ := stages.Select(pipeline.DefaultTopics(), []string{"all"}, false)
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	fd := features.Config{}.WithDefaults()
	if c.Sensors == 0 {
		c.Sensors = 10_000
	}
	if c.Rate == 0 && c.Count == 0 {
		c.Count = 6_000_000
	}
	if c.Duration == 0 {
		c.Duration = time.Minute
	}
	if c.Windows == "" {
		c.Windows = fd.Windows()
	}
	if c.Lateness == 0 {
		c.Lateness = fd.Lateness
	}
	if c.Stages == nil {
		c.Stages = DefaultStages()
	}
	if c.Partitions == 0 {
		c.Partitions = pipeline.DefaultPartitions
	}
	if c.Duplicates == 0 {
		c.Duplicates = 0.01
	}
	if c.Anomalies == 0 {
		c.Anomalies = max(1, c.Sensors/200)
	}
	c.Duplicates, c.Anomalies = max(0, c.Duplicates), max(0, c.Anomalies) // None is none
	if c.MemoryLimit == "" {
		c.MemoryLimit = os.Getenv("GOMEMLIMIT") // the child inherits it; the report says so
	}
	if c.Ready == 0 {
		c.Ready = time.Minute
	}
	if c.Drain == 0 {
		c.Drain = 2 * time.Minute
	}
	if c.Pipeline == nil {
		c.Pipeline = thisExecutable
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first setting a run cannot use, wrapping ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Sensors < 1:
		return fmt.Errorf("%w: sensors must be positive", ErrConfig)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("%w: rate %v (want a finite number, 0 or more)", ErrConfig, c.Rate)
	case c.Count < 0:
		return fmt.Errorf("%w: count must not be negative", ErrConfig)
	case c.Rate > 0 && c.Count == 0 && c.Duration <= 0:
		return fmt.Errorf("%w: a paced run needs a duration or a count", ErrConfig)
	case c.Partitions < 1 || c.Partitions > 1000:
		return fmt.Errorf("%w: %d partitions (want 1-1000)", ErrConfig, c.Partitions)
	case c.Duplicates != None && !(c.Duplicates >= 0 && c.Duplicates <= 0.5): // NaN too
		return fmt.Errorf("%w: duplicates %v (want 0-0.5)", ErrConfig, c.Duplicates)
	case c.DedupeCache < 0:
		return fmt.Errorf("%w: dedupe cache must not be negative", ErrConfig)
	case c.Delivery != "" && c.Delivery != "exactly-once" && c.Delivery != "at-least-once":
		return fmt.Errorf("%w: delivery %q: want exactly-once or at-least-once", ErrConfig, c.Delivery)
	case c.Lateness < 0:
		return fmt.Errorf("%w: lateness must not be negative", ErrConfig)
	case c.MemoryLimit != "" && !memLimitSyntax.MatchString(c.MemoryLimit):
		return fmt.Errorf("%w: memory limit %q: want a size as GOMEMLIMIT takes it, e.g. 256MiB or 1GiB", ErrConfig, c.MemoryLimit)
	case c.Drain <= 0 || c.Ready <= 0:
		return fmt.Errorf("%w: drain and ready timeouts must be positive", ErrConfig)
	case !slices.Contains(c.Stages, "dedupe"):
		// The bench feeds sensor.readings; only dedupe reads it, and the
		// run's start and end are timed by dedupe's counter.
		return fmt.Errorf("%w: stages must include dedupe: the other stages read what it writes", ErrConfig)
	}
	if err := features.ParseWindows(c.Windows, &features.Config{}); err != nil {
		return fmt.Errorf("%w: windows: %v", ErrConfig, err)
	}
	specs, err := stages.Select(pipeline.DefaultTopics(), c.Stages, false)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if slices.ContainsFunc(specs, func(s stages.Spec) bool { return s.Storage }) {
		return fmt.Errorf("%w: stages: the sink is not a stage bench runs", ErrConfig)
	}
	return nil
}

// memLimitSyntax is what the Go runtime accepts in GOMEMLIMIT; anything
// else would make the child panic at start.
var memLimitSyntax = regexp.MustCompile(`^[0-9]+(B|KiB|MiB|GiB|TiB)?$`)

func thisExecutable(args []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, append([]string{"run"}, args...)...), nil
}

// rawTopic is where the raw loop copies the readings.
const rawTopic = "smaint.bench.raw"

// Run makes one run: it starts what the run needs, produces the readings
// (before the pipeline starts, flat out; while it runs, paced), measures
// the pipeline until it has drained, then runs the raw loop. Progress
// lines go to cfg.Out once a second. Errors in cfg wrap ErrConfig.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &run{cfg: cfg, topics: pipeline.DefaultTopics()}
	defer b.close()
	if err := b.start(ctx); err != nil {
		return nil, err
	}
	rep := b.newReport()
	if err := b.measure(ctx, rep); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "raw consume→produce over the readings topic...\n")
	n, secs, err := rawPassthrough(ctx, b.kopts, b.topics.Readings, rawTopic, "smaint-bench-raw-"+b.id)
	if err != nil {
		return nil, err
	}
	rep.RawRecords = n
	if secs > 0 {
		rep.RawPerSec = float64(n) / secs
		if cfg.Rate == 0 { // a paced rate says nothing of the pipeline's limit
			rep.RatioOfRaw = rep.EndToEnd / rep.RawPerSec
		}
	}
	return rep, nil
}

// run is one Run's state.
type run struct {
	cfg      Config
	topics   pipeline.Topics
	id       string // this run's, in group names
	prefix   string // of this run's Redis keys
	brokers  []string
	registry string // URL; "" without one
	redisURL string
	redis    string // where Redis is, for the report
	kopts    []kgo.Opt
	serde    *schemas.Serde
	prod     *pipeline.Producer
	readings *pipeline.Output[*schemas.SensorReading]
	gen      *generator
	sent     atomic.Int64
	closers  []func()
}

func (b *run) close() {
	for _, c := range slices.Backward(b.closers) {
		c()
	}
}

// start brings up the broker, registry and Redis the run uses, the topics
// (empty) and the producer.
func (b *run) start(ctx context.Context) error {
	var kopts []kfake.Opt
	if b.cfg.Rate > 0 {
		// The embedded broker keeps every record in this process, on the
		// pipeline's cores: a paced run trims its topics to the last 15
		// seconds (checked every 5 s), so that a long run does not slow
		// the broker down as it goes. A flat-out run needs all its records.
		kopts = append(kopts, kfake.BrokerConfigs(map[string]string{"log.cleaner.backoff.ms": "5000"}))
	}
	svc, err := embedded.Start(ctx, embedded.Options{Brokers: b.cfg.Brokers, KafkaOpts: kopts, RedisURL: b.cfg.RedisURL,
		KeyPrefix: "smaint:bench:", Logger: b.cfg.Logger})
	if err != nil {
		return err
	}
	b.closers = append(b.closers, svc.Close)
	b.brokers, b.registry, b.redisURL, b.redis, b.id, b.prefix = svc.Brokers, svc.RegistryURL, svc.RedisURL, svc.Redis, svc.ID, svc.RedisPrefix
	b.kopts = []kgo.Opt{kgo.SeedBrokers(b.brokers...)}
	if err := b.prepareTopics(ctx); err != nil {
		return err
	}
	if b.serde, err = (pipeline.KafkaConfig{Brokers: b.brokers, Registry: b.registry}).Serde(); err != nil {
		return err
	}
	prod, err := pipeline.NewProducer(pipeline.KafkaOpts(b.kopts...), pipeline.WithSerde(b.serde), pipeline.WithLogger(b.cfg.Logger))
	if err != nil {
		return err
	}
	b.closers = append(b.closers, prod.Close)
	b.prod, b.readings = prod, pipeline.NewOutput[*schemas.SensorReading](b.topics.Readings)
	b.gen = newGenerator(b.cfg.Sensors, b.cfg.Duplicates, 1)
	return prod.Bind(ctx, b.readings)
}

// prepareTopics creates the topics, and refuses ones that hold records:
// an earlier run's would be counted as this run's, and the stages' groups
// would start from that run's offsets.
func (b *run) prepareTopics(ctx context.Context) error {
	admin, err := kgo.NewClient(b.kopts...)
	if err != nil {
		return err
	}
	defer admin.Close()
	topics := append(b.topics.All(), rawTopic)
	rf := int16(-1)
	if len(b.cfg.Brokers) == 0 {
		rf = 1
	}
	if err := pipeline.EnsureTopics(ctx, admin, int32(b.cfg.Partitions), rf, topics...); err != nil {
		return err
	}
	if len(b.cfg.Brokers) == 0 && b.cfg.Rate > 0 {
		rs, err := kadm.NewClient(admin).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("15000")}}, topics...)
		for _, r := range rs {
			err = errors.Join(err, r.Err)
		}
		if err != nil {
			return fmt.Errorf("embedded broker: set retention: %w", err)
		}
	}
	for _, t := range []string{b.topics.Readings, b.topics.Clean, b.topics.Features, rawTopic} {
		n, err := topicRecords(ctx, admin, t)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: topic %s already holds %d records; bench needs empty topics (a fresh cluster, or delete them)", ErrConfig, t, n)
		}
	}
	return nil
}

// childArgs is the pipeline's command line after "run".
func (b *run) childArgs() []string {
	c := b.cfg
	args := []string{"--brokers", strings.Join(b.brokers, ","), "--stages", strings.Join(c.Stages, ","),
		"--redis-prefix", b.prefix, "--windows", c.Windows, "--lateness", c.Lateness.String(),
		"--partitions", fmt.Sprint(c.Partitions), "--log-level", "warn"}
	for _, f := range []struct{ name, value string }{
		{"--registry", b.registry}, {"--cpuprofile", c.CPUProfile}, {"--pprof", c.PprofAddr},
	} {
		if f.value != "" {
			args = append(args, f.name, f.value)
		}
	}
	if c.DedupeCache > 0 {
		args = append(args, "--dedupe-cache", fmt.Sprint(c.DedupeCache))
	}
	if c.Delivery != "" {
		args = append(args, "--delivery", c.Delivery)
	}
	return args
}

func (b *run) newReport() *Report {
	c := b.cfg
	rep := &Report{Sensors: c.Sensors, Mode: "flat out", TargetRate: c.Rate, Stages: strings.Join(c.Stages, ","), Windows: c.Windows,
		LatenessSecs: c.Lateness.Seconds(), Partitions: c.Partitions, Redis: b.redis, StageRates: map[string]float64{},
		DedupeCache: c.DedupeCache, MemoryLimit: c.MemoryLimit, Delivery: c.Delivery, stages: c.Stages}
	if rep.Delivery == "" {
		rep.Delivery = "exactly-once (run's default)"
	}
	if c.Rate > 0 {
		rep.Mode = fmt.Sprintf("paced at %.0f/s", c.Rate)
	}
	return rep
}

// measure runs the pipeline over the readings and fills in what it did.
func (b *run) measure(ctx context.Context, rep *Report) error {
	c := b.cfg
	if c.Rate == 0 {
		// Flat out: the readings are on the topic before the pipeline
		// starts, so it runs as fast as it can, as the raw loop will on
		// the same records.
		span := time.Duration(c.Count/int64(c.Sensors)) * time.Second
		fmt.Fprintf(c.Out, "producing %d readings: %d sensors, one reading a second each, %v of plant time...\n", c.Count, c.Sensors, span)
		b.gen.replayFrom = time.Now().Add(-span).Truncate(time.Minute)
		b.gen.shift(c.Anomalies, b.gen.replayFrom.Add(span/2))
		if err := feed(ctx, b.gen, b.prod, b.readings, 0, c.Count, &b.sent); err != nil {
			return err
		}
	}
	// The monitor starts with the child process: the stages consume as
	// soon as their groups join, before /readyz says so. The run is timed
	// from the last sample that saw dedupe's counter at 0 (or, if none did,
	// from the process's start), so it is never timed too short.
	start := time.Now()
	cmd, err := c.Pipeline(b.childArgs())
	if err != nil {
		return err
	}
	// The Redis URL goes in the environment, not on a command line anyone
	// can read: it may hold a password.
	env := []string{"SMAINT_REDIS=" + b.redisURL}
	if c.MemoryLimit != "" {
		env = append(env, "GOMEMLIMIT="+c.MemoryLimit)
	}
	child, err := startPipeline(cmd, env)
	if err != nil {
		return err
	}
	defer child.kill()
	mon := newMonitor(b, child, rep, start)
	mctx, stopMon := context.WithCancel(ctx)
	defer stopMon()
	monDone := make(chan struct{})
	go func() { mon.run(mctx); close(monDone) }()
	if err := child.waitReady(ctx, c.Ready); err != nil {
		return err
	}
	obs, err := b.observe(ctx, start, mon)
	if err != nil {
		return err
	}
	defer obs.stop()
	if err := b.pace(ctx); err != nil {
		return err
	}
	rep.Produced = b.sent.Load()
	rep.Drained = mon.waitDrained(ctx, c.Drain, child.done) && obs.waitCaughtUp(ctx, c.Drain)
	stopMon()
	<-monDone
	mon.fill(rep)
	obs.stop()
	if c.Rate > 0 {
		// Latency means something only when readings are stamped as they
		// are produced, in a paced run; a replayed backlog's windows are
		// late by construction.
		obs.fill(rep)
	}
	return b.stopChild(child, mon, rep)
}

// observe starts the latency probe once the pipeline has created its
// topics (a consumer asking for a topic that does not exist yet can have
// the broker create it with its own defaults).
func (b *run) observe(ctx context.Context, start time.Time, mon *monitor) (*observer, error) {
	obs, err := newObserver(ctx, b.kopts, b.serde, b.topics, b.cfg.Lateness, start)
	if err != nil {
		return nil, err
	}
	mon.obs.Store(obs)
	return obs, nil
}

// pace produces a paced run's readings, stamped with the wall clock.
func (b *run) pace(ctx context.Context) error {
	c := b.cfg
	if c.Rate == 0 {
		return nil
	}
	pctx := ctx
	if c.Count == 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, c.Duration)
		defer cancel()
	}
	b.gen.shift(c.Anomalies, time.Now().Add(c.Duration/2))
	if err := feed(pctx, b.gen, b.prod, b.readings, c.Rate, c.Count, &b.sent); err != nil && pctx.Err() == nil {
		return err
	}
	return nil
}

// stopChild ends the pipeline process and notes what it used.
func (b *run) stopChild(child *pipelineProc, mon *monitor, rep *Report) error {
	cpu, peak, err := child.stop(time.Minute)
	if err != nil {
		return err
	}
	rep.CPUSeconds, rep.PeakRSSMiB = cpu, float64(peak)/(1<<20)
	_, _, self := procResources("self")
	rep.BenchRSSMiB = float64(self) / (1 << 20)
	if rep.Seconds > 0 {
		rep.CPUCores = mon.activeCPU() / rep.Seconds
	}
	return nil
}
