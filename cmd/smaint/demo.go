//go:build !prod

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"time"

	"github.com/smaint/smaint/bench/demo"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/embedded"
	"github.com/smaint/smaint/pipeline/httpapi"
	"github.com/smaint/smaint/sinks/timescale"
	"github.com/smaint/smaint/stages"
)

// demoFlags are the demo's own flags.
type demoFlags struct {
	duration, drain                     time.Duration
	jsonOut, noDatabase                 bool
	kafkaListen, registryAddr, httpAddr string
	// apiLines say how to call the HTTP API at base (nil: no API).
	apiLines func(base string) []string
}

func (f *demoFlags) register(fs *flagSet) {
	fs.DurationVar(&f.duration, "duration", 0, "how long to simulate (0: until the simulated hour is sent, or Ctrl-C)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the final summary as one JSON object on the last line")
	fs.StringVar(&f.kafkaListen, "kafka-listen", "127.0.0.1:9092", "address of the embedded Kafka broker (a free port if taken)")
	fs.StringVar(&f.registryAddr, "registry-listen", "127.0.0.1:8081", "address of the embedded schema registry (a free port if taken)")
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:9090", "address of /metrics, /healthz and /readyz (a free port if taken)")
	fs.DurationVar(&f.drain, "drain-timeout", time.Minute, "how long to wait, after the simulation, for the pipeline to finish")
	fs.BoolVar(&f.noDatabase, "no-database", false, "do not write to PostgreSQL even if one answers")
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	fs.setDefault("idle-timeout", "3s")
	// The HTTP API, with a key the demo makes (unless --api-keys gives
	// some) and prints; a free port if this one is taken.
	fs.setDefault("api", "127.0.0.1:8080")
	lf.register(fs, "warn")
	df.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	apiLines, err := demoAPI(&st)
	if err != nil {
		return err
	}
	df.apiLines = apiLines
	if err := firstErr(positiveDuration("drain-timeout", df.drain), sf.validate(), st.validate()); err != nil {
		return err
	}
	if df.duration < 0 {
		return fmt.Errorf("%w: --duration must not be negative", errUsage)
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	cfg, closeAll, err := setUpDemo(ctx, &df, &sf, &st, log, stdout)
	defer closeAll()
	if err != nil {
		return err
	}
	sum, err := demo.Run(ctx, cfg)
	if err != nil {
		return err
	}
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

// setUpDemo starts the embedded services and builds on them the stages,
// and the operator endpoints, for demo.Run to play the plant on. closeAll
// releases all of it, whatever setUpDemo returned.
func setUpDemo(ctx context.Context, df *demoFlags, sf *simFlags, st *stageFlags, log *slog.Logger, stdout io.Writer) (cfg demo.Config, closeAll func(), err error) {
	all := &wiring{}
	closeAll = all.close
	svc, err := embedded.Start(ctx, embedded.Options{KafkaListen: df.kafkaListen, RegistryListen: df.registryAddr, RedisURL: st.cl.redisURL,
		KeyPrefix: "smaint:demo:", Logger: log})
	if err != nil {
		return cfg, closeAll, err
	}
	all.closers = append(all.closers, svc.Close)
	st.cl.redisURL, st.cl.redisPrefix = svc.RedisURL, svc.RedisPrefix
	kf := kafkaFlags{cfg: pipeline.KafkaConfig{Brokers: svc.Brokers, Registry: svc.RegistryURL}, partitions: pipeline.DefaultPartitions, replication: 1}
	d, opts, err := kf.connect(log)
	if err != nil {
		return cfg, closeAll, err
	}
	opts = append(opts, pipeline.CommitInterval(200*time.Millisecond))
	if err := registerSubjects(ctx, d); err != nil {
		return cfg, closeAll, err
	}
	if cfg.Storage, err = demo.OpenStorage(ctx, st.cl.db.url, df.noDatabase, log); err != nil {
		return cfg, closeAll, fmt.Errorf("--database-url: %w", err)
	}
	if cfg.Storage.Enabled { // the sinks join the stages
		st.withDB = true
		if !slices.Contains(st.names, "all") && !slices.Contains(st.names, "sink") {
			st.names = append(st.names, "sink")
		}
	}
	if cfg.Models, err = demoModelLoop(st, all); err != nil {
		return cfg, closeAll, err
	}
	if cfg.Storage.Enabled && !st.cl.db.given() { // the API reads where the sink writes
		st.cl.db.url = timescale.DefaultURL
	}
	if st.set.limits == "" { // the plant's own, unless --limits names others
		st.set.Forecast.Limits = demo.PlantLimits()
	}
	services, w, err := st.services(ctx, d, opts)
	if err != nil {
		return cfg, closeAll, err
	}
	all.closers = append(all.closers, w.close)
	srv, err := serverOn(df.httpAddr, d, log)
	if err != nil {
		return cfg, closeAll, err
	}
	kafka := svc.Brokers[0]
	header := []string{"smaint demo",
		fmt.Sprintf("  kafka     %s   (try: kcat -b %s -L)", kafka, kafka), "  registry  " + svc.RegistryURL, "  redis     " + svc.Redis,
		fmt.Sprintf("  metrics   http://%s/metrics   ready: http://%s/readyz", srv.Addr(), srv.Addr())}
	services = append(services, srv)
	if df.apiLines != nil {
		header = append(header, df.apiLines("http://"+st.api.addr)...)
	}
	cfg = demo.Config{Plant: sf.cfg, Truth: sf.truthPath, Kafka: opts, Serde: d.serde, Topics: d.topics, Pipeline: services, Metrics: d.reg,
		Rate: sf.rate, Duration: df.duration, Drain: df.drain, Storage: cfg.Storage, Models: cfg.Models, Out: stdout, Header: header}
	return cfg, closeAll, nil
}

// demoAPI readies the HTTP API that st runs: a key for the run, read and
// write, unless --api-keys gave some, and a free port if its own is
// taken. It returns what prints how to call it, given the address it
// serves on.
func demoAPI(st *stageFlags) (func(base string) []string, error) {
	a := &st.api
	if a.listen == "" {
		return nil, nil
	}
	if ln, err := net.Listen("tcp", a.listen); err == nil {
		ln.Close()
	} else {
		host, _, _ := net.SplitHostPort(a.listen)
		a.listen = net.JoinHostPort(host, "0")
	}
	secret := "KEY (one of --api-keys)"
	if a.keys == "" {
		var err error
		if secret, a.keys, err = httpapi.NewKey("demo", "read,write", "0"); err != nil {
			return nil, err
		}
	}
	return func(base string) []string {
		return []string{
			fmt.Sprintf("  http api  %s/v1/openapi.yaml   key %s", base, secret),
			fmt.Sprintf("            (try: curl -H 'Authorization: Bearer %s' '%s/v1/alerts?state=all')", secret, base),
		}
	}, nil
}

// demoModelLoop closes the model loop in a demo that scores: the retrain
// stage joins the stages, publishing to --models or, without it, to a
// file store in a temporary directory that closing all removes. It
// returns the store's URI ("": no loop, the demo does not score).
func demoModelLoop(st *stageFlags, all *wiring) (string, error) {
	names := st.names
	if slices.Equal(names, []string{"all"}) {
		names = nil
		for _, s := range stages.Topology(pipeline.DefaultTopics()) {
			if !s.Storage && !s.Named && !slices.Contains(names, s.Selector()) {
				names = append(names, s.Selector())
			}
		}
		if st.withDB {
			names = append(names, "sink")
		}
	}
	if !slices.Contains(names, "score") {
		return "", nil
	}
	if !slices.Contains(names, "retrain") {
		names = append(names, "retrain")
	}
	st.names = names
	if st.set.models == "" {
		dir, err := os.MkdirTemp("", "smaint-demo-models-")
		if err != nil {
			return "", err
		}
		all.closers = append(all.closers, func() { os.RemoveAll(dir) })
		st.set.models = "file://" + dir
	}
	return st.set.models, nil
}

// serverOn serves the operator endpoints on addr, or on a free port of its
// host if addr is taken.
func serverOn(addr string, d *deps, log *slog.Logger) (*pipeline.Server, error) {
	srv, err := pipeline.NewServer(addr, d.reg, d.health, log)
	if err != nil {
		log.Warn("metrics port taken; using a free one", "wanted", addr, "err", err)
		host, _, _ := net.SplitHostPort(addr)
		if srv, err = pipeline.NewServer(net.JoinHostPort(host, "0"), d.reg, d.health, log); err != nil {
			return nil, fmt.Errorf("--http: %w", err)
		}
	}
	return srv, nil
}
