package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/sinks/notify"
	"github.com/smaint/smaint/sinks/redisstore"
	"github.com/smaint/smaint/sinks/timescale"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/alert"
	"github.com/smaint/smaint/stages/dedupe"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/forecast"
	"github.com/smaint/smaint/stages/predict"
	"github.com/smaint/smaint/stages/score"
)

// settings are the stages' configuration as their flags set it, from
// stages.DefaultConfig (the one place a default is written; the flags show
// them), and the files the flags name.
type settings struct {
	stages.Config
	models    string  // the score stage's model store
	actions   string  // the alert stage's rules file
	limits    string  // the forecast stage's limits file
	attrs     string  // the predict stage's asset attributes file
	deviation float64 // the score stage's detector's Z0; 0: its default
}

// settingFlags register, per stage with settings, its flags.
var settingFlags = map[string]func(*flagSet, *settings){
	"dedupe": dedupeFlags, "features": featureFlags, "score": scoreFlags, "drift": driftFlags, "alert": alertFlags,
	"retrain": retrainFlags, "forecast": forecastFlags, "predict": predictFlags, "rul": rulFlags,
}

// newSettings registers the settings of specs.
func newSettings(fs *flagSet, specs []stages.Spec) *settings {
	set := &settings{Config: stages.DefaultConfig()}
	for _, s := range specs {
		if f := settingFlags[s.Name]; f != nil {
			f(fs, set)
		}
	}
	if slices.ContainsFunc(specs, func(s stages.Spec) bool {
		return s.Name == "score" || s.Name == "retrain" || s.Name == "predict" || s.Name == "rul"
	}) {
		fs.StringVar(&set.models, "models", "", modelsFlagHelp+". Each sensor type with an Isolation Forest there (iforest-<type>) is scored by its latest good version, then by the versions model.updates makes live; others by --detector. The retrain stage publishes to it; the predict stage loads its classifier from it")
	}
	return set
}

func dedupeFlags(fs *flagSet, set *settings) {
	c := &set.Dedupe
	fs.DurationVar(&c.TTL, "dedupe-ttl", c.TTL, "how long a reading_id is remembered")
	fs.IntVar(&c.LocalCapacity, "dedupe-cache", c.LocalCapacity, "reading ids the in-process dedupe cache holds per input partition")
	validationFlags(fs, c)
}

// validationFlags register what makes a reading valid: dedupe's rules,
// which the HTTP API also applies.
func validationFlags(fs *flagSet, c *dedupe.Config) {
	fs.DurationVar(&c.MaxFuture, "max-future", c.MaxFuture, "readings timestamped further ahead of now are invalid")
	fs.DurationVar(&c.MaxPast, "max-past", c.MaxPast, "readings timestamped further back are invalid")
	fs.IntVar(&c.MaxReadingBytes, "max-reading-bytes", c.MaxReadingBytes, "readings larger on Kafka (key and value) are invalid")
	fs.IntVar(&c.MaxFieldBytes, "max-field-bytes", c.MaxFieldBytes, "readings with a longer id, unit, tag key or tag value are invalid")
}

func featureFlags(fs *flagSet, set *settings) {
	c := &set.Features
	fs.Var(funcValue{func() string { return c.Windows() }, func(s string) error { return features.ParseWindows(s, c) }}, "windows", "feature windows: SIZE (tumbling), SIZE/HOP (hopping), count:N, or (backtest only) auto: sized from how often the sensors are read")
	fs.DurationVar(&c.Lateness, "lateness", c.Lateness, "how far behind its partition's latest event time a reading may arrive and still count")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close a partition's open windows after this long without input, once it is read to its end (processing time)")
	fs.IntVar(&c.Bands, "bands", c.Bands, "spectral band energies per window for the spectral types")
	fs.IntVar(&c.Workers, "feature-workers", c.Workers, "goroutines that compute the windows closing together: one per CPU unless set")
	fs.Var((*listFlag)(&c.SpectralTypes), "spectral-types", "sensor types that get spectral band energies")
}

