package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// TestSimulateThenRun drives the two commands an operator would against a
// broker: simulate writes readings, run dedupes them and serves metrics.
func TestSimulateThenRun(t *testing.T) {
	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	admin := pipelinetest.Client(t, c.ListenAddrs())
	ctx := context.Background()

	code, out, stderr := runCLI(t, ctx, "simulate", "--brokers", broker, "--count", "5000", "--rate", "0", "--partitions", "3",
		"--scenarios", "duplicates,malformed", "--duplicate-rate", "0.05", "--malformed-rate", "0.01")
	if code != 0 {
		t.Fatalf("simulate: exit %d: %s", code, stderr)
	}
	var sim struct {
		Sent     int64 `json:"sent"`
		Injected struct {
			Duplicates, Malformed int64
		} `json:"injected"`
	}
	if err := json.Unmarshal([]byte(out), &sim); err != nil || sim.Sent != 5000 {
		t.Fatalf("simulate printed %q (%v)", out, err)
	}

	rctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	var runErr string
	go func() {
		code, _, stderr := runCLI(t, rctx, "run", "--stages", "dedupe", "--brokers", broker, "--http", "127.0.0.1:0", "--log-level", "error")
		runErr = stderr
		done <- code
	}()
	pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", "sensor.readings")
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("run: exit %d: %s", code, runErr)
	}
	topics := pipeline.DefaultTopics()
	clean := len(pipelinetest.ReadAll(t, c.ListenAddrs(), topics.Clean))
	dlq := len(pipelinetest.ReadAll(t, c.ListenAddrs(), topics.DLQ))
	// Duplicates and malformed records still held back when --count cut the
	// stream are not in sim's counts, so check the balance, not each number.
	if clean+dlq > 5000 || clean < 5000-int(sim.Injected.Duplicates)-int(sim.Injected.Malformed) || dlq == 0 {
		t.Fatalf("clean %d, dead letters %d of 5000 sent (%+v)", clean, dlq, sim.Injected)
	}
}

func TestRunServesHealthAndMetrics(t *testing.T) {
	c := pipelinetest.Cluster(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr := pipelinetest.FreeAddr(t) // for --http

	go runCLI(t, ctx, "run", "--brokers", c.ListenAddrs()[0], "--http", addr, "--log-level", "error")
	pipelinetest.Eventually(t, "/readyz to answer 200", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"smaint_records_in_total", "smaint_dedupe_store_up", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// TestRunWithSASLAgainstABrokerWithoutIt: a security mismatch is an
// error at start that says so (exit 2), not a run that times out forever.
func TestRunWithSASLAgainstABrokerWithoutIt(t *testing.T) {
	broker := pipelinetest.Cluster(t).ListenAddrs()[0]
	code, _, stderr := runCLI(t, pipelinetest.Context(t), "run", "--brokers", broker, "--stages", "dedupe", "--http", "127.0.0.1:0",
		"--sasl-mechanism", "PLAIN", "--sasl-user", "u", "--sasl-password", "p")
	if code != 2 || !strings.Contains(stderr, "during the SASL login") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestRunRegistersEverySubjectAtStart: with a registry, run registers the
// readings topic's subject (producers find its schema there) and every
// other, at FULL_TRANSITIVE, before a stage starts.
func TestRunRegistersEverySubjectAtStart(t *testing.T) {
	c := pipelinetest.Cluster(t)
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, rctx, "run", "--stages", "dedupe", "--brokers", c.ListenAddrs()[0], "--registry", fake.URL(),
			"--topic-prefix", "p.", "--http", "127.0.0.1:0", "--log-level", "error")
		done <- code
	}()
	pipelinetest.Eventually(t, "every subject", func() bool {
		subjects, err := cl.Subjects(context.Background())
		return err == nil && len(subjects) == len(pipeline.DefaultTopics().Records())
	})
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("run: exit %d", code)
	}
	res := cl.Compatibility(context.Background(), "p.sensor.readings-value")
	if len(res) != 1 || res[0].Err != nil || res[0].Level.String() != schemas.Compatibility {
		t.Fatalf("p.sensor.readings-value: %+v", res)
	}
}
