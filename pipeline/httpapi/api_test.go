package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/smaint/smaint/schemas"
)

func TestAuthAndScopes(t *testing.T) {
	f := newFixture(t, nil)
	one := reading("s-1", 0)
	for _, c := range []struct {
		name, method, target, key string
		body                      any
		headers                   []string
		want                      int
		code                      string
	}{
		{"no key", "POST", "/v1/readings", "", one, nil, 401, "unauthenticated"},
		{"unknown key", "POST", "/v1/readings", "smk_nope", one, nil, 401, "unauthenticated"},
		{"a known key's hash is not the key", "POST", "/v1/readings", strings.Fields(writerLine)[3], one, nil, 401, "unauthenticated"},
		{"read key cannot write", "POST", "/v1/readings", readerKey, one, nil, 403, "forbidden"},
		{"write key cannot read alerts", "GET", "/v1/alerts", writerKey, nil, nil, 403, "forbidden"},
		{"write key cannot read a sensor", "GET", "/v1/sensors/s-1", writerKey, nil, nil, 403, "forbidden"},
		{"write key writes", "POST", "/v1/readings", writerKey, one, nil, 202, ""},
		{"X-API-Key works too", "POST", "/v1/readings", "", reading("s-1", 1), []string{"X-API-Key", writerKey}, 202, ""},
		{"read key reads", "GET", "/v1/alerts", readerKey, nil, nil, 200, ""},
		{"a key with both scopes writes", "POST", "/v1/readings", bothKey, reading("s-1", 2), nil, 202, ""},
		{"and reads", "GET", "/v1/alerts?state=all", bothKey, nil, nil, 200, ""},
		{"health needs no key", "GET", "/v1/health", "", nil, nil, 200, ""},
		{"nor the OpenAPI document", "GET", "/v1/openapi.yaml", "", nil, nil, 200, ""},
		{"unknown path", "GET", "/v2/readings", writerKey, nil, nil, 404, "not_found"},
		{"wrong method", "GET", "/v1/readings", writerKey, nil, nil, 405, "method_not_allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := f.do(c.method, c.target, c.key, c.body, c.headers...)
			if w.Code != c.want {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.target, w.Code, c.want, w.Body)
			}
			if c.code != "" {
				if e := errorOf(t, w); e.Error.Code != c.code {
					t.Fatalf("code %q, want %q", e.Error.Code, c.code)
				}
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("a 401 without WWW-Authenticate")
			}
			if w.Code == 405 && w.Header().Get("Allow") != "POST" {
				t.Fatalf("a 405 with Allow %q", w.Header().Get("Allow"))
			}
		})
	}
	if n := f.out.count(); n != 3 {
		t.Fatalf("%d readings written, want the 3 the write keys posted", n)
	}
}

func TestRateLimits(t *testing.T) {
	f := newFixture(t, nil)
	post := func() int { return f.do("POST", "/v1/readings", slowKey, reading("s-1", 0)).Code }
	// The slow key: 1 request a second, bursts of 2.
	if a, b := post(), post(); a != 202 || b != 202 {
		t.Fatalf("the burst: %d %d, want 202 202", a, b)
	}
	w := f.do("POST", "/v1/readings", slowKey, reading("s-1", 0))
	if w.Code != 429 || errorOf(t, w).Error.Code != "rate_limited" || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d, Retry-After %q: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	// Another key is not held back by it.
	if c := f.do("POST", "/v1/readings", writerKey, reading("s-1", 0)).Code; c != 202 {
		t.Fatalf("another key: %d", c)
	}
	f.clock.add(999 * time.Millisecond)
	if c := post(); c != 429 {
		t.Fatalf("before a token was earned: %d", c)
	}
	f.clock.add(time.Millisecond)
	if c := post(); c != 202 {
		t.Fatalf("a second later: %d", c)
	}
	if f.out.count() != 4 {
		t.Fatalf("%d readings written, want 4 (3 by the slow key, 1 by the other)", f.out.count())
	}
}

