package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/httpapi"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// waitAPI waits until the API at base (http://host:port) answers.
func waitAPI(t *testing.T, base string) {
	t.Helper()
	pipelinetest.Eventually(t, "the API to answer", func() bool {
		resp, err := http.Get(base + "/v1/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

// apiClient calls a running API with a key.
type apiClient struct {
	t         *testing.T
	base, key string
}

func (c apiClient) do(method, path, ctype string, body []byte, headers ...string) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestServeReadingsReachTheCleanTopicAndTheDatabaseOnce posts readings
// to smaint serve as a gateway would, retrying a batch as a gateway that
// lost an answer does, beside smaint run with every stage and the sink,
// and requires each reading once on the clean topic and once in the
// database, each on the readings topic with its correlation headers, and
// the API's sensor and alert answers to match the database.
func TestServeReadingsReachTheCleanTopicAndTheDatabaseOnce(t *testing.T) {
	ctx := context.Background()
	pool, dbURL := testDatabase(t)
	if code, _, stderr := runCLI(t, ctx, "migrate", "--database-url", dbURL); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	writer, writerLine, _ := httpapi.NewKey("gateway", "write", "0")
	reader, readerLine, _ := httpapi.NewKey("ops", "read", "0")
	listen := pipelinetest.FreeAddr(t)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served, ran := make(chan int, 1), make(chan int, 1)
	var serveErr strings.Builder
	go func() {
		code, _, stderr := runCLI(t, sctx, "serve", "--brokers", broker, "--listen", listen, "--http", "127.0.0.1:0",
			"--database-url", dbURL, "--api-keys", writerLine+";"+readerLine, "--log-level", "warn")
		serveErr.WriteString(stderr)
		served <- code
	}()
	go func() {
		code, _, _ := runCLI(t, sctx, "run", "--stages", "all", "--brokers", broker, "--database-url", dbURL,
			"--http", "127.0.0.1:0", "--log-level", "error", "--windows", "10s", "--idle-timeout", "1s")
		ran <- code
	}()
	w := apiClient{t, "http://" + listen, writer}
	r := apiClient{t, "http://" + listen, reader}
	waitAPI(t, w.base)

	// Readings of 3 sensors, a second apart, ending now.
	now := time.Now().UTC().Truncate(time.Millisecond)
	var all []map[string]any
	for i := range 90 {
		all = append(all, map[string]any{
			"reading_id": schemas.NewUUID(), "sensor_id": fmt.Sprintf("http-%d", i%3), "asset_id": "press-1", "sensor_type": "temperature",
			"ts": now.Add(time.Duration(i/3-30) * time.Second).Format(time.RFC3339Nano), "value": 60 + float64(i%7), "unit": "C",
		})
	}
	post := func(rs []map[string]any, requestID string) (int, []byte) {
		body, _ := json.Marshal(rs)
		code, h, b := w.do("POST", "/v1/readings", "application/json", body, "X-Request-Id", requestID)
		if h.Get("X-Request-Id") != requestID {
			t.Fatalf("request id %q answered as %q", requestID, h.Get("X-Request-Id"))
		}
		return code, b
	}
	if code, b := post(all[:60], "batch-1"); code != 202 || !strings.Contains(string(b), `"accepted":60`) {
		t.Fatalf("batch 1: %d %s", code, b)
	}
	// The gateway lost the answer and sends batch 1 again, with the rest.
	if code, b := post(all, "batch-1-retry"); code != 202 || !strings.Contains(string(b), `"accepted":90`) {
		t.Fatalf("batch 1 again: %d %s", code, b)
	}
	// An invalid reading refuses its whole request.
	bad := map[string]any{"sensor_id": "http-0", "asset_id": "press-1", "sensor_type": "temperature", "ts": now.Format(time.RFC3339), "value": 1, "quality": 300}
	if code, b := post([]map[string]any{all[0], bad}, "bad"); code != 400 || !strings.Contains(string(b), "quality") {
		t.Fatalf("an invalid batch: %d %s", code, b)
	}

	topics := pipeline.DefaultTopics()
	admin := pipelinetest.Client(t, c.ListenAddrs())
	pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", topics.Readings)
	pipelinetest.WaitCommitted(t, admin, "smaint-sink-readings", topics.Clean)

	// The readings topic: 150 records, each with its id and its request's.
	raw := pipelinetest.ReadAll(t, c.ListenAddrs(), topics.Readings)
	if len(raw) != 150 {
		t.Fatalf("%d records on %s, want 150 (60 + 90)", len(raw), topics.Readings)
	}
	dec := schemas.NewSerde().NewDecoder()
	for _, rec := range raw {
		var rd schemas.SensorReading
		if err := dec.Decode(ctx, rec.Value, &rd); err != nil {
			t.Fatal(err)
		}
		if got := pipelinetest.Header(rec, pipeline.HeaderReadingID); got != rd.ReadingID || string(rec.Key) != rd.SensorID {
			t.Fatalf("record of %s keyed %q with reading id header %q", rd.ReadingID, rec.Key, got)
		}
		if rq := pipelinetest.Header(rec, pipeline.HeaderRequestID); rq != "batch-1" && rq != "batch-1-retry" {
			t.Fatalf("request id header %q", rq)
		}
	}
	// The clean topic and the database: each of the 90 once.
	var want []string
	for _, rd := range all {
		want = append(want, rd["reading_id"].(string))
	}
	slices.Sort(want)
	var clean []string
	for _, rec := range pipelinetest.ReadCommitted(t, c.ListenAddrs(), topics.Clean) {
		var rd schemas.SensorReading
		if err := dec.Decode(ctx, rec.Value, &rd); err != nil {
			t.Fatal(err)
		}
		clean = append(clean, rd.ReadingID)
	}
	slices.Sort(clean)
	if !slices.Equal(clean, want) {
		t.Fatalf("the clean topic holds %d readings, want the 90 posted, once each", len(clean))
	}
	rows, err := pool.Query(ctx, "SELECT reading_id::text FROM sensor_readings ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored, want) {
		t.Fatalf("the database holds %d readings, want the 90 posted, once each", len(stored))
	}

	// What the API says of a sensor is what the database holds.
	var windows int
	pipelinetest.Eventually(t, "a stored window of http-1", func() bool {
		return pool.QueryRow(ctx, "SELECT count(*) FROM sensor_features WHERE sensor_id = 'http-1'").Scan(&windows) == nil && windows > 0
	})
	// Correlation: each window, and each score, names a reading of its
	// sensor in its time range (the window's last).
	type posted struct {
		sensor string
		ts     time.Time
	}
	byID := map[string]posted{}
	for _, rd := range all {
		ts, _ := time.Parse(time.RFC3339Nano, rd["ts"].(string))
		byID[rd["reading_id"].(string)] = posted{rd["sensor_id"].(string), ts}
	}
	var scores []*kgo.Record
	pipelinetest.Eventually(t, "scores", func() bool {
		scores = pipelinetest.ReadCommitted(t, c.ListenAddrs(), topics.Scores)
		return len(scores) > 0
	})
	for _, rec := range append(pipelinetest.ReadCommitted(t, c.ListenAddrs(), topics.Features), scores...) {
		var sensor string
		var start, end time.Time
		if rec.Topic == topics.Scores {
			var sc schemas.AnomalyScore
			if err := dec.Decode(ctx, rec.Value, &sc); err != nil {
				t.Fatal(err)
			}
			sensor, start, end = sc.SensorID, sc.WindowStart, sc.WindowEnd
		} else {
			var fv schemas.FeatureVector
			if err := dec.Decode(ctx, rec.Value, &fv); err != nil {
				t.Fatal(err)
			}
			sensor, start, end = fv.SensorID, fv.WindowStart, fv.WindowEnd
		}
		id := pipelinetest.Header(rec, pipeline.HeaderReadingID)
		p, ok := byID[id]
		if !ok || p.sensor != sensor || p.ts.Before(start) || !p.ts.Before(end) {
			t.Fatalf("%s record of %s [%v, %v) names reading %q (%+v)", rec.Topic, sensor, start, end, id, p)
		}
	}
	code, _, b := r.do("GET", "/v1/sensors/http-1", "", nil)
	var s struct {
		AssetID string `json:"asset_id"`
		Window  *struct {
			End time.Time `json:"window_end"`
		} `json:"last_window"`
	}
	if code != 200 || json.Unmarshal(b, &s) != nil || s.AssetID != "press-1" || s.Window == nil {
		t.Fatalf("GET /v1/sensors/http-1: %d %s", code, b)
	}
	var last time.Time
	if err := pool.QueryRow(ctx, "SELECT max(window_end) FROM sensor_features WHERE sensor_id = 'http-1'").Scan(&last); err != nil {
		t.Fatal(err)
	}
	if s.Window.End.After(last) {
		t.Fatalf("the API's last window ends %v, after the last stored one (%v)", s.Window.End, last)
	}
	if code, _, b := r.do("GET", "/v1/alerts?state=all", "", nil); code != 200 || !strings.HasPrefix(string(b), `{"alerts":`) {
		t.Fatalf("GET /v1/alerts: %d %s", code, b)
	}
	if code, _, _ := r.do("GET", "/v1/sensors/nobody", "", nil); code != 404 {
		t.Fatalf("an unknown sensor: %d", code)
	}
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited %d: %s", code, serveErr.String())
	}
	if code := <-ran; code != 0 {
		t.Fatalf("run exited %d", code)
	}
}

func TestServeBadCommandLines(t *testing.T) {
	ctx := context.Background()
	_, line, _ := httpapi.NewKey("k", "write", "1")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--brokers", "127.0.0.1:1"}, "no API keys"},
		{[]string{"serve", "--brokers", "127.0.0.1:1", "--api-keys", "k write 1 smk_plaintext"}, "the hash is not sha256"},
		{[]string{"serve", "--brokers", "127.0.0.1:1", "--api-keys", line, "--max-body-bytes", "10"}, "largest body"},
		{[]string{"serve", "newkey", "k"}, "NAME SCOPES"},
		{[]string{"serve", "newkey", "k", "admin"}, "scope \"admin\""},
	} {
		code, _, stderr := runCLI(t, ctx, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q (want 2 and %q)", c.args, code, stderr, c.want)
		}
	}
}

// TestServeTakesPythonClients posts readings from Python's standard
// library (JSON) and from the Avro reference library (object container
// files, deflated and not), as a gateway written in Python would.
func TestServeTakesPythonClients(t *testing.T) {
	py := pipelinetest.Python(t, "avro")
	c := pipelinetest.Cluster(t)
	key, line, _ := httpapi.NewKey("py", "write", "0")
	listen := pipelinetest.FreeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, ctx, "serve", "--brokers", c.ListenAddrs()[0], "--listen", listen, "--http", "127.0.0.1:0", "--api-keys", line, "--log-level", "error")
		served <- code
	}()
	waitAPI(t, "http://"+listen)
	schema := filepath.Join(t.TempDir(), "sensor_reading.avsc")
	if err := os.WriteFile(schema, []byte(schemas.SensorReadingSchema.Text()), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, extra := range [][]string{nil, {"--avro", "--codec", "deflate"}, {"--avro", "--codec", "null"}} {
		args := append([]string{"../../deploy/clients/python/post_readings.py", "--url", "http://" + listen, "--key", key,
			"--sensors", "3", "--seconds", "40", "--batch", "50", "--seed", strconv.Itoa(i + 1), "--schema", schema}, extra...)
		out, err := exec.Command(py, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"accepted": 120`) {
			t.Fatalf("post_readings.py %v: %v\n%s", extra, err, out)
		}
	}
	recs := pipelinetest.ReadAll(t, c.ListenAddrs(), pipeline.DefaultTopics().Readings)
	ids := map[string]bool{}
	dec := schemas.NewSerde().NewDecoder()
	for _, rec := range recs {
		var rd schemas.SensorReading
		if err := dec.Decode(ctx, rec.Value, &rd); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rd.SensorID, "py-") || rd.Quality != 95 || rd.Tags["client"] != "python" || rd.Unit != "C" || time.Since(rd.TS) > time.Hour {
			t.Fatalf("reading written as %+v", rd)
		}
		ids[rd.ReadingID] = true
	}
	if len(recs) != 360 || len(ids) != 360 {
		t.Fatalf("%d records, %d ids; want 360 of each", len(recs), len(ids))
	}
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

// TestRunServesTheAPIBesideTheStages: smaint run --api serves the same
// API in the stages' process; a reading posted to it comes out of dedupe.
func TestRunServesTheAPIBesideTheStages(t *testing.T) {
	c := pipelinetest.Cluster(t)
	key, line, _ := httpapi.NewKey("gw", "write", "0")
	listen := pipelinetest.FreeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, ctx, "run", "--stages", "dedupe", "--brokers", c.ListenAddrs()[0], "--http", "127.0.0.1:0",
			"--api", listen, "--api-keys", line, "--log-level", "error")
		ran <- code
	}()
	w := apiClient{t, "http://" + listen, key}
	waitAPI(t, w.base)
	id := schemas.NewUUID()
	body := fmt.Sprintf(`{"reading_id":%q,"sensor_id":"r1","asset_id":"a1","sensor_type":"temperature","ts":%q,"value":1}`, id, time.Now().UTC().Format(time.RFC3339))
	if code, _, b := w.do("POST", "/v1/readings", "application/json", []byte(body)); code != 202 {
		t.Fatalf("%d %s", code, b)
	}
	admin := pipelinetest.Client(t, c.ListenAddrs())
	pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", pipeline.DefaultTopics().Readings)
	clean := pipelinetest.ReadCommitted(t, c.ListenAddrs(), pipeline.DefaultTopics().Clean)
	var rd schemas.SensorReading
	if len(clean) != 1 || schemas.NewSerde().NewDecoder().Decode(ctx, clean[0].Value, &rd) != nil || rd.ReadingID != id {
		t.Fatalf("the clean topic holds %d records (%+v)", len(clean), rd)
	}
	stop()
	if code := <-ran; code != 0 {
		t.Fatalf("run exited %d", code)
	}
}

// TestServeReadinessFollowsTheBrokers: /readyz (and /v1/health) turn 503,
// naming api/kafka, once no broker answers; the API's own requests are
// not what decides it.
func TestServeReadinessFollowsTheBrokers(t *testing.T) {
	c := pipelinetest.Cluster(t)
	_, line, _ := httpapi.NewKey("gw", "write", "0")
	listen, ops := pipelinetest.FreeAddr(t), pipelinetest.FreeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, ctx, "serve", "--brokers", c.ListenAddrs()[0], "--listen", listen, "--http", ops, "--api-keys", line, "--log-level", "error")
		served <- code
	}()
	ready := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	pipelinetest.Eventually(t, "/readyz to answer 200", func() bool { code, _ := ready("http://" + ops + "/readyz"); return code == 200 })
	c.Close()
	pipelinetest.Eventually(t, "/readyz to answer 503 for api/kafka", func() bool {
		code, body := ready("http://" + ops + "/readyz")
		return code == 503 && strings.Contains(body, `"api/kafka"`)
	})
	if code, body := ready("http://" + listen + "/v1/health"); code != 503 || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("/v1/health with no broker: %d %s", code, body)
	}
	stop()
	if code := <-served; code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}
