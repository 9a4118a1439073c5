package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages"
)

// stageFlags are what a command that runs stages on Kafka takes besides
// Kafka's flags: which stages, their settings and their clients.
type stageFlags struct {
	names    listFlag
	withDB   bool // "all" includes the sink: a database was found, if not given
	maxBatch int
	maxBytes int
	stall    time.Duration
	instance string
	session  time.Duration
	delivery string
	commit   time.Duration
	set      *settings
	cl       clients
	api      apiFlags
}

func (f *stageFlags) register(fs *flagSet) {
	f.names = listFlag{"all"}
	fs.Var(&f.names, "stages", "stages to run: all (the sink only with a database URL), or a list of "+stageNames())
	fs.IntVar(&f.maxBatch, "max-batch", pipeline.DefaultMaxBatch, "most records per batch a stage processes at once")
	fs.IntVar(&f.maxBytes, "max-record-bytes", pipeline.DefaultMaxRecordBytes, "largest record batch, and so record, a stage writes; an output over it goes to the dead-letter topic (kind too_large). No output topic's max.message.bytes may be under it: stages check at start")
	fs.DurationVar(&f.stall, "stall-after", pipeline.DefaultStallAfter, "a stage that holds one batch longer (blocked, retrying, or awaiting the brokers) reports itself stalled: not ready in /readyz, a warning, smaint_stage_stalled")
	fs.StringVar(&f.instance, "instance-id", "", "a stable name for this instance (a pod's name) to be a static member of the stages' groups: after a restart within --session-timeout it takes its partitions back without a rebalance; empty: dynamic membership")
	fs.alias("instance-id", "POD_NAME")
	fs.DurationVar(&f.session, "session-timeout", 45*time.Second, "how long a group waits for a member that stopped heartbeating (a crash) before handing its partitions to others")
	fs.StringVar(&f.delivery, "delivery", deliveryExactlyOnce, "exactly-once: each stage commits its Kafka outputs, dead letters, input offsets and checkpoints in one transaction per --commit-interval and reads only committed records, so a crash or a rebalance never duplicates an output; at-least-once: no transactions, and after a crash the outputs of input consumed again are written again")
	fs.DurationVar(&f.commit, "commit-interval", 100*time.Millisecond, "how often each stage commits its offsets (exactly-once: its transaction, and so the most a stage downstream waits to see an output)")
	f.set = newSettings(fs, stages.Topology(pipeline.DefaultTopics()))
	f.cl.register(fs)
	f.api.register(fs, "api", "", "serve the HTTP API (see smaint serve) on this address beside the stages, with --api-keys; empty: no API")
}

func (f *stageFlags) validate() error {
	if f.maxBatch < 1 {
		return fmt.Errorf("%w: --max-batch must be positive", errUsage)
	}
	if f.session < time.Second || f.session > 30*time.Minute {
		return fmt.Errorf("%w: --session-timeout %v: want 1s to 30m", errUsage, f.session)
	}
	if f.stall < 100*time.Millisecond {
		return fmt.Errorf("%w: --stall-after %v: want at least 100ms", errUsage, f.stall)
	}
	if f.delivery != deliveryExactlyOnce && f.delivery != deliveryAtLeastOnce {
		return fmt.Errorf("%w: --delivery %q: want %s or %s", errUsage, f.delivery, deliveryExactlyOnce, deliveryAtLeastOnce)
	}
	if f.commit < 100*time.Millisecond || f.commit > time.Minute {
		return fmt.Errorf("%w: --commit-interval %v: want 100ms to 1m", errUsage, f.commit)
	}
	if f.maxBytes < 1024 || f.maxBytes > 1<<30 {
		return fmt.Errorf("%w: --max-record-bytes %d: want 1024 to 1073741824", errUsage, f.maxBytes)
	}
	for _, n := range f.names {
		if (n == "predict" || n == "rul") && f.set.models == "" {
			return fmt.Errorf("%w: --stages %s needs --models, the model store its model is loaded from (smaint train stores one there)", errUsage, n)
		}
	}
	return firstErr(f.cl.validate(), f.api.validate())
}