func TestBadBodies(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes, c.MaxReadings = 4096, 5 })
	nan := reading("s-1", 0)
	nan["value"] = "NaN"
	future := reading("s-1", 0)
	future["ts"] = epoch.Add(time.Hour).Format(time.RFC3339)
	noTS := reading("s-1", 0)
	delete(noTS, "ts")
	typo := reading("s-1", 0)
	typo["sensorId"] = "x"
	badID := reading("s-1", 0)
	badID["reading_id"] = "42"
	for _, c := range []struct {
		name    string
		body    any
		ctype   string
		want    int
		code    string
		records []int // indexes of the readings named as invalid
	}{
		{"not JSON", `{"sensor_id": `, "", 400, "malformed", nil},
		{"a JSON string", `"hello"`, "", 400, "malformed", nil},
		{"empty", ``, "", 400, "malformed", nil},
		{"an empty batch", `[]`, "", 400, "empty", nil},
		{"XML", `<reading/>`, "application/xml", 415, "unsupported_media_type", nil},
		{"too large", `[` + strings.Repeat(" ", 5000) + `]`, "", 413, "too_large", nil},
		{"too many readings", []any{reading("a", 0), reading("a", 1), reading("a", 2), reading("a", 3), reading("a", 4), reading("a", 5)}, "", 413, "too_many_readings", nil},
		{"one invalid among valid", []any{reading("a", 0), future, reading("a", 2)}, "", 400, "invalid_readings", []int{1}},
		{"several kinds of invalid", []any{nan, noTS, typo, badID, reading("a", 1)}, "", 400, "invalid_readings", []int{0, 1, 2, 3}},
		{"a wrapped batch with an invalid one", map[string]any{"readings": []any{reading("a", 0), badID}}, "", 400, "invalid_readings", []int{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hs []string
			if c.ctype != "" {
				hs = []string{"Content-Type", c.ctype}
			}
			w := f.do("POST", "/v1/readings", writerKey, c.body, hs...)
			if w.Code != c.want {
				t.Fatalf("%d, want %d: %s", w.Code, c.want, w.Body)
			}
			e := errorOf(t, w)
			if e.Error.Code != c.code {
				t.Fatalf("code %q, want %q: %s", e.Error.Code, c.code, w.Body)
			}
			var got []int
			for _, r := range e.Error.Records {
				got = append(got, r.Index)
				if r.Error == "" {
					t.Fatalf("record %d refused without a reason", r.Index)
				}
			}
			if !equalInts(got, c.records) {
				t.Fatalf("invalid readings %v, want %v: %s", got, c.records, w.Body)
			}
		})
	}
	if n := f.out.count(); n != 0 {
		t.Fatalf("%d readings written from refused requests", n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPartialWritesTheValidOnes(t *testing.T) {
	f := newFixture(t, nil)
	bad := reading("s-1", 1)
	bad["quality"] = 101
	noID := reading("s-1", 2)
	delete(noID, "reading_id")
	w := f.do("POST", "/v1/readings?partial=true", writerKey, []any{reading("s-1", 0), bad, noID})
	if w.Code != 202 {
		t.Fatalf("%d: %s", w.Code, w.Body)
	}
	var got accepted
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Accepted != 2 || got.Rejected != 1 || len(got.Errors) != 1 || got.Errors[0].Index != 1 || !strings.Contains(got.Errors[0].Error, "quality") {
		t.Fatalf("answer %+v", got)
	}
	if len(got.Assigned) != 1 || got.Assigned[0].Index != 2 {
		t.Fatalf("assigned ids %+v, want one for reading 2", got.Assigned)
	}
	if f.out.count() != 2 || f.out.readings[1].ReadingID != got.Assigned[0].ReadingID {
		t.Fatalf("written %+v", f.out.readings)
	}
	if r := f.out.readings[0]; r.SensorID != "s-1" || r.AssetID != "asset-1" || r.Value != 20.5 || r.Quality != 90 || r.Unit != "C" || !r.TS.Equal(epoch) {
		t.Fatalf("reading 0 written as %+v", r)
	}
}

func TestRequestIDs(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do("POST", "/v1/readings", writerKey, reading("s-1", 0), "X-Request-Id", "gw7-000042")
	if w.Code != 202 || w.Header().Get("X-Request-Id") != "gw7-000042" {
		t.Fatalf("%d, id %q", w.Code, w.Header().Get("X-Request-Id"))
	}
	w = f.do("POST", "/v1/readings", writerKey, reading("s-1", 1), "X-Request-Id", "no spaces or\nnewlines")
	made := w.Header().Get("X-Request-Id")
	if _, ok := schemas.ParseUUID(made); !ok {
		t.Fatalf("an unfit id was kept or not replaced by a UUID: %q", made)
	}
	if strings.Join(f.out.requests, ",") != "gw7-000042,"+made {
		t.Fatalf("Write was given request ids %v", f.out.requests)
	}
}

func TestKafkaDownIsA503(t *testing.T) {
	f := newFixture(t, nil)
	f.out.err = context.DeadlineExceeded
	noID := reading("s-1", 0)
	delete(noID, "reading_id")
	w := f.do("POST", "/v1/readings", writerKey, []any{reading("s-1", 1), noID})
	e := errorOf(t, w)
	if w.Code != 503 || e.Error.Code != "timeout" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// The id given to the reading without one is in the answer, for the
	// retry to carry.
	if len(e.Error.Assigned) != 1 || e.Error.Assigned[0].Index != 1 {
		t.Fatalf("assigned ids %+v", e.Error.Assigned)
	}
	if _, ok := schemas.ParseUUID(e.Error.Assigned[0].ReadingID); !ok {
		t.Fatalf("assigned id %q", e.Error.Assigned[0].ReadingID)
	}
}

func TestOverloadIsRefusedNotQueued(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f := newFixture(t, func(c *Config) {
		c.MaxInFlight = 1
		c.Write = func(ctx context.Context, _ []schemas.SensorReading, _ string) error {
			once.Do(func() { close(entered) })
			<-release
			return nil
		}
	})
	done := make(chan int)
	go func() { done <- f.do("POST", "/v1/readings", writerKey, reading("s-1", 0)).Code }()
	<-entered
	w := f.do("GET", "/v1/alerts", readerKey, nil)
	if w.Code != 503 || errorOf(t, w).Error.Code != "overloaded" || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("with the one slot taken: %d %s", w.Code, w.Body)
	}
	close(release)
	if c := <-done; c != 202 {
		t.Fatalf("the request in flight: %d", c)
	}
	if c := f.do("GET", "/v1/alerts", readerKey, nil).Code; c != 200 {
		t.Fatalf("after it: %d", c)
	}
}

func TestSensorAndAlerts(t *testing.T) {
	f := newFixture(t, nil)
	end := epoch.Add(time.Minute)
	f.state.window = &schemas.FeatureVector{SensorID: "s-1", AssetID: "asset-1", SensorType: "temperature", WindowStart: epoch, WindowEnd: end, Count: 60, Mean: 21}
	f.state.score = &schemas.AnomalyScore{SensorID: "s-1", WindowStart: epoch, WindowEnd: end, Score: 0.9, Threshold: 0.7, IsAnomaly: true, Detector: "robust",
		Contributions: map[string]float64{"mean": 1}}
	f.state.forecast = &schemas.Forecast{SensorID: "s-1", Feature: "mean", IssuedAt: end, HorizonS: 1800, Observed: 21, Level: 21, Value: 24,
		Lower: 23, Upper: 25, LimitDirection: "above", Limit: 23.5, CrossesInS: 1200, CrossesEarliestS: 900, CrossesLatestS: -1, Model: "m"}
	f.state.alerts = []schemas.Alert{
		{AlertID: "a1", SensorID: "s-1", AssetID: "asset-1", Kind: schemas.KindAnomaly, Severity: schemas.SeverityCritical, State: schemas.StateOpen, OpenedAt: end, LastSeen: end, Summary: "hot", RecommendedAction: "look"},
		{AlertID: "a0", SensorID: "s-1", AssetID: "asset-1", Kind: schemas.KindDrift, State: schemas.StateResolved, OpenedAt: epoch, LastSeen: epoch},
	}
	w := f.do("GET", "/v1/sensors/s-1", readerKey, nil)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var s struct {
		SensorID   string `json:"sensor_id"`
		SensorType string `json:"sensor_type"`
		Window     struct {
			Count int64   `json:"count"`
			Mean  float64 `json:"mean"`
		} `json:"last_window"`
		Score struct {
			Score     float64 `json:"score"`
			IsAnomaly bool    `json:"is_anomaly"`
		} `json:"last_score"`
		Forecast map[string]any `json:"last_forecast"`
		Open     []struct {
			ID       string `json:"alert_id"`
			State    string `json:"state"`
			Severity string `json:"severity"`
		} `json:"open_alerts"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if fc := s.Forecast; fc["limit"] != 23.5 || fc["crosses_in_s"] != 1200.0 || fc["crosses_earliest_s"] != 900.0 || fc["value"] != 24.0 {
		t.Errorf("last forecast %v", fc)
	} else if _, ok := fc["crosses_latest_s"]; ok {
		t.Errorf("a crossing beyond the horizon is shown: %v", fc)
	}
	if s.SensorID != "s-1" || s.SensorType != "temperature" || s.Window.Count != 60 || s.Score.Score != 0.9 || !s.Score.IsAnomaly ||
		len(s.Open) != 1 || s.Open[0].ID != "a1" || s.Open[0].State != "OPEN" || s.Open[0].Severity != "CRITICAL" {
		t.Fatalf("sensor answer %s", w.Body)
	}
	if w := f.do("GET", "/v1/sensors/nobody", readerKey, nil); w.Code != 404 || errorOf(t, w).Error.Code != "unknown_sensor" {
		t.Fatalf("unknown sensor: %d %s", w.Code, w.Body)
	}
	f.state.asked = nil
	if w := f.do("GET", "/v1/alerts?sensor_id=s-1&limit=5", readerKey, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"a1"`) || strings.Contains(w.Body.String(), `"a0"`) {
		t.Fatalf("open alerts: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/v1/alerts?state=all&asset_id=asset-1", readerKey, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"a0"`) {
		t.Fatalf("all alerts: %d %s", w.Code, w.Body)
	}
	if got := strings.Join(f.state.asked, " "); got != "open/s-1//5 all//asset-1/100" {
		t.Fatalf("the state was asked %q", got)
	}
	for _, q := range []string{"state=closed", "limit=0", "limit=1001", "limit=x"} {
		if w := f.do("GET", "/v1/alerts?"+q, readerKey, nil); w.Code != 400 || errorOf(t, w).Error.Code != "bad_parameter" {
			t.Fatalf("%s: %d %s", q, w.Code, w.Body)
		}
	}
	f.state.err = errDown
	for _, p := range []string{"/v1/alerts", "/v1/sensors/s-1"} {
		w := f.do("GET", p, readerKey, nil)
		if w.Code != 503 || errorOf(t, w).Error.Code != "database_unavailable" || strings.Contains(w.Body.String(), "refused") {
			t.Fatalf("%s with the database down: %d %s", p, w.Code, w.Body)
		}
	}
}

func TestNoDatabase(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.State = nil })
	if w := f.do("GET", "/v1/alerts", readerKey, nil); w.Code != 503 || errorOf(t, w).Error.Code != "no_database" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestAvroContainerFiles(t *testing.T) {
	f := newFixture(t, nil)
	body := avroFile(t, 0, 1, 2)
	w := f.do("POST", "/v1/readings", writerKey, body, "Content-Type", "application/avro")
	if w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if f.out.count() != 3 || f.out.readings[2].Value != 2 || !f.out.readings[2].TS.Equal(epoch.Add(2*time.Second)) || f.out.readings[2].Tags["line"] != "2" {
		t.Fatalf("written %+v", f.out.readings)
	}
	if w := f.do("POST", "/v1/readings", writerKey, body[:len(body)-7], "Content-Type", "application/avro"); w.Code != 400 || errorOf(t, w).Error.Code != "malformed" {
		t.Fatalf("a truncated file: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", "/v1/readings", writerKey, []byte("Obj\x01garbage"), "Content-Type", "application/avro"); w.Code != 400 {
		t.Fatalf("garbage: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", "/v1/readings", writerKey, avroFileOf(t, "deflate", "", 5, 6), "Content-Type", "avro/binary"); w.Code != 202 {
		t.Fatalf("a deflated file: %d %s", w.Code, w.Body)
	}
	if f.out.count() != 5 || f.out.readings[4].Value != 6 {
		t.Fatalf("written %+v", f.out.readings)
	}
	// Another record's schema is refused by name.
	var other bytes.Buffer
	ow, _ := goavro.NewOCFWriter(goavro.OCFConfig{W: &other, Schema: `{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}`})
	_ = ow.Append([]map[string]any{{"x": int32(1)}})
	if w := f.do("POST", "/v1/readings", writerKey, other.Bytes(), "Content-Type", "application/avro"); w.Code != 400 || !strings.Contains(w.Body.String(), "not io.smaint.v1.SensorReading") {
		t.Fatalf("another schema: %d %s", w.Code, w.Body)
	}
}

func TestAvroBlocksInflateBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxBodyBytes, c.MaxReadings = 4096, 100_000 })
	secs := make([]int, 3000)
	bomb := avroFileOf(t, "deflate", schemas.NewUUID(), secs...) // 3,000 equal readings: well over 4 x 4 KiB inflated
	if len(bomb) > 4096 {
		t.Fatalf("the file is %d bytes: not a bomb for a 4 KiB body", len(bomb))
	}
	w := f.do("POST", "/v1/readings", writerKey, bomb, "Content-Type", "application/avro")
	if w.Code != 400 || !strings.Contains(w.Body.String(), "inflate to more than") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t, nil)
	f.api.cfg.Health = nil
	if w := f.do("GET", "/v1/health", "", nil); w.Code != 200 {
		t.Fatalf("%d", w.Code)
	}
}

func TestNewKeyRoundTrip(t *testing.T) {
	secret, line, err := NewKey("gw-1", "write", "50/100")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(line, secret) || !strings.HasPrefix(secret, keyPrefix) {
		t.Fatalf("the line holds the secret, or the secret lacks its prefix: %q %q", secret, line)
	}
	ks, err := ParseKeys(strings.NewReader("# comment\n\n" + line))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := ks.Lookup(secret)
	if !ok || k.Name != "gw-1" || k.Rate != 50 || k.Burst != 100 || !k.Allows(ScopeWrite) || k.Allows(ScopeRead) {
		t.Fatalf("looked up %+v %v", k, ok)
	}
	if _, ok := ks.Lookup(secret + "x"); ok {
		t.Fatal("a longer secret matched")
	}
	for _, bad := range []string{
		"a write 1",
		"a delete 1 sha256:" + strings.Repeat("0", 64),
		"a write -1 sha256:" + strings.Repeat("0", 64),
		"a write 1/0 sha256:" + strings.Repeat("0", 64),
		"a write 1 " + secret,
		"a write 1 sha256:abc",
		"a/b write 1 sha256:" + strings.Repeat("0", 64),
		"a write 1 sha256:" + strings.Repeat("0", 64) + ";a read 1 sha256:" + strings.Repeat("1", 64),
		"a write 1 sha256:" + strings.Repeat("0", 64) + ";b read 1 sha256:" + strings.Repeat("0", 64),
	} {
		if _, err := ParseKeys(strings.NewReader(bad)); err == nil {
			t.Errorf("%q was taken", bad)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

func TestValidate(t *testing.T) {
	keys, _ := ParseKeys(strings.NewReader(writerLine))
	write := func(context.Context, []schemas.SensorReading, string) error { return nil }
	for _, c := range []Config{
		{Write: write},
		{Keys: keys},
		{Keys: keys, Write: write, MaxBodyBytes: 10},
		{Keys: keys, Write: write, Timeout: time.Millisecond},
		{Keys: keys, Write: write, MaxInFlight: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v was taken", c)
		}
	}
	if _, err := New(Config{Keys: keys, Write: write}); err != nil {
		t.Fatal(err)
	}
}

// TestHostileBodiesAreBounded: bodies built to cost far more than their
// size are refused before they do. Each is posted once, and the memory
// the API allocated for it is measured: without the bounds, the first
// took over a gigabyte.
func TestHostileBodiesAreBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxReadings = 100 })
	valid, _ := json.Marshal(reading("s-1", 0))
	for _, c := range []struct {
		name  string
		body  []byte
		ctype string
		want  int
		code  string
	}{
		{"4 MiB of numbers", []byte("[" + strings.Repeat("1,", 2_000_000) + "1]"), "", 413, "too_many_readings"},
		{"4 MiB of empty objects", []byte("[" + strings.Repeat("{},", 1_300_000) + "{}]"), "", 413, "too_many_readings"},
		{"a wrapped batch over the limit", []byte(`{"readings":[` + strings.Repeat(string(valid)+",", 100) + string(valid) + "]}"), "", 413, "too_many_readings"},
		{"an Avro file over the limit", avroFile(t, make([]int, 101)...), "application/avro", 413, "too_many_readings"},
		{"an Avro file of 100", avroFile(t, make([]int, 100)...), "application/avro", 202, ""},
		{"something after the array", []byte("[" + string(valid) + "]]}]"), "", 400, "malformed"},
		{"something after the object", []byte(string(valid) + " {}"), "", 400, "malformed"},
		{"a batch object with more", []byte(`{"readings":[` + string(valid) + `],"x":1}`), "", 400, "malformed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var hs []string
			if c.ctype != "" {
				hs = []string{"Content-Type", c.ctype}
			}
			w := f.do("POST", "/v1/readings", writerKey, c.body, hs...)
			runtime.ReadMemStats(&after)
			if w.Code != c.want {
				t.Fatalf("%d, want %d: %.300s", w.Code, c.want, w.Body)
			}
			if c.code != "" && errorOf(t, w).Error.Code != c.code {
				t.Fatalf("%s", w.Body)
			}
			// The body itself is read whole (twice its size as it grows),
			// and the decoder buffers; nothing near a reading per byte.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(12*len(c.body)+16<<20) {
				t.Errorf("%d bytes allocated for a body of %d", alloc, len(c.body))
			}
		})
	}
}
