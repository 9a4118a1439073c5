package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/bench"
	"github.com/smaint/smaint/bench/plant"
)

func TestMain(m *testing.M) { plant.Main(m) }

// run makes a small run and checks what every run's report must hold.
func run(t *testing.T, cfg bench.Config) *bench.Report {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a child process")
	}
	bin := plant.Binary(t)
	cfg.Pipeline = func(args []string) (*exec.Cmd, error) {
		return exec.Command(bin, append([]string{"run"}, args...)...), nil
	}
	cfg.Ready, cfg.Drain = 10*time.Minute, 10*time.Minute // only end a run that never gets there
	var progress strings.Builder
	cfg.Out = &progress
	rep, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if !rep.Drained || rep.Seconds <= 0 || rep.EndToEnd <= 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.CPUSeconds <= 0 || rep.PeakRSSMiB <= 0 || rep.BenchRSSMiB <= 0 {
		t.Errorf("resources: %.2f CPU seconds, %.0f MiB, bench %.0f MiB", rep.CPUSeconds, rep.PeakRSSMiB, rep.BenchRSSMiB)
	}
	var table strings.Builder
	rep.Print(&table)
	for _, want := range []string{"end to end", "raw consume→produce", "pipeline / raw", "pipeline peak RSS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	plot := filepath.Join(t.TempDir(), "run.svg")
	if err := rep.Plot(plot); err != nil {
		t.Fatal(err)
	}
	if svg, err := os.ReadFile(plot); err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "throughput") {
		t.Errorf("plot: %v, %.200s", err, svg)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestFlatOut runs a small flat-out bench: every reading goes through,
// is counted, and the raw loop copies the same records.
func TestFlatOut(t *testing.T) {
	rep := run(t, bench.Config{Sensors: 200, Count: 20_000, Windows: "10s"})
	if rep.Produced != 20_000 {
		t.Fatalf("produced %d, want 20000", rep.Produced)
	}
	if rep.StageRates["dedupe"] <= 0 || rep.StageRates["features"] <= 0 || rep.StageRates["score"] <= 0 {
		t.Errorf("stage rates %v: the windows of 100 s of plant time went through scoring", rep.StageRates)
	}
	if rep.RawRecords != 20_000 || rep.RawPerSec <= 0 || rep.RatioOfRaw <= 0 {
		t.Errorf("raw baseline: %d records at %.0f/s, ratio %.2f", rep.RawRecords, rep.RawPerSec, rep.RatioOfRaw)
	}
	if rep.FeatureLatency.Count != 0 {
		t.Errorf("a replayed backlog reported feature latency %+v", rep.FeatureLatency)
	}
}

// TestPaced: readings stamped as they are produced give feature windows
// whose latency is measured.
func TestPaced(t *testing.T) {
	rep := run(t, bench.Config{Sensors: 100, Rate: 4000, Count: 16_000, Windows: "1s", Lateness: 200 * time.Millisecond})
	if rep.Produced != 16_000 || rep.Mode != "paced at 4000/s" {
		t.Fatalf("report %+v", rep)
	}
	// 100 sensors over 4 s of 1 s windows: every sensor's first three
	// windows close on the watermark while the run goes on.
	l := rep.FeatureLatency
	if l.Count < 300 || l.P50 > l.P99 || l.P99 > l.Max || len(rep.LatencySeries) == 0 {
		t.Fatalf("feature latency %+v over %d slices", l, len(rep.LatencySeries))
	}
	if rep.RawRecords == 0 || rep.RatioOfRaw != 0 {
		t.Errorf("paced run: raw loop over %d records, ratio %v (want none)", rep.RawRecords, rep.RatioOfRaw)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*bench.Config)
		want string
	}{
		{func(c *bench.Config) { c.Sensors = -1 }, "sensors must be positive"},
		{func(c *bench.Config) { c.Rate = -5 }, "rate -5"},
		{func(c *bench.Config) { c.Stages = []string{"dedupe", "sink"} }, "the sink is not a stage bench runs"},
		{func(c *bench.Config) { c.Stages = []string{"features", "score"} }, "must include dedupe"},
		{func(c *bench.Config) { c.Duplicates = 0.9 }, "duplicates 0.9"},
		{func(c *bench.Config) { c.MemoryLimit = "256M" }, `memory limit "256M"`},
		{func(c *bench.Config) { c.Windows = "10parsecs" }, "windows"},
		{func(c *bench.Config) { c.DedupeCache = -1 }, "dedupe cache must not be negative"},
	} {
		var c bench.Config
		tc.mod(&c)
		err := c.WithDefaults().Validate()
		if !errors.Is(err, bench.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
	if err := (bench.Config{}).WithDefaults().Validate(); err != nil {
		t.Errorf("the defaults: %v", err)
	}
}
