package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/s3store"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/predict"
	"github.com/smaint/smaint/stages/score"
)

// openModelStore opens a --models URI: file:///DIR, or s3://BUCKET[/PREFIX]
// with region, endpoint and path_style parameters.
func openModelStore(ctx context.Context, uri string) (score.ModelStore, error) {
	if strings.HasPrefix(uri, "s3://") {
		return s3store.Open(ctx, uri)
	}
	return score.OpenModelStore(uri)
}

// followModels, when the score stage runs with a model store, has it
// follow model.updates. What the topic held before the start is history:
// the live versions it made are what the store's live pointers say, and
// the stage starts with those (LoadModels); of it, only a shadow version
// still running is applied. Records after the start are applied as they
// come, by a watcher: the stage swaps in the versions made live, or
// shadowed, after checking them against the store.
func followModels(ctx context.Context, cfg *stages.Config, d *deps, specs []stages.Spec, w *wiring, opts []pipeline.Option, kopts []kgo.Opt) error {
	if cfg.Models == nil || !slices.ContainsFunc(specs, func(s stages.Spec) bool { return s.Name == "score" }) {
		return nil
	}
	dec := d.serde.NewDecoder()
	start := map[int32]int64{}                    // partition -> first offset not read at the start
	shadows := map[string]*schemas.ModelUpdated{} // model -> shadow announced after its last live version
	err := pipeline.ReadTopic(ctx, d.topics.ModelUpdates, true, func(r *kgo.Record) {
		start[r.Partition] = max(start[r.Partition], r.Offset+1)
		var u schemas.ModelUpdated
		if dec.Decode(ctx, r.Value, &u) != nil {
			return
		}
		switch {
		case u.Live():
			delete(shadows, u.ModelName)
		case u.Action == schemas.ModelShadow:
			shadows[u.ModelName] = &u
		}
	}, kopts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", d.topics.ModelUpdates, err)
	}
	var apply func(context.Context, *schemas.ModelUpdated)
	cfg.FollowModels = func(a func(context.Context, *schemas.ModelUpdated)) { apply = a }
	log := d.log.With("component", "model-updates")
	watcher, err := pipeline.NewWatcher(func(o *pipeline.Observed) {
		if o.Offset < start[o.Partition] {
			return // history, read above
		}
		var u schemas.ModelUpdated
		if err := dec.Decode(ctx, o.Value, &u); err != nil {
			log.Warn("unreadable record on model.updates, skipped", "partition", o.Partition, "offset", o.Offset, "err", err)
			return
		}
		if apply != nil {
			apply(ctx, &u)
		}
	}, []string{d.topics.ModelUpdates}, opts...)
	if err != nil {
		return err
	}
	w.services = append(w.services, pipeline.ServiceFunc(func(ctx context.Context) error {
		for _, u := range shadows {
			if apply != nil {
				apply(ctx, u)
			}
		}
		return watcher.Run(ctx)
	}))
	return nil
}

const modelsFlagHelp = "model store: file:///DIR, or s3://BUCKET[/PREFIX][?region=R&endpoint=URL&path_style=true] (credentials from the AWS environment, e.g. AWS_ACCESS_KEY_ID)"

func modelsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage:\n" +
		"  smaint models list --models URI [--model NAME] [--json]   list the store's models and versions\n" +
		"  smaint models promote --models URI --model NAME --version V --brokers ...   make a version live\n" +
		"  smaint models rollback --models URI --model NAME [--to V] --brokers ...     go back to the version live before\n\n" +
		"promote and rollback check the version in the store and announce it on model.updates, which the\n" +
		"score stage follows. Without --to, rollback takes the version that was live before the current one.\n" +
		"Each version is shown with its manifest and whether its artifact passes the\n" +
		"checks a load makes (checksum, format, stored where its manifest says).\n"
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if args[0] == "-h" || args[0] == "--help" { // where -h puts every command's usage
		fmt.Fprint(stderr, usage)
		return nil
	}
	switch args[0] {
	case "promote", "rollback":
		return modelsAnnounce(ctx, args[0], args[1:], stdout, stderr)
	case "list":
	default:
		return fmt.Errorf("%w: unknown models command %q\n\n%s", errUsage, args[0], usage)
	}
	fs := newFlagSet("models list", "Usage: smaint models list --models URI [--model NAME] [--json]\n", stderr)
	var (
		uri, only string
		jsonOut   bool
	)
	fs.StringVar(&uri, "models", "", modelsFlagHelp)
	fs.StringVar(&only, "model", "", "list this model only")
	fs.BoolVar(&jsonOut, "json", false, "print one JSON object per version")
	if err := fs.parse(args[1:]); err != nil {
		return err
	}
	if uri == "" {
		return fmt.Errorf("%w: --models is required", errUsage)
	}
	st, err := openModelStore(ctx, uri)
	if err != nil {
		return fmt.Errorf("%w: --models: %v", errUsage, err)
	}
	names := []string{only}
	if only == "" {
		if names, err = st.Models(ctx); err != nil {
			return err
		}
	}
	type row struct {
		score.Manifest
		URI     string `json:"uri"`
		Live    bool   `json:"live"`
		Problem string `json:"problem,omitempty"`
	}
	enc := json.NewEncoder(stdout)
	for _, name := range names {
		vs, err := st.Versions(ctx, name)
		if errors.Is(err, score.ErrNoModel) {
			continue
		}
		if err != nil {
			return err
		}
		live, err := st.Live(ctx, name)
		if err != nil {
			return err
		}
		for _, v := range vs {
			r := row{URI: v.URI, Live: v.Version == live}
			man, err := checkStored(ctx, st, name, v)
			r.Manifest = man
			r.Name, r.Version = name, v.Version // where it is stored
			if err != nil {
				r.Problem = err.Error()
			}
			if jsonOut {
				if err := enc.Encode(r); err != nil {
					return err
				}
				continue
			}
			status := "ok"
			if r.Live {
				status = "ok, live"
			}
			if r.Problem != "" {
				status = "REFUSED: " + r.Problem
			}
			fmt.Fprintf(stdout, "%-22s %-18s created %s  %s  %s\n", r.Name, r.Version, r.CreatedAt.Format("2006-01-02T15:04Z"), trainedOn(r.Manifest), status)
		}
	}
	return nil
}

// trainedOn says what a version was trained on: the span of windows of
// a model the stream trained, or the metrics of one trained from
// a file (smaint train --task rul or --labels), which has no span.
func trainedOn(m score.Manifest) string {
	if !m.TrainedFrom.IsZero() || m.Metrics["windows"] > 0 {
		return fmt.Sprintf("trained %s..%s  windows %g", m.TrainedFrom.Format("2006-01-02T15:04Z"), m.TrainedTo.Format("2006-01-02T15:04Z"), m.Metrics["windows"])
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m.Metrics)) {
		out = append(out, fmt.Sprintf("%s %.3g", k, m.Metrics[k]))
	}
	return "from a file (" + m.Detector + "): " + strings.Join(out, ", ")
}

// checkStored reads version v of model and checks it as the stage that
// would load it does: a failure classifier or remaining-life model
// (manifest detector gbdt-failure, gbdt-rul) as the predict stage, any
// other as an Isolation Forest.
func checkStored(ctx context.Context, st score.ModelStore, model string, v score.StoredVersion) (score.Manifest, error) {
	man, b, err := score.VersionArtifact(ctx, st, model, v)
	if err != nil {
		return man, err
	}
	var m interface{ Check() error }
	switch man.Detector {
	case "gbdt-failure":
		m = new(predict.Classifier)
	case "gbdt-rul":
		m = new(predict.RUL)
	default:
		_, man, err = score.LoadVersion(ctx, st, model, v)
		return man, err
	}
	if err := json.Unmarshal(b, m); err != nil {
		return man, fmt.Errorf("%s: %w: %v", v.URI, score.ErrCorrupt, err)
	}
	return man, m.Check()
}

// retrainCmd is run --stages retrain: the retrain worker on its own.
func retrainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	for _, a := range args {
		if a == "--stages" || a == "-stages" || strings.HasPrefix(a, "--stages=") || strings.HasPrefix(a, "-stages=") {
			return fmt.Errorf("%w: smaint retrain runs the retrain stage only; use smaint run --stages for others", errUsage)
		}
	}
	return runCmd(ctx, append([]string{"--stages", "retrain"}, args...), stdout, stderr)
}