func scoreFlags(fs *flagSet, set *settings) {
	c := &set.Score
	fs.Var(funcValue{func() string { return score.FormatThresholds(c.Thresholds) }, func(s string) (err error) {
		c.Thresholds, err = score.ParseThresholds(s)
		return err
	}}, "thresholds", "anomaly thresholds per sensor type, TYPE=SCORE[,TYPE=SCORE...]")
	fs.Float64Var(&c.DefaultThreshold, "threshold", c.DefaultThreshold, "anomaly threshold for the other sensor types")
	fs.StringVar(&c.Detector, "detector", c.Detector, "detector for the sensor types without a model: robust (windows against how the sensor's windows vary) or adaptive (the earlier one, kept to compare)")
	fs.Float64Var(&set.deviation, "deviation", 0, fmt.Sprintf("deviation that scores 0.5: robust, in the sensor's robust spreads between windows (default %g); adaptive, in its typical within-window spreads (default %g)", c.Robust.Z0, c.Adaptive.Z0))
	fs.Float64Var(&c.Robust.Noise, "noise-floor", c.Robust.Noise, "robust: a window mean must also move by this many typical within-window standard deviations to score 0.5")
	fs.Float64Var(&c.Robust.StepNoise, "noise-floor-step", c.Robust.StepNoise, "robust: the noise floor instead for a change that came at once (most of it within one window length), and for the incident's windows after it")
	fs.IntVar(&c.Robust.History, "baseline-windows", c.Robust.History, "robust: each sensor's baseline is its last this many normal windows")
	fs.DurationVar(&c.Robust.Season, "baseline-season", c.Robust.Season, "robust: period of the cycle learnt for each sensor (0: none); once learnt (two whole periods) and standing out of the noise, a window is judged against the same phase of it")
}

func driftFlags(fs *flagSet, set *settings) {
	c := &set.Drift
	fs.DurationVar(&c.Window, "drift-window", c.Window, "drift: each window of raw values is compared with the one before")
	fs.Float64Var(&c.Alpha, "drift-alpha", c.Alpha, "drift: KS p-value below which the distributions differ")
	fs.Float64Var(&c.PSIThreshold, "drift-psi", c.PSIThreshold, "drift: PSI at or above which the distributions differ")
	fs.IntVar(&c.MinValues, "drift-min-values", c.MinValues, "drift: values each of two windows needs to be compared (fewer: counted as sparse, said once)")
	fs.DurationVar(&c.Cooldown, "retrain-cooldown", c.Cooldown, "drift: at most one retrain request per model scope per cooldown")
	fs.IntVar(&c.MaxConcurrent, "retrain-max", c.MaxConcurrent, "drift: model scopes that may have a retrain request out at once")
}

func retrainFlags(fs *flagSet, set *settings) {
	c := &set.Retrain
	fs.IntVar(&c.After, "train-windows", c.After, "retrain: windows of the sensor type, from the request on, that a candidate trains and is judged on (the request waits for them)")
	fs.Float64Var(&c.Holdout, "train-holdout", c.Holdout, "retrain: share of those windows held out to judge the candidate and the current version")
	fs.Float64Var(&c.Tolerance, "train-tolerance", c.Tolerance, "retrain: how much higher than the current version's the candidate's false-alert rate on the held-out windows may be")
	fs.Float64Var(&c.MaxFalseAlerts, "train-max-false", c.MaxFalseAlerts, "retrain: the most of the held-out windows a candidate may flag; one that flags more is rejected")
	fs.Float64Var(&c.Shift, "train-shift", c.Shift, "retrain: a level change, in a window's own standard deviations, that the candidate must see ...")
	fs.Float64Var(&c.MinSensitivity, "train-min-sensitivity", c.MinSensitivity, "retrain: ... in at least this share of the held-out windows moved by it; a candidate that sees fewer is rejected")
	fs.Float64Var(&c.MinNormal, "train-min-normal", c.MinNormal, "retrain: the least share of a request's windows from sensors in no incident (ANOMALY, THRESHOLD or PREDICTED alert); fewer, and the request is rejected")
	fs.DurationVar(&c.Cooldown, "train-cooldown", c.Cooldown, "retrain: least event time between two trainings of a model; requests sooner are skipped")
	fs.IntVar(&c.MaxConcurrent, "train-concurrency", c.MaxConcurrent, "retrain: trainings run at once")
	fs.BoolVar(&c.Shadow, "train-shadow", c.Shadow, "retrain: publish candidates as shadow versions, scored beside the live one until smaint models promote makes one live")
	fs.IntVar(&c.Forest.Trees, "train-trees", c.Forest.Trees, "retrain: trees per forest")
}

