package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/notify"
	"github.com/smaint/smaint/sinks/redisstore"
	"github.com/smaint/smaint/sinks/timescale"
	"github.com/smaint/smaint/stages/alert"
	"github.com/smaint/smaint/stages/dedupe"
	"github.com/smaint/smaint/stages/drift"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/score"
)

// stageNames lists the stages, in pipeline order. "run --stages all" runs
// them all, the sink only when a database URL is given.
var stageNames = []string{"dedupe", "features", "score", "drift", "alert", "sink"}

// stageFlags are the settings of every stage.
type stageFlags struct {
	names    listFlag
	maxBatch int
	dedupe   dedupeFlags
	features featureFlags
	score    scoreFlags
	drift    driftFlags
	alert    alertFlags
	db       dbFlags

	closers []func() // run by close, after the runners stopped
}

func (s *stageFlags) register(fs *flagSet) {
	s.names = listFlag{"all"}
	fs.Var(&s.names, "stages", "stages to run: all (the sink only with a database URL), or a list of "+strings.Join(stageNames, ", "))
	fs.IntVar(&s.maxBatch, "max-batch", 10_000, "most records per batch a stage processes at once")
	s.dedupe.register(fs)
	s.features.register(fs)
	s.score.register(fs)
	s.drift.register(fs)
	s.alert.register(fs)
	s.db.register(fs)
}

func (s *stageFlags) validate() error {
	if len(s.names) == 1 && s.names[0] == "all" {
		s.names = slices.Clone(stageNames)
		if !s.db.given() {
			s.names = slices.DeleteFunc(s.names, func(n string) bool { return n == "sink" })
		}
	}
	if len(s.names) == 0 {
		return fmt.Errorf("%w: --stages is empty", errUsage)
	}
	for _, n := range s.names {
		if !slices.Contains(stageNames, n) {
			return fmt.Errorf("%w: unknown stage %q in --stages (known: all, %s)", errUsage, n, strings.Join(stageNames, ", "))
		}
	}
	if s.maxBatch < 1 {
		return fmt.Errorf("%w: --max-batch must be positive", errUsage)
	}
	return s.dedupe.validate()
}

