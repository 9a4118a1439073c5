package pipeline_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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
