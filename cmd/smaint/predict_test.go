package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if code, out, errOut := runCLI(t, ctx, "train", "--labels", "overheat", "--csv", writeFile(t, dir, "rows.csv", b.String()), "--models", models); code != 0 {
		t.Fatalf("train: exit %d\n%s%s", code, out, errOut)
	}
	store, err := openModelStore(ctx, models)
	if err != nil {
		t.Fatal(err)
	}
	man, raw, err := score.LiveArtifact(ctx, store, "gbdt-failure")
	clf := new(predict.Classifier)
	if err != nil || json.Unmarshal(raw, clf) != nil {
		t.Fatalf("the stored classifier: %v", err)
	}

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
		if want := clf.Probabilities(x)[0]; len(missing) > 0 || p.Probabilities["overheat"] != want || p.ModelVersion != man.Version {
			t.Fatalf("%s at %s: %+v; the classifier says %v", p.AssetID, p.WindowStart, p, want)
		}
		if len(p.Predicted()) > 0 {
			hot++
		}
	}
	t.Logf("%d predictions, %d of them overheating (the plant runs at about 65 C)", len(preds), hot)
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM asset_predictions`).Scan(&stored); err != nil || stored != len(preds) {
		t.Errorf("asset_predictions holds %d rows, want %d (%v)", stored, len(preds), err)
	}
}