// services builds the selected stages' runners on d's topics (with
// opts), and what runs beside them; the wiring's close releases what they
// opened, once they stopped.
func (f *stageFlags) services(ctx context.Context, d *deps, opts []pipeline.Option) ([]pipeline.Service, *wiring, error) {
	specs, err := stages.Select(d.topics, f.names, f.withDB || f.cl.db.given())
	if err != nil {
		return nil, nil, fmt.Errorf("--stages: %w", err)
	}
	cfg, err := f.set.config(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	w, err := f.cl.connect(ctx, &cfg, d, specs)
	if err != nil {
		return nil, nil, err
	}
	if err := followModels(ctx, &cfg, d, specs, w, opts, pipeline.KafkaOf(opts...)); err != nil {
		w.close()
		return nil, nil, err
	}
	if err := followMaintenance(ctx, &cfg, d, specs, w, opts, pipeline.KafkaOf(opts...)); err != nil {
		w.close()
		return nil, nil, err
	}
	nodes, err := stages.Build(ctx, &cfg, specs)
	var runners []pipeline.Service
	if err == nil {
		runners, err = pipeline.Runners(nodes, append(opts, pipeline.MaxBatch(f.maxBatch), pipeline.MaxRecordBytes(int32(f.maxBytes)), pipeline.StallAfter(f.stall),
			pipeline.StaticMember(f.instance), pipeline.SessionTimeout(f.session), pipeline.CommitInterval(f.commit), f.exactlyOnce())...)
	}
	if err == nil && f.api.listen != "" {
		var api pipeline.Service
		if api, err = f.api.start(ctx, d, opts, cfg.Dedupe.Check, f.cl.db, d.log, w); err == nil {
			w.services = append(w.services, api)
			d.log.Info("HTTP API serving", "listen", f.api.addr, "keys", f.api.cfg.Keys.Len())
		}
	}
	if err != nil {
		w.close()
		return nil, nil, err
	}
	return append(runners, w.services...), w, nil
}

// The values of --delivery.
const (
	deliveryExactlyOnce = "exactly-once"
	deliveryAtLeastOnce = "at-least-once"
)

// exactlyOnce is the runners' delivery option. Its transactional ids name
// this instance by --instance-id, else by host and process: a restart
// under the same --instance-id aborts at once what the crashed process
// left open, where a new name leaves that to the brokers' transaction
// timeout, and the stages downstream wait behind it.
func (f *stageFlags) exactlyOnce() pipeline.Option {
	if f.delivery != deliveryExactlyOnce {
		return pipeline.ExactlyOnce("")
	}
	id := f.instance
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return pipeline.ExactlyOnce(id)
}

func runCmd(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("run", "Usage: smaint run --brokers HOST:PORT [flags]\n\nRuns pipeline stages, each in its own consumer group, until SIGINT or SIGTERM;\nthen drains, commits and exits.\n", stderr)
	var (
		kf         kafkaFlags
		sf         stageFlags
		lf         logFlags
		addr       string
		httpToken  string
		prof, dbug string
	)
	kf.register(fs)
	sf.register(fs)
	lf.register(fs, "info")
	fs.StringVar(&addr, "http", ":9090", "address of the /metrics, /healthz and /readyz endpoints")
	fs.StringVar(&httpToken, "http-token", "", "callers presenting it (Authorization: Bearer <token>) read /readyz's details from anywhere; without it only local callers do, and others read \"not ready\"")
	fs.secret("http-token")
	fs.StringVar(&prof, "cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	fs.StringVar(&dbug, "pprof", "", "serve Go's /debug/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := firstErr(kf.validate(), sf.validate()); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	stop, err := pipeline.Profile(prof, dbug)
	if err != nil {
		return fmt.Errorf("--cpuprofile or --pprof: %w", err)
	}
	defer stop()
	d, opts, err := kf.connect(log)
	if err != nil {
		return err
	}
	if err := kf.check(ctx, log); err != nil {
		return err
	}
	if err := registerSubjects(ctx, d); err != nil {
		return err
	}
	services, w, err := sf.services(ctx, d, opts)
	if err != nil {
		return err
	}
	defer w.close()
	srv, err := pipeline.NewServer(addr, d.reg, d.health, log)
	if err != nil {
		return err
	}
	srv.RevealTo(httpToken)
	srv.ServeDrained(services)
	log.Info("smaint running", "stages", sf.names.String(), "brokers", strings.Join(kf.cfg.Brokers, ","), "http", srv.Addr(), "registry", kf.cfg.Registry)
	return pipeline.RunAll(ctx, append(services, srv)...)
}