func predictFlags(fs *flagSet, set *settings) {
	c := &set.Predict
	fs.StringVar(&c.Model, "predict-model", c.Model, "predict: the classifier's name in the model store (smaint train --labels stores gbdt-failure); its live version scores")
	fs.StringVar(&c.Feature, "predict-feature", c.Feature, "predict: the feature a classifier input named by a sensor type or id alone takes from its window (<type>.<feature> names one)")
	fs.IntVar(&c.Pending, "predict-pending", c.Pending, "predict: window starts of an asset that may wait at once for the rest of its sensors")
	fs.DurationVar(&c.Reload, "predict-reload", c.Reload, "predict: how often the model store is asked for a new live classifier")
	fs.StringVar(&set.attrs, "predict-attributes", "", "predict: JSON file of each asset's category inputs, {\"<asset id>\": {\"<input>\": \"<level>\"}} (a product type no sensor reports); without it they code as unseen")
}

func rulFlags(fs *flagSet, set *settings) {
	c := &set.RUL
	fs.StringVar(&c.Model, "rul-model", c.Model, "rul: the remaining-life model's name in the model store (smaint train --task rul stores gbdt-rul); its live version scores")
	fs.StringVar(&c.Feature, "rul-feature", c.Feature, "rul: the feature a channel named by a sensor type or id alone takes from its window")
	fs.DurationVar(&c.Reload, "rul-reload", c.Reload, "rul: how often the model store is asked for a new live model")
	fs.DurationVar(&c.RunGap, "rul-run-gap", c.RunGap, "rul: an asset that sends nothing for this long (a repair, a replacement) comes back on a new run (0: runs never end)")
}

func forecastFlags(fs *flagSet, set *settings) {
	c := &set.Forecast
	fs.StringVar(&set.limits, "limits", "", "JSON file of the sensors' failure limits, by sensor_id or sensor_type: a forecast foreseeing one crossed raises a PREDICTED alert")
	fs.DurationVar(&c.Horizon, "forecast-horizon", c.Horizon, "forecast: how far ahead forecasts look")
	fs.IntVar(&c.History, "forecast-history", c.History, "forecast: window lengths of a sensor's past the model is fitted on")
	fs.StringVar(&c.DefaultFeature, "forecast-feature", c.DefaultFeature, "forecast: feature forecast for sensors whose limit names none")
	fs.Var(funcValue{func() string { return fmt.Sprintf("%g,%g", c.Slow.Alpha, c.Slow.T) }, func(s string) error {
		if _, err := fmt.Sscanf(s, "%g,%g", &c.Slow.Alpha, &c.Slow.T); err != nil {
			return fmt.Errorf("want ALPHA,T: %v", err)
		}
		return nil
	}}, "forecast-slow", "forecast: the usual model's ALPHA,T: level smoothing, and the t statistic of the history's slope at which it is projected")
	fs.Var(funcValue{func() string { return fmt.Sprintf("%g,%g,%g", c.Fast.Alpha, c.Fast.Beta, c.Fast.Phi) }, func(s string) error {
		if _, err := fmt.Sscanf(s, "%g,%g,%g", &c.Fast.Alpha, &c.Fast.Beta, &c.Fast.Phi); err != nil {
			return fmt.Errorf("want ALPHA,BETA,PHI: %v", err)
		}
		return nil
	}}, "forecast-fast", "forecast: the model used while the first keeps missing to one side: ALPHA,BETA,PHI")
	fs.Float64Var(&c.Bias, "forecast-trend-signal", c.Bias, "forecast: the fast model takes over when the mean of the slow one's last 5 one-step errors is this many noise standard deviations from zero")
	fs.DurationVar(&c.Season, "forecast-season", c.Season, "forecast: period of the cycle learnt for each sensor and forecast along (0: none); it is used once two whole periods are in and it stands out of the noise")
	fs.IntVar(&c.Slots, "forecast-slots", c.Slots, "forecast: parts of the period the cycle is learnt in")
}