// build returns a runner for every selected stage, and the alert
// notifier's dispatcher when one is configured.
func (s *stageFlags) build(ctx context.Context, d *deps, base []pipeline.Option, rdb redis.UniversalClient) ([]runnable, error) {
	var out []runnable
	opts := func(extra ...pipeline.Option) []pipeline.Option {
		return append(slices.Clone(base), append([]pipeline.Option{pipeline.DeadLetterTopic(d.topics.DLQ), pipeline.MaxBatch(s.maxBatch)}, extra...)...)
	}
	for _, name := range s.names {
		var (
			r   runnable
			err error
		)
		switch name {
		case "dedupe":
			var st *dedupe.Stage
			if st, err = dedupe.New(s.dedupe.config(d, rdb)); err == nil {
				r, err = pipeline.NewRunner("dedupe", pipeline.Stage[schemas.SensorReading](st), opts(pipeline.ConsumeTopics(d.topics.Readings))...)
			}
		case "features":
			var st pipeline.Stage[schemas.SensorReading]
			if st, err = s.buildFeatures(d); err == nil {
				r, err = pipeline.NewRunner(runnerName("features", s.names), st, opts(pipeline.ConsumeTopics(d.topics.Clean))...)
			}
		case "score":
			var cfg score.Config
			if cfg, err = s.score.config(ctx, d); err == nil {
				var st *score.Stage
				if st, err = score.New(cfg); err == nil {
					r, err = pipeline.NewRunner("score", pipeline.Stage[schemas.FeatureVector](st), opts(pipeline.ConsumeTopics(d.topics.Features))...)
				}
			}
		case "drift":
			if runnerName("drift", s.names) == featuresDrift {
				continue // runs in the features runner
			}
			var st *drift.Stage
			if st, err = drift.New(s.drift.config(d)); err == nil {
				r, err = pipeline.NewRunner("drift", pipeline.Stage[schemas.SensorReading](st), opts(pipeline.ConsumeTopics(d.topics.Clean))...)
			}
		case "alert":
			var (
				cfg  alert.Config
				disp *notify.Dispatcher
			)
			if cfg, disp, err = s.alert.config(d); err == nil {
				var st *alert.Stage
				if st, err = alert.New(cfg); err == nil {
					r, err = pipeline.NewRunner("alert", pipeline.Stage[alert.Event](st),
						opts(pipeline.ConsumeTopics(d.topics.Scores, d.topics.Drift), pipeline.CoPartitioned(),
							pipeline.DecodeWith(alert.Decode(d.topics.Scores, d.topics.Drift)))...)
				}
				if err == nil && disp != nil {
					out = append(out, disp)
				}
			}
		case "sink":
			var rs []runnable
			if rs, err = s.buildSinks(ctx, d, opts); err == nil {
				out = append(out, rs...)
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// featuresDrift names the runner of the features and drift stages when
// they run in one process: both read the clean readings, so one consumer
// (group smaint-features+drift) fetches and decodes each reading once for
// both.
const featuresDrift = "features+drift"

// runnerName is the name of the runner (its group "smaint-NAME", its
// metrics' stage label) that runs stage when the stages in names run.
func runnerName(stage string, names []string) string {
	if (stage == "features" || stage == "drift") && slices.Contains(names, "features") && slices.Contains(names, "drift") {
		return featuresDrift
	}
	return stage
}

// buildFeatures returns the features stage, in a Fanout with the drift
// stage when drift runs too.
func (s *stageFlags) buildFeatures(d *deps) (pipeline.Stage[schemas.SensorReading], error) {
	cfg, err := s.features.config(d)
	if err != nil {
		return nil, err
	}
	fst, err := features.New(cfg)
	if err != nil {
		return nil, err
	}
	if runnerName("features", s.names) != featuresDrift {
		return fst, nil
	}
	dst, err := drift.New(s.drift.config(d))
	if err != nil {
		return nil, fmt.Errorf("stage drift: %w", err)
	}
	fan, err := pipeline.NewFanout(d.log.With("stage", featuresDrift),
		pipeline.Part[schemas.SensorReading]{Name: "features", Stage: fst},
		pipeline.Part[schemas.SensorReading]{Name: "drift", Stage: dst})
	if err != nil {
		return nil, err
	}
	return fan, nil
}

// buildSinks returns a runner per stored topic, each in its own consumer
// group, and the maintainer that plain PostgreSQL needs. They share one
// database pool, closed by close.
func (s *stageFlags) buildSinks(ctx context.Context, d *deps, opts func(...pipeline.Option) []pipeline.Option) ([]runnable, error) {
	pool, err := s.db.pool(ctx, "smaint-sink")
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, pool.Close)
	cfg := timescale.Config{Pool: pool, Registerer: d.reg, Logger: d.log.With("stage", "sink"), Health: d.health}
	var out []runnable
	add := func(r runnable, err error) error {
		if err == nil {
			out = append(out, r)
		}
		return err
	}
	t := d.topics
	err = errors.Join(
		add(sinkRunner(timescale.Readings, cfg, "sink-readings", opts(pipeline.ConsumeTopics(t.Clean)))),
		add(sinkRunner(timescale.Features, cfg, "sink-features", opts(pipeline.ConsumeTopics(t.Features)))),
		add(sinkRunner(timescale.Scores, cfg, "sink-scores", opts(pipeline.ConsumeTopics(t.Scores)))),
		add(sinkRunner(timescale.Drift, cfg, "sink-drift", opts(pipeline.ConsumeTopics(t.Drift)))),
		add(sinkRunner(timescale.Alerts, cfg, "sink-alerts", opts(pipeline.ConsumeTopics(t.Alerts)))),
		add(sinkRunner(timescale.Retrain, cfg, "sink-retrain", opts(pipeline.ConsumeTopics(t.Retrain)))),
	)
	if err != nil {
		return nil, err
	}
	out = append(out, &timescale.Maintainer{Pool: pool, Logger: d.log.With("stage", "sink"), Registerer: d.reg})
	d.log.Info("sink writes to the database", "database", s.db.where())
	return out, nil
}

func sinkRunner[T any](table timescale.Table[T], cfg timescale.Config, name string, opts []pipeline.Option) (runnable, error) {
	st, err := timescale.New(table, cfg)
	if err != nil {
		return nil, err
	}
	return pipeline.NewRunner(name, pipeline.Stage[T](st), opts...)
}

// close releases what build opened; call it after the runners stopped.
func (s *stageFlags) close() {
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

// dedupeFlags configure the dedupe stage.
type dedupeFlags struct {
	redisURL, redisPrefix, store string
	ttl                          time.Duration
	capacity                     int
	maxFuture, maxPast           time.Duration
}

func (f *dedupeFlags) register(fs *flagSet) {
	fs.StringVar(&f.redisURL, "redis", "", "Redis URL (redis:// or rediss://) for dedupe across instances and restarts; empty: dedupe in process only")
	fs.alias("redis", "REDIS_URL")
	fs.StringVar(&f.redisPrefix, "redis-prefix", "smaint:", "prefix of every Redis key; give each deployment sharing a Redis its own")
	fs.StringVar(&f.store, "dedupe-store", "log", "how dedupe shares state through Redis: log (one write per batch, duplicates on the same partition) or claims (one write per reading, duplicates on any partition)")
	fs.DurationVar(&f.ttl, "dedupe-ttl", 10*time.Minute, "how long a reading_id is remembered")
	fs.IntVar(&f.capacity, "dedupe-cache", 200_000, "reading ids the in-process dedupe cache holds per input partition")
	fs.DurationVar(&f.maxFuture, "max-future", 5*time.Minute, "readings timestamped further ahead of now are invalid")
	fs.DurationVar(&f.maxPast, "max-past", 7*24*time.Hour, "readings timestamped further back are invalid")
}

func (f *dedupeFlags) validate() error {
	if f.store != "log" && f.store != "claims" {
		return fmt.Errorf("%w: --dedupe-store %q (want log or claims)", errUsage, f.store)
	}
	return nil
}

func (f *dedupeFlags) config(d *deps, rdb redis.UniversalClient) dedupe.Config {
	cfg := dedupe.Config{
		TTL: f.ttl, LocalCapacity: f.capacity, MaxFuture: f.maxFuture, MaxPast: f.maxPast,
		CleanTopic: d.topics.Clean, Registerer: d.reg, Logger: d.log.With("stage", "dedupe"),
	}
	if rdb != nil {
		if f.store == "claims" {
			cfg.Claims = redisstore.NewClaimStore(rdb, f.redisPrefix+"dedupe:id:")
		} else {
			cfg.Log = redisstore.NewLogStore(rdb, f.redisPrefix+"dedupe:log:")
		}
	}
	return cfg
}

// featureFlags configure the features stage.
type featureFlags struct {
	windows        string
	lateness, idle time.Duration
	bands, workers int
	spectral       listFlag
}

func (f *featureFlags) register(fs *flagSet) {
	fs.StringVar(&f.windows, "windows", "60s", "feature windows: SIZE (tumbling), SIZE/HOP (hopping) or count:N")
	fs.DurationVar(&f.lateness, "lateness", 10*time.Second, "how far behind its partition's latest event time a reading may arrive and still count")
	fs.DurationVar(&f.idle, "idle-timeout", 30*time.Second, "close a partition's open windows after this long without input (processing time)")
	fs.IntVar(&f.bands, "bands", 8, "spectral band energies per window for vibration and acoustic sensors")
	fs.IntVar(&f.workers, "feature-workers", 0, "goroutines that compute the windows closing together (0: one per CPU)")
	f.spectral = listFlag{"vibration", "acoustic"}
	fs.Var(&f.spectral, "spectral-types", "sensor types that get spectral band energies")
}

func (f *featureFlags) config(d *deps) (features.Config, error) {
	cfg := features.Config{Lateness: f.lateness, IdleTimeout: f.idle, Bands: f.bands, SpectralTypes: f.spectral, Workers: f.workers,
		FeaturesTopic: d.topics.Features, LateTopic: d.topics.Late, Registerer: d.reg, Logger: d.log.With("stage", "features")}
	if err := features.ParseWindows(f.windows, &cfg); err != nil {
		return cfg, fmt.Errorf("--windows: %w", err)
	}
	if f.lateness == 0 {
		cfg.Lateness = time.Microsecond // 0 means "default" to the stage
	}
	return cfg, nil
}

// scoreFlags configure the score stage.
type scoreFlags struct {
	models     string
	thresholds listFlag
	threshold  float64
	z0         float64
}

func (f *scoreFlags) register(fs *flagSet) {
	fs.StringVar(&f.models, "models", "", "model store (file:///dir): each sensor type with an Isolation Forest there (iforest-<type>) is scored by its latest version; others by the adaptive detector")
	fs.Var(&f.thresholds, "thresholds", "anomaly thresholds per sensor type, TYPE=SCORE[,TYPE=SCORE...]")
	fs.Float64Var(&f.threshold, "threshold", 0.5, "anomaly threshold for the other sensor types")
	fs.Float64Var(&f.z0, "deviation", 4.5, "adaptive detector: deviation, in a sensor's typical spreads, that scores 0.5")
}

func (f *scoreFlags) config(ctx context.Context, d *deps) (score.Config, error) {
	cfg := score.Config{DefaultThreshold: f.threshold, Thresholds: map[string]float64{}, Models: map[string]*score.IForest{},
		Adaptive: score.AdaptiveConfig{Z0: f.z0}, ScoresTopic: d.topics.Scores, Registerer: d.reg, Logger: d.log.With("stage", "score")}
	for _, kv := range f.thresholds {
		typ, v, ok := strings.Cut(kv, "=")
		th, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || typ == "" {
			return cfg, fmt.Errorf("%w: --thresholds %q: want TYPE=SCORE", errUsage, kv)
		}
		cfg.Thresholds[typ] = th
	}
	if f.models != "" {
		st, err := score.OpenModelStore(f.models)
		if err != nil {
			return cfg, fmt.Errorf("%w: --models: %v", errUsage, err)
		}
		for _, typ := range []string{"temperature", "vibration", "pressure", "current", "acoustic", "humidity"} {
			uri, err := st.Latest(ctx, "iforest-"+typ)
			if err != nil {
				continue // no model for this type: the adaptive detector scores it
			}
			m, err := score.LoadIForest(ctx, st, uri, "")
			if err != nil {
				return cfg, fmt.Errorf("--models: %w", err)
			}
			cfg.Models[typ] = m
			d.log.Info("model loaded", "model", m.Model, "version", m.Version, "uri", uri)
		}
	}
	return cfg, nil
}

// driftFlags configure the drift stage.
type driftFlags struct {
	window, cooldown time.Duration
	alpha, psi       float64
	maxConcurrent    int
}

func (f *driftFlags) register(fs *flagSet) {
	fs.DurationVar(&f.window, "drift-window", 5*time.Minute, "drift: each window of raw values is compared with the one before")
	fs.Float64Var(&f.alpha, "drift-alpha", 0.01, "drift: KS p-value below which the distributions differ")
	fs.Float64Var(&f.psi, "drift-psi", 0.2, "drift: PSI at or above which the distributions differ")
	fs.DurationVar(&f.cooldown, "retrain-cooldown", 6*time.Hour, "drift: at most one retrain request per model scope per cooldown")
	fs.IntVar(&f.maxConcurrent, "retrain-max", 2, "drift: model scopes that may have a retrain request out at once")
}

func (f *driftFlags) config(d *deps) drift.Config {
	return drift.Config{Window: f.window, Alpha: f.alpha, PSIThreshold: f.psi, Cooldown: f.cooldown, MaxConcurrent: f.maxConcurrent,
		DriftTopic: d.topics.Drift, RetrainTopic: d.topics.Retrain, Registerer: d.reg, Logger: d.log.With("stage", "drift")}
}

// alertFlags configure the alert stage and its notifiers.
type alertFlags struct {
	k, m, quiet        int
	actions            string
	webhook            string
	smtpAddr, smtpFrom string
	smtpTo             listFlag
	smtpUser, smtpPass string
}

func (f *alertFlags) register(fs *flagSet) {
	fs.IntVar(&f.k, "alert-k", 2, "open an alert when K ...")
	fs.IntVar(&f.m, "alert-m", 3, "... of a sensor's last M windows are anomalous")
	fs.IntVar(&f.quiet, "alert-quiet", 5, "resolve an alert after this many normal windows in a row")
	fs.StringVar(&f.actions, "actions", "", "JSON file of recommended-action rules, tried before the built-in ones")
	fs.StringVar(&f.webhook, "webhook", "", "POST alerts (Slack-compatible JSON) to this URL")
	fs.StringVar(&f.smtpAddr, "smtp-addr", "", "mail alerts through this SMTP server (host:port)")
	fs.StringVar(&f.smtpFrom, "smtp-from", "smaint@localhost", "mail sender")
	fs.Var(&f.smtpTo, "smtp-to", "mail recipients, comma-separated")
	fs.StringVar(&f.smtpUser, "smtp-user", "", "SMTP user (PLAIN auth)")
	fs.StringVar(&f.smtpPass, "smtp-password", "", "SMTP password")
}

func (f *alertFlags) config(d *deps) (alert.Config, *notify.Dispatcher, error) {
	cfg := alert.Config{K: f.k, M: f.m, Quiet: f.quiet, AlertsTopic: d.topics.Alerts, Registerer: d.reg, Logger: d.log.With("stage", "alert")}
	if f.actions != "" {
		rules, err := alert.LoadActions(f.actions)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Actions = rules
	}
	var ns []notify.Notifier
	if f.webhook != "" {
		if !strings.HasPrefix(f.webhook, "http://") && !strings.HasPrefix(f.webhook, "https://") {
			return cfg, nil, fmt.Errorf("%w: --webhook %q is not an http(s) URL", errUsage, f.webhook)
		}
		ns = append(ns, &notify.Webhook{URL: f.webhook})
	}
	if f.smtpAddr != "" {
		if len(f.smtpTo) == 0 {
			return cfg, nil, fmt.Errorf("%w: --smtp-addr without --smtp-to", errUsage)
		}
		ns = append(ns, &notify.SMTP{Addr: f.smtpAddr, From: f.smtpFrom, To: f.smtpTo, User: f.smtpUser, Password: f.smtpPass})
	}
	if len(ns) == 0 {
		return cfg, nil, nil
	}
	disp := notify.NewDispatcher(notify.DispatcherConfig{Registerer: d.reg, Logger: d.log.With("component", "notify")}, ns...)
	cfg.Notify = disp.Enqueue
	return cfg, disp, nil
}
