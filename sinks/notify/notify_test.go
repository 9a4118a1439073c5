package notify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/notify"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

var sample = &schemas.Alert{AlertID: "anomaly:p1:1", AssetID: "asset-1", SensorID: "p1", SensorType: "pressure",
	Kind: schemas.KindAnomaly, Severity: schemas.SeverityCritical, State: schemas.StateOpen, OpenedAt: t0, LastSeen: t0,
	Occurrences: 3, Summary: "pressure up", RecommendedAction: "Check for a blockage."}

func TestWebhookRetriesThenDelivers(t *testing.T) {
	var calls atomic.Int32
	var got struct {
		Text  string
		Alert schemas.Alert
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	d := notify.NewDispatcher(notify.DispatcherConfig{MinBackoff: time.Millisecond, Registerer: reg}, &notify.Webhook{URL: srv.URL})
	runDispatcher(t, d, sample)
	if calls.Load() != 3 || !strings.Contains(got.Text, "[CRITICAL] ANOMALY OPEN on asset-1 (p1)") || got.Alert.AlertID != sample.AlertID {
		t.Fatalf("%d calls, got %+v", calls.Load(), got)
	}
}

func TestWebhookClientErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	d := notify.NewDispatcher(notify.DispatcherConfig{MinBackoff: time.Millisecond, Registerer: reg}, &notify.Webhook{URL: srv.URL})
	runDispatcher(t, d, sample)
	if calls.Load() != 1 {
		t.Fatalf("%d calls for a 404", calls.Load())
	}
	if n := pipelinetest.Metric(t, reg, "smaint_notifications_failed_total"); n != 1 {
		t.Fatalf("failed %v", n)
	}
}

func TestEnqueueNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	d := notify.NewDispatcher(notify.DispatcherConfig{Queue: 2, Registerer: reg})
	for range 100 { // nobody delivers: an Enqueue that blocked would hang here
		d.Enqueue(sample)
	}
	if n := pipelinetest.Metric(t, reg, "smaint_notifications_dropped_total"); n != 98 {
		t.Fatalf("dropped %v, want 98", n)
	}
}

func TestSMTPDelivers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var data strings.Builder
	go fakeSMTP(ln, &mu, &data)
	d := notify.NewDispatcher(notify.DispatcherConfig{Registerer: prometheus.NewRegistry()},
		&notify.SMTP{Addr: ln.Addr().String(), From: "smaint@plant.example", To: []string{"ops@plant.example"}})
	runDispatcher(t, d, sample)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(data.String(), "Subject: [CRITICAL] ANOMALY OPEN: p1") || !strings.Contains(data.String(), "Check for a blockage.") {
		t.Fatalf("mail:\n%s", data.String())
	}
}

// fakeSMTP speaks just enough SMTP for net/smtp.SendMail.
func fakeSMTP(ln net.Listener, mu *sync.Mutex, data *strings.Builder) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 fake")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 fake")
		case strings.HasPrefix(cmd, "DATA"):
			say("354 go on")
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				mu.Lock()
				data.WriteString(l)
				mu.Unlock()
			}
			say("250 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func runDispatcher(t *testing.T, d *notify.Dispatcher, a *schemas.Alert) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	d.Enqueue(a)
	cancel() // Run delivers what is queued before it returns
	<-done
}