func alertFlags(fs *flagSet, set *settings) {
	c := &set.Alert
	fs.IntVar(&c.K, "alert-k", c.K, "open an alert when K ...")
	fs.IntVar(&c.M, "alert-m", c.M, "... of a sensor's last M windows are anomalous (with hopping windows, K, M and the quiet count window lengths)")
	fs.IntVar(&c.Quiet, "alert-quiet", c.Quiet, "resolve an alert after this many normal windows in a row")
	fs.Float64Var(&c.DriftTypical, "drift-typical", c.DriftTypical, "a drifted report counts towards a DRIFT alert only if its KS statistic is this many times the median of the sensor's last 12 reports' (at least 1)")
	fs.IntVar(&c.PredictK, "predict-k", c.PredictK, "open a PREDICTED alert when this many forecasts in a row foresee the sensor's limit crossed")
	fs.StringVar(&set.actions, "actions", "", "JSON file of recommended-action rules, tried before the built-in ones")
}

// config returns the stages' configuration, with what its files hold,
// for a process that logs to log and exports metrics through d.
func (set *settings) config(ctx context.Context, d *deps) (stages.Config, error) {
	c := set.Config
	c.Registerer, c.Logger = d.reg, d.log
	c.Features.Lateness = latenessOf(c.Features.Lateness)
	if c.Forecast.Season == 0 { // --forecast-season 0: no cycle
		c.Forecast.Season = -1
	}
	if c.Score.Robust.Season == 0 { // --baseline-season 0: no cycle
		c.Score.Robust.Season = -1
	}
	if set.deviation != 0 {
		c.Score.Robust.Z0, c.Score.Adaptive.Z0 = set.deviation, set.deviation
	}
	if set.models != "" {
		store, err := openModelStore(ctx, set.models)
		if err != nil {
			return c, fmt.Errorf("%w: --models: %v", errUsage, err)
		}
		refused := func(model, version string, err error) {
			d.log.Warn("model version refused; the last good one is used", "model", model, "version", version, "err", err)
		}
		c.Models = store
		if c.Score.Models, err = score.LoadModels(ctx, store, nil, refused); err != nil {
			return c, fmt.Errorf("--models: %w", err)
		}
		for _, m := range c.Score.Models {
			d.log.Info("model loaded", "model", m.Model, "version", m.Version)
		}
	}
	if set.limits != "" {
		limits, err := forecast.LoadLimits(set.limits)
		if err != nil {
			return c, fmt.Errorf("--limits: %w", err)
		}
		c.Forecast.Limits = limits
	}
	if set.attrs != "" {
		attrs, err := predict.LoadAttributes(set.attrs)
		if err != nil {
			return c, fmt.Errorf("--predict-attributes: %w", err)
		}
		c.Predict.Attributes = attrs
	}
	if set.actions != "" {
		rules, err := alert.LoadActions(set.actions)
		if err != nil {
			return c, fmt.Errorf("--actions: %w", err)
		}
		c.Alert.Actions = rules
	}
	return c, nil
}

// clients say how run and demo reach what the stages use besides Kafka:
// Redis, the notifiers and the database.
type clients struct {
	redisURL, redisPrefix, dedupeStore string
	notify                             notify.Config
	db                                 dbFlags
	dbTimeout                          time.Duration
}

