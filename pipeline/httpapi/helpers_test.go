package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"gopkg.in/yaml.v3"

	"github.com/smaint/smaint/schemas"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// written records what the API wrote, by request.
type written struct {
	mu       sync.Mutex
	readings []schemas.SensorReading
	requests []string
	err      error
}

func (wr *written) write(_ context.Context, rs []schemas.SensorReading, requestID string) error {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	if wr.err != nil {
		return wr.err
	}
	wr.readings = append(wr.readings, rs...)
	wr.requests = append(wr.requests, requestID)
	return nil
}

func (wr *written) count() int {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return len(wr.readings)
}

// The test keys: their secrets and the lines the server keeps.
var (
	writerKey, writerLine = mustKey("gateway", "write", "0")
	readerKey, readerLine = mustKey("grafana", "read", "0")
	bothKey, bothLine     = mustKey("ops", "read,write", "0")
	slowKey, slowLine     = mustKey("slow", "write", "1/2")
)

func mustKey(name, scopes, rate string) (string, string) {
	s, l, err := NewKey(name, scopes, rate)
	if err != nil {
		panic(err)
	}
	return s, l
}

// fixture is an API on fakes.
type fixture struct {
	t     *testing.T
	api   *API
	clock *clock
	out   *written
	state *fakeState
}

var epoch = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, tweak func(*Config)) *fixture {
	t.Helper()
	keys, err := ParseKeys(strings.NewReader(strings.Join([]string{writerLine, readerLine, bothLine, slowLine}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clock: &clock{t: epoch}, out: &written{}, state: &fakeState{}}
	cfg := Config{Keys: keys, Write: f.out.write, Check: check, State: f.state, Clock: f.clock}
	if tweak != nil {
		tweak(&cfg)
	}
	if f.api, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// do serves one request: body is sent as is (a string or []byte) and
// headers are name, value pairs.
func (f *fixture) do(method, target, key string, body any, headers ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			f.t.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, target, bytes.NewReader(b))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.api.Handler().ServeHTTP(w, req)
	documented(f.t, method, req.URL.Path, w.Code)
	return w
}

// errorOf decodes an error response.
func errorOf(t *testing.T, w *httptest.ResponseRecorder) apiError {
	t.Helper()
	var e apiError
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answered as %q: %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.RequestID == "" {
		t.Fatalf("not an error object (%v): %s", err, w.Body)
	}
	if got := w.Header().Get("X-Request-Id"); got != e.Error.RequestID {
		t.Fatalf("error names request %q, header %q", e.Error.RequestID, got)
	}
	return e
}

// check stands in for dedupe's rules (which cmd/smaint's tests run the
// API with): a UUID id, quality 0-100, a finite value, ts at most five
// minutes ahead.
func check(r *schemas.SensorReading, _ int, now time.Time) error {
	_, uuid := schemas.ParseUUID(r.ReadingID)
	switch {
	case !uuid:
		return fmt.Errorf("reading_id %q is not a UUID", r.ReadingID)
	case r.Quality < 0 || r.Quality > 100:
		return fmt.Errorf("quality %d is outside 0-100", r.Quality)
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
		return fmt.Errorf("value %v is not finite", r.Value)
	case r.TS.After(now.Add(5 * time.Minute)):
		return fmt.Errorf("ts %v is ahead of now", r.TS)
	}
	return nil
}

// reading returns a valid reading of sensor s at epoch plus i seconds.
func reading(s string, i int) map[string]any {
	return map[string]any{
		"reading_id": schemas.NewUUID(), "sensor_id": s, "asset_id": "asset-1", "sensor_type": "temperature",
		"ts": epoch.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano), "value": 20.5 + float64(i), "unit": "C", "quality": 90,
	}
}

// fakeState answers from fields, or fails with err.
type fakeState struct {
	window   *schemas.FeatureVector
	score    *schemas.AnomalyScore
	forecast *schemas.Forecast
	alerts   []schemas.Alert
	err      error
	asked    []string // the Alerts calls: state/sensor/asset/limit
}

func (s *fakeState) LastWindow(_ context.Context, id string) (*schemas.FeatureVector, *schemas.AnomalyScore, error) {
	if s.err != nil {
		return nil, nil, s.err
	}
	if s.window != nil && s.window.SensorID != id {
		return nil, nil, nil
	}
	return s.window, s.score, nil
}

func (s *fakeState) LastForecast(_ context.Context, id string) (*schemas.Forecast, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.forecast != nil && s.forecast.SensorID != id {
		return nil, nil
	}
	return s.forecast, nil
}

func (s *fakeState) Alerts(_ context.Context, state, sensor, asset string, limit int) ([]schemas.Alert, error) {
	s.asked = append(s.asked, strings.Join([]string{state, sensor, asset, itoa(limit)}, "/"))
	if s.err != nil {
		return nil, s.err
	}
	var out []schemas.Alert
	for _, a := range s.alerts {
		if (sensor == "" || a.SensorID == sensor) && (state != "open" || a.State != schemas.StateResolved) {
			out = append(out, a)
		}
	}
	return out, nil
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

var errDown = errors.New("connection refused")

// documented fails the test unless the OpenAPI document lists status as
// an answer of method on path: every answer a test sees must be in it.
func documented(t *testing.T, method, path string, status int) {
	t.Helper()
	docOnce.Do(func() { docErr = yaml.Unmarshal(OpenAPI, &doc) })
	if docErr != nil {
		t.Fatalf("openapi.yaml: %v", docErr)
	}
	tmpl := path
	if strings.HasPrefix(path, "/v1/sensors/") {
		tmpl = "/v1/sensors/{id}"
	}
	ops, ok := doc.Paths[tmpl]
	if !ok {
		if status != http.StatusNotFound {
			t.Errorf("openapi.yaml has no path %s (answered %d)", tmpl, status)
		}
		return
	}
	op, ok := ops[strings.ToLower(method)]
	if !ok {
		for _, o := range ops { // another method: its 405 is documented on every operation
			op = o
			break
		}
	}
	if _, ok := op.Responses[strconv.Itoa(status)]; !ok {
		t.Errorf("openapi.yaml: %s %s does not list answer %d", method, tmpl, status)
	}
}

var (
	docOnce sync.Once
	docErr  error
	doc     struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `yaml:"responses"`
		} `yaml:"paths"`
	}
)

// avroFile is an Avro object container file, written by goavro with the
// SensorReading schema, of readings at epoch plus each of secs seconds,
// valued secs.
func avroFile(t *testing.T, secs ...int) []byte {
	return avroFileOf(t, "null", "", secs...)
}

// avroFileOf is avroFile with a codec, and with every reading of id id
// when it is not empty.
func avroFileOf(t *testing.T, codec, id string, secs ...int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: schemas.SensorReadingSchema.Text(), CompressionName: codec})
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, s := range secs {
		rid := id
		if rid == "" {
			rid = schemas.NewUUID()
		}
		recs = append(recs, map[string]any{
			"reading_id": rid, "sensor_id": "s-1", "asset_id": "asset-1", "sensor_type": "vibration",
			"ts": epoch.Add(time.Duration(s) * time.Second), "value": float64(s), "unit": "mm/s", "quality": int32(100),
			"tags": map[string]any{"line": strconv.Itoa(s)},
		})
	}
	if err := w.Append(recs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