// modelsAnnounce is models promote and models rollback.
func modelsAnnounce(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models "+verb, "Usage: smaint models "+verb+" --models URI --model NAME [--version V | --to V] --brokers HOST:PORT [flags]\n", stderr)
	var (
		kf               kafkaFlags
		lf               logFlags
		uri, model, want string
	)
	kf.register(fs)
	lf.register(fs, "warn")
	fs.StringVar(&uri, "models", "", modelsFlagHelp)
	fs.StringVar(&model, "model", "", "the model, e.g. iforest-vibration")
	if verb == "promote" {
		fs.StringVar(&want, "version", "", "the version to make live")
	} else {
		fs.StringVar(&want, "to", "", "the version to go back to (default: the one live before the current one)")
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	switch {
	case uri == "" || model == "":
		return fmt.Errorf("%w: --models and --model are required", errUsage)
	case verb == "promote" && want == "":
		return fmt.Errorf("%w: --version is required", errUsage)
	}
	if err := kf.validate(); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	st, err := openModelStore(ctx, uri)
	if err != nil {
		return fmt.Errorf("%w: --models: %v", errUsage, err)
	}
	d, opts, err := kf.connect(log)
	if err != nil {
		return err
	}
	action := schemas.ModelPromoted
	if verb == "rollback" {
		action = schemas.ModelRolledBack
		if want == "" {
			if want, err = liveBefore(ctx, &kf, d, model); err != nil {
				return err
			}
		}
	}
	vs, err := st.Versions(ctx, model)
	if err != nil {
		return fmt.Errorf("%s: %w", model, err)
	}
	i := slices.IndexFunc(vs, func(v score.StoredVersion) bool { return v.Version == want })
	if i < 0 {
		return fmt.Errorf("%s has no version %s in %s", model, want, uri)
	}
	man, err := checkStored(ctx, st, model, vs[i])
	if err != nil {
		return fmt.Errorf("%s %s cannot be made live: %w", model, want, err)
	}
	b, err := st.Get(ctx, vs[i].URI)
	if err != nil {
		return err
	}
	if err := st.SetLive(ctx, model, want); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	u := &schemas.ModelUpdated{ModelName: model, Version: want, URI: vs[i].URI, SHA256: hex.EncodeToString(sum[:]), TrainedAt: man.CreatedAt,
		TrainFrom: man.TrainedFrom, TrainUntil: man.TrainedTo, Metrics: man.Metrics, Action: action, Reason: verb + " by an operator (smaint models " + verb + ")"}
	p, err := pipeline.NewProducer(opts...)
	if err != nil {
		return err
	}
	defer p.Close()
	out := pipeline.NewOutput[*schemas.ModelUpdated](d.topics.ModelUpdates)
	if err := p.Bind(ctx, out); err != nil {
		return err
	}
	if err := pipeline.Send(ctx, p, out, model, u); err != nil {
		return err
	}
	if err := p.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s: %s, announced on %s\n", model, want, action, d.topics.ModelUpdates)
	return nil
}

// liveBefore returns the version of model that model.updates made live
// before the current one.
func liveBefore(ctx context.Context, kf *kafkaFlags, d *deps, model string) (string, error) {
	kopts, err := kf.cfg.Opts()
	if err != nil {
		return "", err
	}
	dec := d.serde.NewDecoder()
	var live []string
	err = pipeline.ReadTopic(ctx, d.topics.ModelUpdates, true, func(r *kgo.Record) {
		var u schemas.ModelUpdated
		if dec.Decode(ctx, r.Value, &u) == nil && u.ModelName == model && u.Live() && (len(live) == 0 || live[len(live)-1] != u.Version) {
			live = append(live, u.Version)
		}
	}, kopts...)
	if err != nil {
		return "", err
	}
	if len(live) < 2 {
		return "", fmt.Errorf("%w: model.updates made %d version(s) of %s live; give --to VERSION", errUsage, len(live), model)
	}
	return live[len(live)-2], nil
}