func (c *clients) register(fs *flagSet) {
	fs.StringVar(&c.redisURL, "redis", "", "Redis URL (redis:// or rediss://) for dedupe across instances and restarts; empty: dedupe in process only")
	fs.alias("redis", "REDIS_URL")
	fs.secret("redis")
	fs.StringVar(&c.redisPrefix, "redis-prefix", "", "prefix of every Redis key (default <group-prefix>smaint:); each deployment sharing a Redis needs its own")
	fs.StringVar(&c.dedupeStore, "dedupe-store", "log", "how dedupe shares state through Redis: log (one write per batch, duplicates on the same partition) or claims (one write per reading, duplicates on any partition)")
	fs.StringVar(&c.notify.Webhook, "webhook", "", "POST alerts (Slack-compatible JSON) to this URL (a secret when it holds a token, as Slack's do)")
	fs.secret("webhook")
	fs.StringVar(&c.notify.SMTP.Addr, "smtp-addr", "", "mail alerts through this SMTP server (host:port)")
	fs.StringVar(&c.notify.SMTP.From, "smtp-from", "smaint@localhost", "mail sender")
	fs.Var((*listFlag)(&c.notify.SMTP.To), "smtp-to", "mail recipients, comma-separated")
	fs.StringVar(&c.notify.SMTP.User, "smtp-user", "", "SMTP user (PLAIN auth)")
	fs.StringVar(&c.notify.SMTP.Password, "smtp-password", "", "SMTP password")
	fs.secret("smtp-password")
	c.db.register(fs)
	fs.DurationVar(&c.dbTimeout, "db-statement-timeout", timescale.DefaultStatementTimeout, "the sink's longest statement: a write blocked longer (a lock, a database that stopped answering) fails, shows in /readyz, and is retried")
}

func (c *clients) validate() error {
	if c.dedupeStore != "log" && c.dedupeStore != "claims" {
		return fmt.Errorf("%w: --dedupe-store %q (want log or claims)", errUsage, c.dedupeStore)
	}
	return nil
}

// wiring is what plugging the clients in added: services to run beside
// the stages, and what to close once they all stopped.
type wiring struct {
	services []pipeline.Service
	closers  []func()
}

func (w *wiring) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}

// connect plugs the clients into the stages' configuration cfg, for the
// stages that run: Redis into dedupe, the notifiers into alert, the
// database under the sinks (opened by the first sink built). The wiring
// grows as the stages are built.
func (c *clients) connect(ctx context.Context, cfg *stages.Config, d *deps, specs []stages.Spec) (*wiring, error) {
	runs := func(name string) bool {
		return slices.ContainsFunc(specs, func(s stages.Spec) bool { return s.Name == name })
	}
	w := &wiring{}
	if c.redisURL != "" {
		rdb, err := redisstore.Dial(ctx, c.redisURL, d.log)
		if err != nil {
			return nil, fmt.Errorf("%w: --redis: %v", errUsage, err)
		}
		w.closers = append(w.closers, func() { rdb.Close() })
		prefix := cmp.Or(c.redisPrefix, d.groupPrefix+"smaint:")
		if c.dedupeStore == "claims" {
			cfg.Dedupe.Claims = redisstore.NewClaimStore(rdb, prefix+"dedupe:id:")
		} else {
			cfg.Dedupe.Log = redisstore.NewLogStore(rdb, prefix+"dedupe:log:")
		}
	} else if runs("dedupe") {
		d.log.Warn("no --redis: dedupe is local to this process (duplicates across instances and restarts may pass)")
	}
	if ns := c.notify.Notifiers(); len(ns) > 0 && runs("alert") {
		if err := c.notify.Validate(); err != nil {
			w.close()
			return nil, err
		}
		disp := notify.NewDispatcher(notify.DispatcherConfig{Registerer: d.reg, Logger: d.log.With("component", "notify")}, ns...)
		cfg.Alert.Notify, w.services = disp.Enqueue, append(w.services, disp)
	}
	var sink timescale.Config
	cfg.Store = func(ctx context.Context, name, topic string) (pipeline.Node, error) {
		if sink.Pool == nil {
			pool, err := timescale.NewPool(ctx, c.db.url, "smaint-sink")
			if err != nil {
				return pipeline.Node{}, fmt.Errorf("--database-url: %w", err)
			}
			log := d.log.With("stage", "sink")
			sink = timescale.Config{Pool: pool, Registerer: d.reg, Logger: log, Health: d.health, StatementTimeout: c.dbTimeout}
			w.closers = append(w.closers, pool.Close)
			w.services = append(w.services, &timescale.Maintainer{Pool: pool, Logger: log, Registerer: d.reg, Health: d.health})
			log.Info("sink writes to the database", "database", timescale.Where(c.db.url))
		}
		return timescale.Node(name, topic, d.topics, sink)
	}
	return w, nil
}

// stageNames is the --stages usage's list.
func stageNames() string { return strings.Join(stages.Names(), ", ") }
