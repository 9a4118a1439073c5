package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/predict"
	"github.com/smaint/smaint/stages/score"
)

// TestPredictInTheStream: a classifier trained with smaint train
// --labels, on inputs named by sensor type, scores a simulated plant's
// assets in the stream. Every prediction's inputs are its asset's
// windows of that start, its probability is the classifier's own on
// them, and the sink stores each once.
func TestPredictInTheStream(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(8, 8))
	var b strings.Builder
	b.WriteString("temperature,vibration.std,overheat\n")
	for range 2000 {
		temp := 55 + 20*rng.Float64()
		hot := 0
		if temp > 65 {
			hot = 1
		}
		fmt.Fprintf(&b, "%.3f,%.3f,%d\n", temp, 2*rng.Float64(), hot)
	}
	models := "file://" + filepath.Join(dir, "models")
	clf := new(predict.Classifier)
	version := trained(t, models, "gbdt-failure", clf, "train", "--labels", "overheat", "--csv", writeFile(t, dir, "rows.csv", b.String()))

	pool, dbURL := testDatabase(t)
	if code, _, stderr := runCLI(t, ctx, "migrate", "--database-url", dbURL); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	admin := pipelinetest.Client(t, c.ListenAddrs())
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	if code, _, stderr := runCLI(t, ctx, "simulate", "--brokers", broker, "--assets", "3", "--types", "temperature,vibration", "--rate", "0",
		"--start", start.Format(time.RFC3339), "--span", "20m", "--scenarios", "none", "--seed", "4"); code != 0 {
		t.Fatalf("simulate: %s", stderr)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan string, 1)
	go func() {
		code, _, stderr := runCLI(t, rctx, "run", "--brokers", broker, "--stages", "dedupe,features,byasset,predict,sink", "--models", models,
			"--database-url", dbURL, "--http", "127.0.0.1:0", "--log-level", "warn")
		done <- fmt.Sprintf("exit %d: %s", code, stderr)
	}()
	topics := pipeline.DefaultTopics()
	pipelinetest.WaitCommitted(t, admin, "smaint-predict", topics.AssetFeatures)
	pipelinetest.WaitCommitted(t, admin, "smaint-sink-predictions", topics.Predictions)
	stop()
	if res := <-done; !strings.HasPrefix(res, "exit 0") {
		t.Fatalf("run: %s", res)
	}

	windows := map[string]schemas.FeatureVector{} // asset/type/start
	for _, fv := range decodeAll[schemas.FeatureVector](t, c.ListenAddrs(), topics.Features) {
		windows[fv.AssetID+"/"+fv.SensorType+"/"+fv.WindowStart.String()] = fv
	}
	preds := decodeAll[schemas.Prediction](t, c.ListenAddrs(), topics.Predictions)
	if len(preds) < 3*15 {
		t.Fatalf("%d predictions for 3 assets over 20 minutes of 60 s windows", len(preds))
	}
	hot := 0
	for _, p := range preds {
		temp, vib := windows[p.AssetID+"/temperature/"+p.WindowStart.String()], windows[p.AssetID+"/vibration/"+p.WindowStart.String()]
		if p.Inputs["temperature"] != temp.Mean || p.Inputs["vibration.std"] != vib.Std || temp.Count == 0 || vib.Count == 0 {
			t.Fatalf("%s at %s: inputs %v, windows temperature mean %v, vibration std %v", p.AssetID, p.WindowStart, p.Inputs, temp.Mean, vib.Std)
		}
		x, missing := clf.Vector(p.Inputs, nil)
		if want := clf.Probabilities(x)[0]; len(missing) > 0 || p.Probabilities["overheat"] != want || p.ModelVersion != version {
			t.Fatalf("%s at %s: %+v; the classifier says %v", p.AssetID, p.WindowStart, p, want)
		}
		if len(p.Predicted()) > 0 {
			hot++
		}
	}
	t.Logf("%d predictions, %d of them overheating (the plant runs at about 65 C)", len(preds), hot)
	pythonReadsPredictions(t, ctx, broker, preds)
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM asset_predictions`).Scan(&stored); err != nil || stored != len(preds) {
		t.Errorf("asset_predictions holds %d rows, want %d (%v)", stored, len(preds), err)
	}
}

// TestRULInTheStreamAcrossARestart: a remaining-life model trained with
// smaint train --task rul scores the assets' windows in the stream, one
// window per cycle; stopped halfway and started again, the stage gets
// each run's start back from its state topic, and every prediction is
// the model's own on the run up to that window, as smaint evaluate
// makes it. A repair recorded with smaint maintenance while the stage
// was down, and a replacement recorded while it runs, end their assets'
// runs there; an inspection ends none.
func TestRULInTheStreamAcrossARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 9))
	// A unit's wear climbs ever faster to its failure; noise says nothing.
	unit := func(life, rows int) [][2]float64 {
		out := make([][2]float64, rows)
		for c := range out {
			out[c] = [2]float64{5 + 3*math.Exp(float64(c+1-life)/40) + 0.05*rng.NormFloat64(), rng.NormFloat64()}
		}
		return out
	}
	var b strings.Builder
	b.WriteString("unit,cycle,wear,noise\n")
	for u := range 30 {
		life := 120 + rng.IntN(120)
		for c, v := range unit(life, life) {
			fmt.Fprintf(&b, "%d,%d,%g,%g\n", u, c+1, v[0], v[1])
		}
	}
	models := "file://" + filepath.Join(dir, "models")
	m := new(predict.RUL)
	trained(t, models, "gbdt-rul", m, "train", "--task", "rul", "--csv", writeFile(t, dir, "runs.csv", b.String()), "--trees", "60")

	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	admin := pipelinetest.Client(t, c.ListenAddrs())
	topics := pipeline.DefaultTopics()
	pipelinetest.CreateTopic(t, admin, 3, topics.Features)
	pool, dbURL := testDatabase(t) // the sink stores the maintenance records
	if code, _, stderr := runCLI(t, ctx, "migrate", "--database-url", dbURL); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	enc, err := schemas.NewSerde().NewEncoder(ctx, schemas.FeatureVectorSchema, "")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	units := map[string][][2]float64{"e1": unit(150, 110), "e2": unit(200, 90), "e3": unit(130, 120)}
	produce := func(from, to int) {
		var recs []*kgo.Record
		for _, id := range []string{"e1", "e2", "e3"} {
			for c := from; c < min(to, len(units[id])); c++ {
				at := t0.Add(time.Duration(c) * time.Minute)
				for k, ch := range []string{"wear", "noise"} {
					fv := &schemas.FeatureVector{SensorID: id + "-" + ch, AssetID: id, SensorType: ch, WindowStart: at, WindowEnd: at.Add(time.Minute),
						Count: 1, Mean: units[id][c][k]}
					v, err := enc.Append(nil, fv)
					if err != nil {
						t.Fatal(err)
					}
					recs = append(recs, &kgo.Record{Topic: topics.Features, Key: []byte(fv.SensorID), Value: v})
				}
			}
		}
		pipelinetest.Produce(t, admin, recs...)
	}
	// The rul stage commits no further than the runs' retained rows, so
	// wait for its predictions instead of its commit.
	// run starts the stages, calls during while they run, and stops
	// them once want predictions are out.
	run := func(want int, during func(addr string)) {
		t.Helper()
		rctx, stop := context.WithCancel(ctx)
		done := make(chan string, 1)
		addr := pipelinetest.FreeAddr(t)
		go func() {
			code, _, stderr := runCLI(t, rctx, "run", "--brokers", broker, "--stages", "byasset,rul,sink", "--models", models,
				"--database-url", dbURL, "--http", addr, "--log-level", "warn")
			done <- fmt.Sprintf("exit %d: %s", code, stderr)
		}()
		during(addr)
		pipelinetest.WaitCommitted(t, admin, "smaint-byasset", topics.Features)
		pipelinetest.Eventually(t, "the predictions", func() bool {
			return len(pipelinetest.ReadCommitted(t, c.ListenAddrs(), topics.Predictions)) >= want
		})
		pipelinetest.WaitCommitted(t, admin, "smaint-sink-predictions", topics.Predictions)
		stop()
		if res := <-done; !strings.HasPrefix(res, "exit 0") {
			t.Fatalf("run: %s", res)
		}
	}
	produce(0, 60)
	run(3*59, func(string) {})
	if n := len(pipelinetest.ReadCommitted(t, c.ListenAddrs(), topics.RULState)); n != 3 {
		t.Fatalf("%d state entries after the first run, want one per engine", n)
	}
	// Between the runs, e2 is repaired at cycle 71 without going off line,
	// and an inspection of e3 is recorded: from cycle 71 on, e2 is on a
	// new run (the stage reads the repair at its start); e3 is not. While
	// the second run goes, before the rest of the windows come, e1's part
	// is replaced at cycle 91: from then on, e1 is on a new run too.
	record := func(args ...string) {
		t.Helper()
		if code, out, errOut := runCLI(t, ctx, append([]string{"maintenance", "--brokers", broker}, args...)...); code != 0 || !strings.Contains(out, "recorded on asset.maintenance") {
			t.Fatalf("maintenance %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	record("--asset", "e2", "--action", "repair", "--renews", "--at", t0.Add(70*time.Minute).Format(time.RFC3339))
	// The command created the topic keeping its records however old.
	if cfgs, err := kadm.NewClient(admin).DescribeTopicConfigs(ctx, topics.Maintenance); err != nil {
		t.Fatal(err)
	} else if rc, err := cfgs.On(topics.Maintenance, nil); err != nil || !slices.ContainsFunc(rc.Configs, func(c kadm.Config) bool {
		return c.Key == "retention.ms" && c.Value != nil && *c.Value == "-1"
	}) {
		t.Fatalf("%s configs %+v (%v), want retention.ms -1", topics.Maintenance, rc.Configs, err)
	}
	record("--asset", "e3", "--action", "inspection", "--at", t0.Add(70*time.Minute).Format(time.RFC3339), "--keeps-life")
	// A record no Maintenance decodes from is skipped, and the rest taken.
	pipelinetest.Produce(t, admin, &kgo.Record{Topic: topics.Maintenance, Key: []byte("e1"), Value: []byte("repaired e1 yesterday")})
	taken := func(addr string, renews bool, n int) func() bool {
		line := fmt.Sprintf(`smaint_predictions_maintenance_total{renews="%t",task="rul"} %d`, renews, n)
		return func() bool { return strings.Contains(httpGet(t, "http://"+addr+"/metrics"), line) }
	}
	run(110+90+120-3, func(addr string) {
		pipelinetest.Eventually(t, "the stage to read the repair and the inspection", func() bool { return taken(addr, true, 1)() && taken(addr, false, 1)() })
		record("--asset", "e1", "--action", "replacement", "--renews", "--at", t0.Add(90*time.Minute).Format(time.RFC3339), "--note", "bearing")
		pipelinetest.Eventually(t, "the stage to take the replacement", taken(addr, true, 2))
		produce(60, 200)
		pipelinetest.WaitCommitted(t, admin, "smaint-sink-maintenance", topics.Maintenance)
	})
	// The sink stored the three records, and dead-lettered the one that
	// is not a record.
	var stored, renewing int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE renews) FROM asset_maintenance`).Scan(&stored, &renewing); err != nil || stored != 3 || renewing != 2 {
		t.Errorf("asset_maintenance holds %d records, %d renewing (%v); want 3, 2", stored, renewing, err)
	}
	// Nor did the sink refuse remaining lives (it once did, for their
	// lack of probabilities): it stored every one.
	letters := map[string][]string{}
	for _, r := range pipelinetest.ReadCommitted(t, c.ListenAddrs(), topics.DLQ) {
		for _, h := range r.Headers {
			if h.Key == pipeline.HeaderSourceTopic {
				letters[string(h.Value)] = append(letters[string(h.Value)], string(r.Value))
			}
		}
	}
	if l := letters[topics.Maintenance]; len(l) != 1 || l[0] != "repaired e1 yesterday" || len(letters[topics.Predictions]) != 0 {
		t.Errorf("dead letters from %s: %q, want the one unreadable record; from %s: %d, want none", topics.Maintenance, l, topics.Predictions, len(letters[topics.Predictions]))
	}

	preds := decodeAll[schemas.Prediction](t, c.ListenAddrs(), topics.Predictions)
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM asset_predictions WHERE remaining_life IS NOT NULL`).Scan(&stored); err != nil || stored != len(preds) {
		t.Errorf("asset_predictions holds %d remaining lives, the topic %d (%v)", stored, len(preds), err)
	}
	seen := map[string]int{}
	for _, p := range preds {
		rows := units[p.AssetID]
		i := int(p.WindowStart.Sub(t0) / time.Minute)
		r := predict.Run{Unit: p.AssetID}
		first := 0
		switch {
		case p.AssetID == "e2" && i >= 70:
			first = 70 // the repair's new run
		case p.AssetID == "e1" && i >= 90:
			first = 90 // the replacement's
		}
		for c := first; c <= i; c++ {
			r.Times = append(r.Times, float64(c-first+1))
			r.Values = append(r.Values, []float64{rows[c][0], rows[c][1]})
		}
		lo, hi := m.Interval(r)
		if want := m.Predict(r); p.RemainingLife != want || p.RemainingLower != lo || p.RemainingUpper != hi {
			t.Errorf("%s at cycle %d: %v [%v, %v]; offline %v [%v, %v]", p.AssetID, i+1, p.RemainingLife, p.RemainingLower, p.RemainingUpper, want, lo, hi)
		}
		seen[p.AssetID]++
	}
	for id, rows := range units {
		// The last window of each engine's sensors may still wait for its
		// sibling when the run stops: at most one short.
		if n := seen[id]; n < len(rows)-1 || n > len(rows) {
			t.Errorf("%s: %d predictions for %d cycles", id, n, len(rows))
		}
	}
}

// trained runs smaint with args and --models models, then reads the live
// version of model name from the store into model, and returns the
// version.
func trained(t *testing.T, models, name string, model any, args ...string) string {
	t.Helper()
	ctx := context.Background()
	if code, out, errOut := runCLI(t, ctx, append(args, "--models", models)...); code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	store, err := openModelStore(ctx, models)
	if err != nil {
		t.Fatal(err)
	}
	man, raw, err := score.LiveArtifact(ctx, store, name)
	if err != nil || json.Unmarshal(raw, model) != nil {
		t.Fatalf("the stored %s: %v", name, err)
	}
	return man.Version
}

// pythonReadsPredictions reads asset.predictions with Python's
// confluent-kafka and avro, through the example consumer and the schema
// smaint schemas print gives, as a service in another language would:
// every record, keyed by its asset, with the probabilities Go decoded.
func pythonReadsPredictions(t *testing.T, ctx context.Context, broker string, preds []schemas.Prediction) {
	t.Helper()
	py := pipelinetest.Python(t, "confluent_kafka", "avro")
	code, schema, stderr := runCLI(t, ctx, "schemas", "print", "Prediction")
	if code != 0 {
		t.Fatalf("schemas print: %s", stderr)
	}
	file := writeFile(t, t.TempDir(), "prediction.avsc", schema)
	cmd := exec.Command(py, "../../deploy/clients/python/consume.py", "--brokers", broker, "--topic", pipeline.DefaultTopics().Predictions,
		"--schema", file, "--until-end")
	var errs bytes.Buffer
	cmd.Stderr = &errs
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("consume.py: %v\n%s", err, errs.String())
	}
	want := map[string]float64{} // asset/window start: the overheat probability
	for _, p := range preds {
		want[p.AssetID+"/"+p.WindowStart.UTC().Format(time.RFC3339)] = p.Probabilities["overheat"]
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(preds) {
		t.Fatalf("Python read %d predictions, Go %d", len(lines), len(preds))
	}
	for _, l := range lines {
		var r struct {
			Key   string `json:"key"`
			Value struct {
				AssetID       string             `json:"asset_id"`
				WindowStart   string             `json:"window_start"`
				Probabilities map[string]float64 `json:"probabilities"`
			} `json:"value"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("consume.py printed %q: %v", l, err)
		}
		start, err := time.Parse(time.RFC3339Nano, r.Value.WindowStart)
		if err != nil {
			t.Fatalf("window_start %q: %v", r.Value.WindowStart, err)
		}
		p, ok := want[r.Value.AssetID+"/"+start.UTC().Format(time.RFC3339)]
		if !ok || r.Key != r.Value.AssetID || r.Value.Probabilities["overheat"] != p {
			t.Fatalf("Python read %s; Go decoded probability %v (found %v)", l, p, ok)
		}
	}
}
