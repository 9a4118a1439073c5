package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/score"
)

// TestModelLoop drives the loop on kfake, PostgreSQL and an in-process
// S3 (gofakes3): a drifting pressure sensor makes the drift stage ask
// for a retrain; the retrain stage trains on the windows after the
// request and publishes to the store; the score stage, following
// model.updates, swaps the version in. Readings sent after the swap are
// scored by the new version where it knows the sensor (the robust
// detector elsewhere), every window exactly once, and each sensor never
// goes back to the old scoring once it has switched.
func TestModelLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	ctx := context.Background()
	s3 := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server())
	defer s3.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	models := "s3://models/loop?endpoint=" + s3.URL + "&path_style=true"

	pool, dbURL := testDatabase(t)
	if code, _, stderr := runCLI(t, ctx, "migrate", "--database-url", dbURL); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	admin := pipelinetest.Client(t, c.ListenAddrs())
	start := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour) // within dedupe's --max-past
	simulate := func(from time.Time, span, scenarios string, seed int) {
		t.Helper()
		if code, _, stderr := runCLI(t, ctx, "simulate", "--brokers", broker, "--assets", "4", "--types", "pressure", "--rate", "0",
			"--start", from.Format(time.RFC3339), "--span", span, "--scenarios", scenarios, "--drifts", "1", "--seed", fmt.Sprint(seed)); code != 0 {
			t.Fatalf("simulate: %s", stderr)
		}
	}
	simulate(start, "2h", "drift", 1)

	addr := pipelinetest.FreeAddr(t) // for --http
	rctx, stop := context.WithCancel(ctx)
	done := make(chan string, 1)
	go func() {
		code, _, stderr := runCLI(t, rctx, "run", "--brokers", broker, "--stages", "dedupe,features,score,drift,alert,retrain,sink",
			"--models", models, "--database-url", dbURL, "--train-windows", "40", "--train-trees", "30", "--http", addr, "--log-level", "warn")
		done <- fmt.Sprintf("exit %d: %s", code, stderr)
	}()
	defer func() {
		stop()
		if res := <-done; !strings.HasPrefix(res, "exit 0") {
			t.Errorf("run: %s", res)
		}
	}()

	topics := pipeline.DefaultTopics()
	var published schemas.ModelUpdated
	pipelinetest.Eventually(t, "a published version on model.updates", func() bool {
		select {
		case res := <-done:
			t.Fatalf("run ended: %s", res)
		default:
		}
		for _, u := range decodeAll[schemas.ModelUpdated](t, c.ListenAddrs(), topics.ModelUpdates) {
			if u.Action == schemas.ModelPublished {
				published = u
				return true
			}
		}
		return false
	})
	if published.ModelName != "iforest-pressure" || !strings.HasPrefix(published.URI, "s3://models/loop/iforest-pressure/") {
		t.Fatalf("published %+v", published)
	}
	live := fmt.Sprintf(`smaint_score_model_info{model="iforest-pressure",sensor_type="pressure",version=%q} 1`, published.Version)
	pipelinetest.Eventually(t, "the score stage to swap the version in", func() bool {
		return strings.Contains(httpGet(t, "http://"+addr+"/metrics"), live)
	})

	// Readings after the swap.
	simulate(start.Add(2*time.Hour), "20m", "none", 2)
	var scores []schemas.AnomalyScore
	swapAt := start.Add(2 * time.Hour)
	pipelinetest.Eventually(t, "the windows after the swap scored", func() bool {
		scores = decodeAll[schemas.AnomalyScore](t, c.ListenAddrs(), topics.Scores)
		n := 0
		for _, s := range scores {
			if !s.WindowStart.Before(swapAt) {
				n++
			}
		}
		return n >= 4*19 // 4 sensors, 20 minutes of 1-minute windows, the last one may still be open
	})
	pipelinetest.WaitCommitted(t, admin, "smaint-sink-scores", topics.Scores)
	scores = decodeAll[schemas.AnomalyScore](t, c.ListenAddrs(), topics.Scores)
	newVersion := "iforest-pressure@" + published.Version
	// The version scores the sensors it was trained on (it holds their
	// centres); the others stay with the robust detector.
	store, err := openModelStore(ctx, models)
	if err != nil {
		t.Fatal(err)
	}
	model, _, err := score.LoadIForest(ctx, store, published.URI, published.SHA256)
	if err != nil || len(model.Centres) == 0 {
		t.Fatalf("the published version: %v, %d sensors known", err, len(model.Centres))
	}
	type key struct {
		sensor string
		start  time.Time
	}
	seen := map[key]bool{}
	bySensor := map[string][]schemas.AnomalyScore{}
	after := 0
	for _, s := range scores {
		k := key{s.SensorID, s.WindowStart}
		if seen[k] {
			t.Fatalf("window %v of %s scored twice", s.WindowStart, s.SensorID)
		}
		seen[k] = true
		bySensor[s.SensorID] = append(bySensor[s.SensorID], s)
		if !s.WindowStart.Before(swapAt) {
			after++
			if known := model.Knows(s.SensorID); known != (s.ModelVersion == newVersion) || !known && s.Detector != "robust" {
				t.Errorf("window %v of %s (known to the version: %v), after the swap, scored by %s", s.WindowStart, s.SensorID, known, s.ModelVersion)
			}
		}
	}
	if after == 0 {
		t.Fatal("no window after the swap was scored")
	}
	for sensor, ss := range bySensor {
		sort.Slice(ss, func(i, j int) bool { return ss[i].WindowStart.Before(ss[j].WindowStart) })
		switched := false
		for _, s := range ss {
			if s.ModelVersion == newVersion {
				switched = true
			} else if switched {
				t.Fatalf("%s went back to %s at %v after the swap", sensor, s.ModelVersion, s.WindowStart)
			}
		}
	}
	var stored int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM anomaly_scores`).Scan(&stored); err != nil || stored != int64(len(scores)) {
		t.Fatalf("%d scores stored (%v), %d on the topic", stored, err, len(scores))
	}
	t.Logf("%d windows scored, %d after the swap to %s; decision: %s", len(scores), after, published.Version, published.Reason)
}

func decodeAll[T any, P interface {
	*T
	schemas.Record
}](t *testing.T, addrs []string, topic string) []T {
	t.Helper()
	dec := schemas.NewSerde().NewDecoder()
	var out []T
	for _, r := range pipelinetest.ReadCommitted(t, addrs, topic) {
		var v T
		if err := dec.Decode(context.Background(), r.Value, P(&v)); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestModelsPromoteAndRollback: promote announces a stored version on
// model.updates; rollback announces the one live before; a version that
// is not in the store, or fails its checks, is refused.
func TestModelsPromoteAndRollback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := &score.FileStore{Dir: dir}
	for i, v := range []string{"v1", "v2"} {
		rows := make([][]float64, 100)
		for j := range rows {
			rows[j] = make([]float64, len(score.FeatureNames(0)))
			for k := range rows[j] {
				rows[j][k] = float64((j*7+k*3+i)%11) / 10
			}
		}
		f, err := score.TrainIForest("iforest-pressure", "pressure", score.FeatureNames(0), rows, score.IForestConfig{Trees: 5, SampleSize: 32})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := score.Publish(ctx, store, []*score.IForest{f}, v, score.Manifest{CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	uri := "file://" + dir
	cli := func(args ...string) (int, string) {
		code, out, stderr := runCLI(t, ctx, append(append([]string{"models"}, args...), "--models", uri, "--model", "iforest-pressure", "--brokers", broker)...)
		return code, out + stderr
	}
	if code, out := cli("rollback"); code != 2 || !strings.Contains(out, "give --to") {
		t.Fatalf("rollback with nothing live: exit %d: %s", code, out)
	}
	for _, v := range []string{"v1", "v2"} {
		if code, out := cli("promote", "--version", v); code != 0 || !strings.Contains(out, "iforest-pressure "+v+": promoted") {
			t.Fatalf("promote %s: exit %d: %s", v, code, out)
		}
	}
	if code, out := cli("rollback"); code != 0 || !strings.Contains(out, "iforest-pressure v1: rolled_back") {
		t.Fatalf("rollback: exit %d: %s", code, out)
	}
	if code, out := cli("promote", "--version", "v9"); code == 0 || !strings.Contains(out, "no version v9") {
		t.Fatalf("promote a missing version: exit %d: %s", code, out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "iforest-pressure", "v2.json"))
	at := strings.LastIndex(string(b), `"threshold":`) + len(`"threshold":`)
	if err := os.WriteFile(filepath.Join(dir, "iforest-pressure", "v2.json"), []byte(string(b[:at])+"1"+string(b[at:])), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := cli("promote", "--version", "v2"); code == 0 || !strings.Contains(out, "checksum mismatch") {
		t.Fatalf("promote a tampered version: exit %d: %s", code, out)
	}
	updates := decodeAll[schemas.ModelUpdated](t, c.ListenAddrs(), pipeline.DefaultTopics().ModelUpdates)
	var got []string
	for _, u := range updates {
		got = append(got, u.Version+":"+u.Action)
		if u.SHA256 == "" || !strings.HasPrefix(u.URI, "file://") {
			t.Errorf("announcement without artifact: %+v", u)
		}
	}
	if strings.Join(got, ",") != "v1:promoted,v2:promoted,v1:rolled_back" {
		t.Fatalf("model.updates holds %v", got)
	}
}
