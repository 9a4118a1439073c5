package pipeline_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_events_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(3)
	h := pipeline.NewHealth()
	srv, err := pipeline.NewServer("127.0.0.1:0", reg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// Nothing registered: not ready.
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Errorf("/readyz with no components: %d", code)
	}
	h.Set("stage/a", true, "consuming")
	h.Set("sink/db", false, "database down")
	code, body := get(t, base+"/readyz")
	var rep struct {
		Ready      bool
		Components []pipeline.ComponentStatus
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 503 || rep.Ready || len(rep.Components) != 2 ||
		rep.Components[0].Component != "sink/db" || rep.Components[0].Detail != "database down" {
		t.Errorf("/readyz with one component down: %d %s", code, body)
	}
	h.Set("sink/db", true, "")
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz with all ready: %d", code)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "test_events_total 3") {
		t.Errorf("/metrics: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Until(pipelinetest.Deadline(t))):
		t.Fatal("server did not stop")
	}
}

// TestReadyzDetailsOnlyForTrustedCallers: a database error's text (user,
// host, database) reaches loopback callers and token holders, nobody else.
func TestReadyzDetailsOnlyForTrustedCallers(t *testing.T) {
	h := pipeline.NewHealth()
	h.Set("sink", false, `connect to user=smaint database=plant host=db.internal: refused`)
	h.Set("stage/dedupe", true, "assigned")
	srv, err := pipeline.NewServer("127.0.0.1:0", prometheus.NewRegistry(), h, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.RevealTo("s3cret")
	for _, tc := range []struct {
		remote, auth string
		details      bool
	}{
		{"127.0.0.1:5555", "", true},
		{"[::1]:5555", "", true},
		{"10.1.2.3:5555", "", false},
		{"10.1.2.3:5555", "Bearer wrong", false},
		{"10.1.2.3:5555", "Bearer s3cret", true},
	} {
		req := httptest.NewRequest("GET", "/readyz", nil)
		req.RemoteAddr = tc.remote
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != 503 || strings.Contains(body, "db.internal") != tc.details || !strings.Contains(body, `"component":"sink"`) {
			t.Errorf("%s %q: %d %s", tc.remote, tc.auth, rec.Code, body)
		}
		if !tc.details && (!strings.Contains(body, `"detail":"not ready"`) || strings.Contains(body, "assigned")) {
			t.Errorf("%s %q: %s", tc.remote, tc.auth, body)
		}
	}
}
