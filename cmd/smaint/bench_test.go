package main

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for smaint when bench starts
// "smaint run" as a child process: bench runs os.Executable(), which under
// go test is this binary.
func TestMain(m *testing.M) {
	if os.Getenv("SMAINT_TEST_AS_SMAINT") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func runBench(t *testing.T, args ...string) benchReport {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Setenv("SMAINT_TEST_AS_SMAINT", "1")
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, out, stderr := runCLI(t, ctx, append([]string{"bench", "--json", jsonPath, "--plot", plotPath}, args...)...)
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"end to end", "raw consume→produce", "pipeline / raw", "pipeline peak RSS", "[   1s] produced"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(plotPath)
	if err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "throughput") {
		t.Errorf("plot: %v, %.200s", err, svg)
	}
	return rep
}

// TestBenchFlatOut runs a small flat-out bench and checks that the report
// holds what was measured.
func TestBenchFlatOut(t *testing.T) {
	rep := runBench(t, "--sensors", "200", "--count", "20000", "--windows", "10s")
	if rep.Produced != 20_000 || !rep.Drained || rep.Seconds <= 0 || rep.EndToEnd <= 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.StageRates["dedupe"] <= 0 || rep.StageRates["features"] <= 0 || rep.StageRates["score"] <= 0 {
		t.Errorf("stage rates %v: the windows of 100 s of plant time went through scoring", rep.StageRates)
	}
	if rep.RawRecords != 20_000 || rep.RawPerSec <= 0 || rep.RatioOfRaw <= 0 || rep.BenchRSSMiB <= 0 {
		t.Errorf("raw baseline: %d records at %.0f/s, ratio %.2f", rep.RawRecords, rep.RawPerSec, rep.RatioOfRaw)
	}
	if rep.CPUSeconds <= 0 || rep.PeakRSSMiB <= 0 {
		t.Errorf("resources: %.2f CPU seconds, %.0f MiB", rep.CPUSeconds, rep.PeakRSSMiB)
	}
	if rep.FeatureLatency.Count != 0 {
		t.Errorf("a replayed backlog reported feature latency %+v", rep.FeatureLatency)
	}
}

// TestBenchPaced: readings stamped as they are produced give feature
// windows whose latency is measured.
func TestBenchPaced(t *testing.T) {
	rep := runBench(t, "--sensors", "100", "--rate", "4000", "--duration", "4s", "--windows", "1s", "--lateness", "200ms")
	if rep.Produced < 10_000 || rep.Mode != "paced at 4000/s" {
		t.Fatalf("report %+v", rep)
	}
	l := rep.FeatureLatency
	if l.Count < 100 || l.P50 > l.P99 || l.P99 > l.Max || len(rep.LatencySeries) == 0 {
		t.Fatalf("feature latency %+v over %d slices", l, len(rep.LatencySeries))
	}
	if rep.RawRecords == 0 || rep.RatioOfRaw != 0 {
		t.Errorf("paced run: raw loop over %d records, ratio %v (want none)", rep.RawRecords, rep.RatioOfRaw)
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--sensors 0", "--sensors must be positive"},
		{"--rate -5", "--rate -5 (want a finite number, 0 or more)"},
		{"--stages dedupe,sink", `"sink" is not a stage bench runs`},
		{"--plot chart.gif", `--plot "chart.gif"`},
		{"--duplicates 0.9", "--duplicates 0.9"},
		{"--memory-limit 256M", `--memory-limit "256M"`},
		{"--rate NaN", "--rate NaN"},
		{"--duplicates NaN", "--duplicates NaN"},
		{"--stages features,score", "--stages must include dedupe"},
		{"--windows 10parsecs", "--windows"},
		{"--dedupe-cache -1", "--dedupe-cache must not be negative"},
	} {
		code, _, stderr := runCLI(t, context.Background(), append([]string{"bench"}, strings.Fields(tc.args)...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("bench %s: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestSILabel(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {250, "250"}, {2500, "2.5k"}, {300_000, "300k"}, {1_500_000, "1.5M"}, {-2000, "-2k"}} {
		if got := siLabel(tc.v); got != tc.want {
			t.Errorf("siLabel(%g) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
