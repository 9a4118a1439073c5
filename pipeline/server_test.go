package pipeline_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
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

// A shutdown answers the requests in flight when they finish within the
// grace, and says so when they do not. Neither case depends on timing: the
// handler is held until the shutdown has begun (the listener refuses new
// connections) and, in the second case, until ServeHTTP has returned.
func TestServeHTTPWaitsForRequestsInFlight(t *testing.T) {
	for _, tc := range []struct {
		grace   time.Duration
		release bool // release the handler once the shutdown began
	}{{time.Hour, true}, {time.Millisecond, false}} {
		entered, release := make(chan struct{}), make(chan struct{})
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-release
			io.WriteString(w, "done")
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- pipeline.ServeHTTP(ctx, srv, ln, tc.grace) }()
		answered := make(chan string, 1)
		go func() {
			resp, err := http.Get("http://" + addr)
			if err != nil {
				answered <- "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answered <- string(b)
		}()
		<-entered
		cancel()
		pipelinetest.Eventually(t, "the listener to close", func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		if tc.release {
			close(release)
			if got := <-answered; got != "done" {
				t.Fatalf("grace %v: the request in flight got %q", tc.grace, got)
			}
			if err := <-served; err != nil {
				t.Fatalf("grace %v: %v", tc.grace, err)
			}
			continue
		}
		err = <-served
		close(release)
		if err == nil || !strings.Contains(err.Error(), "still in flight") {
			t.Fatalf("grace %v with a request held: %v", tc.grace, err)
		}
		<-answered
	}
}
