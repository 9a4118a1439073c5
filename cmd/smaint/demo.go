package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/simulate"
)

// demoFlags are the demo's own flags.
type demoFlags struct {
	duration     time.Duration
	jsonOut      bool
	kafkaListen  string
	registryAddr string
	httpAddr     string
	drain        time.Duration
	noDatabase   bool
}

func demoCmd(ctx context.Context, args []string, out, stderr io.Writer) error {
	stdout := &lockedWriter{w: out} // the live line and live alerts share it
	fs := newFlagSet("demo", "Usage: smaint demo [flags]\n\nRuns the simulator and every stage on an embedded Kafka (franz-go kfake) and\nschema registry (srfake), prints a line a second and a final summary. While it\nruns, any Kafka client can use the broker address it prints.\n", stderr)
	var (
		df demoFlags
		sf simFlags
		st stageFlags
		lf logFlags
	)
	sf.register(fs, 20_000)
	st.register(fs)
	// Simulated time runs far faster than the wall clock: close windows
	// of a quiet partition sooner than a production run would.
	setDefault(fs, "idle-timeout", "3s")
	lf.register(fs, "warn")
	fs.DurationVar(&df.duration, "duration", 0, "how long to simulate (0: until the simulated hour is sent, or Ctrl-C)")
	fs.BoolVar(&df.jsonOut, "json", false, "print the final summary as one JSON object on the last line")
	fs.StringVar(&df.kafkaListen, "kafka-listen", "127.0.0.1:9092", "address of the embedded Kafka broker (a free port if taken)")
	fs.StringVar(&df.registryAddr, "registry-listen", "127.0.0.1:8081", "address of the embedded schema registry (a free port if taken)")
	fs.StringVar(&df.httpAddr, "http", "127.0.0.1:9090", "address of /metrics, /healthz and /readyz (a free port if taken)")
	fs.DurationVar(&df.drain, "drain-timeout", time.Minute, "how long to wait, after the simulation, for the pipeline to finish")
	fs.BoolVar(&df.noDatabase, "no-database", false, "do not write to PostgreSQL even if one answers")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := sf.validate(); err != nil {
		return err
	}
	if err := st.validate(); err != nil {
		return err
	}
	if df.duration < 0 {
		return fmt.Errorf("%w: --duration must not be negative", errUsage)
	}
	if err := positiveDuration("drain-timeout", df.drain); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}

	// The simulated span: the whole run's worth of readings at --rate, or an hour.
	probe, err := simulate.New(sf.cfg)
	if err != nil {
		return err
	}
	sf.cfg.Span = time.Hour
	if df.duration > 0 && sf.rate > 0 {
		sf.cfg.Span = max(time.Minute, spanFor(probe, df.duration, sf.rate))
	}
	sim, closeTruth, err := sf.open()
	if err != nil {
		return err
	}
	defer closeTruth()

	var env embedded
	defer env.close()
	if err := env.startKafka(df.kafkaListen, log); err != nil {
		return err
	}
	if err := env.startRegistry(df.registryAddr, log); err != nil {
		return err
	}
	if err := env.connectRedis(ctx, st.dedupe.redisURL, log); err != nil {
		return err
	}
	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	st.dedupe.redisPrefix = "smaint:demo:" + hex.EncodeToString(runID) + ":"
	defer env.dropKeys(context.WithoutCancel(ctx), st.dedupe.redisPrefix)

	kf := kafkaFlags{partitions: 6, replication: 1, registry: env.regURL}
	kf.brokers = listFlag{env.kafkaAddr}
	if err := kf.validate(); err != nil {
		return err
	}
	serde, err := kf.serde()
	if err != nil {
		return err
	}
	d := newDeps(log, serde)
	base, err := kf.runnerOpts(d)
	if err != nil {
		return err
	}
	base = append(base, pipeline.CommitInterval(200*time.Millisecond))
	store, err := setUpStorage(ctx, &st, df.noDatabase, log)
	if err != nil {
		return err
	}
	runners, err := st.build(ctx, d, base, env.rdb)
	defer st.close()
	if err != nil {
		return err
	}
	srv, err := pipeline.NewServer(df.httpAddr, d.reg, d.health, log)
	if err != nil {
		log.Warn("metrics port taken; using a free one", "wanted", df.httpAddr, "err", err)
		host, _, _ := net.SplitHostPort(df.httpAddr)
		if srv, err = pipeline.NewServer(net.JoinHostPort(host, "0"), d.reg, d.health, log); err != nil {
			return fmt.Errorf("--http: %w", err)
		}
	}
	prod, err := pipeline.NewProducer(base...)
	if err != nil {
		return err
	}
	defer prod.Close()
	readings := pipeline.NewOutput[*schemas.SensorReading](d.topics.Readings)
	if err := prod.Bind(ctx, readings); err != nil {
		return err
	}
	admin, err := kgo.NewClient(kgo.SeedBrokers(env.kafkaAddr))
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := pipeline.EnsureTopics(ctx, admin, 6, 1, d.topics.All()...); err != nil {
		return err
	}
	ver, err := newVerifier([]kgo.Opt{kgo.SeedBrokers(env.kafkaAddr)}, serde, d.topics)
	if err != nil {
		return err
	}
	ver.onAlert = func(a *schemas.Alert, changedKind bool) {
		if a.State == schemas.StateUpdated && !changedKind {
			return
		}
		fmt.Fprintf(stdout, "  %s %-8s %-13s %s at %s: %s\n", alertMark(a), a.Severity, a.Kind, a.State, a.LastSeen.Format("15:04"), a.Summary)
		if a.State != schemas.StateResolved {
			fmt.Fprintf(stdout, "           -> %s\n", a.RecommendedAction)
		}
	}

	fmt.Fprintf(stdout, "smaint demo\n  kafka     %s   (try: kcat -b %s -L)\n  registry  %s\n  redis     %s\n  metrics   http://%s/metrics   ready: http://%s/readyz\n",
		env.kafkaAddr, env.kafkaAddr, env.regURL, env.redisDesc, srv.Addr(), srv.Addr())
	store.header(stdout)
	fmt.Fprintf(stdout, "  plant     %d assets, %d sensors, %.0f readings per simulated second; %s of event time at %s records/s\n\n",
		sf.cfg.Assets, sim.Sensors(), sim.ReadingsPerSecond(), sf.cfg.Span.Round(time.Second), rateText(sf.rate))

	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	pipelineDone := make(chan error, 1)
	go func() { pipelineDone <- runAll(pctx, append(runners, srv, ver)...) }()

	started, simStart := time.Now(), sim.EventTime()
	fctx := ctx
	if df.duration > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, df.duration)
		defer cancel()
	}
	live := newLiveLine(stdout, d, ver, sim, started)
	go live.run(fctx)
	f := &feeder{sim: sim, prod: prod, out: readings, rate: sf.rate, onEvent: ver.expect}
	sent, feedErr := f.run(fctx, 0)
	live.stop()
	sendSecs := time.Since(started).Seconds()
	if feedErr != nil && fctx.Err() == nil {
		return fmt.Errorf("simulator: %w", feedErr)
	}

	reached := sim.EventTime()
	// Let the pipeline finish what was sent, unless the user interrupted.
	drained := waitDrained(ctx, df.drain, d, ver)
	stopPipeline()
	if err := <-pipelineDone; err != nil {
		return err
	}
	if err := closeTruth(); err != nil {
		return fmt.Errorf("--truth: %w", err)
	}

	sum := summarize(d, ver, sim.Stats(), sim.Truth(), reached, simStart, sent, sendSecs, time.Since(started).Seconds(), drained)
	store.stored(d)
	sum.Storage = store
	sum.print(stdout)
	if df.jsonOut {
		if err := json.NewEncoder(stdout).Encode(sum); err != nil {
			return err
		}
	}
	if sum.Lost > 0 {
		return fmt.Errorf("%d readings lost", sum.Lost)
	}
	return nil
}

// waitDrained waits, up to timeout or until ctx ends, for the pipeline to
// finish what was sent: every stage has consumed its input to the end (its
// lag gauges read 0), the verifier has read the outcome topics to theirs,
// and the stages have emitted nothing new for quiet (so the windows closed
// on idle have gone through scoring and alerting).
func waitDrained(ctx context.Context, timeout time.Duration, d *deps, ver *verifier) bool {
	const quiet = 3 * time.Second
	deadline := time.Now().Add(timeout)
	var last float64 = -1
	stableSince := time.Now()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out := metricSum(d.reg, "smaint_records_out_total", nil)
		if out != last {
			last, stableSince = out, time.Now()
			continue
		}
		if time.Since(stableSince) < quiet || metricSum(d.reg, "smaint_consumer_lag", nil) != 0 {
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		caught, err := ver.caughtUp(qctx)
		cancel()
		if err == nil && caught {
			return true
		}
	}
	return false
}

func alertMark(a *schemas.Alert) string {
	if a.State == schemas.StateResolved {
		return "ok"
	}
	return "!!"
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

func rateText(r float64) string {
	if r == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f", r)
}
