package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Report is what a run measured. Its JSON form is "smaint bench --json".
type Report struct {
	Sensors      int     `json:"sensors"`
	Mode         string  `json:"mode"` // "flat out" or "paced"
	TargetRate   float64 `json:"target_rate,omitempty"`
	Stages       string  `json:"stages"`
	Windows      string  `json:"windows"`
	LatenessSecs float64 `json:"lateness_s"`
	Partitions   int     `json:"partitions"`
	Redis        string  `json:"redis"`
	DedupeCache  int     `json:"dedupe_cache,omitempty"` // run's --dedupe-cache, if not its default
	MemoryLimit  string  `json:"memory_limit,omitempty"` // the pipeline's GOMEMLIMIT, if any
	Delivery     string  `json:"delivery"`               // the pipeline's --delivery

	Produced        int64              `json:"readings_produced"`
	Seconds         float64            `json:"pipeline_seconds"`   // from the first reading consumed to the last processed
	EndToEnd        float64            `json:"end_to_end_per_sec"` // readings through every stage, per second
	StageRates      map[string]float64 `json:"stage_records_per_sec"`
	RawRecords      int64              `json:"raw_records"`
	RawPerSec       float64            `json:"raw_passthrough_per_sec"`
	RatioOfRaw      float64            `json:"ratio_of_raw"`
	FeatureLatency  LatencyStats       `json:"event_to_feature_latency"`
	FeatureProduced LatencyStats       `json:"event_to_feature_produced_latency"` // to the features stage's produce
	AlertLatency    LatencyStats       `json:"event_to_alert_latency"`
	CPUSeconds      float64            `json:"cpu_seconds"`
	CPUCores        float64            `json:"cpu_cores"` // CPU seconds over pipeline_seconds / pipeline_seconds
	PeakRSSMiB      float64            `json:"peak_rss_mib"`
	BenchRSSMiB     float64            `json:"bench_peak_rss_mib"` // this process: broker, generator, observer
	Drained         bool               `json:"drained"`
	Series          []Point            `json:"series"`
	LatencySeries   []LatencyPoint     `json:"latency_series"`
	stages          []string
}

// Point is one second of the run.
type Point struct {
	T        float64            `json:"t"`
	Produced float64            `json:"produced_per_sec"`
	Stages   map[string]float64 `json:"stage_in_per_sec"`
	RSSMiB   float64            `json:"rss_mib"`
}

// LatencyPoint summarizes the feature latencies of a slice of the run.
type LatencyPoint struct {
	T float64 `json:"t"`
	LatencyStats
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nbench: %d sensors, %s, stages %s, windows %s (lateness %gs), %d partitions, %s\n",
		r.Sensors, r.Mode, r.Stages, r.Windows, r.LatenessSecs, r.Partitions, r.Redis)
	fmt.Fprintf(w, "  delivery: %s\n", r.Delivery)
	if r.DedupeCache > 0 {
		fmt.Fprintf(w, "  pipeline option: --dedupe-cache %d\n", r.DedupeCache)
	}
	if r.MemoryLimit != "" {
		fmt.Fprintf(w, "  pipeline option: GOMEMLIMIT=%s\n", r.MemoryLimit)
	}
	fmt.Fprintf(w, "  %-34s %12d\n", "readings produced", r.Produced)
	fmt.Fprintf(w, "  %-34s %12.0f /s   over %.1fs%s\n", "end to end (every stage)", r.EndToEnd, r.Seconds, map[bool]string{true: "", false: "  (not drained)"}[r.Drained])
	for _, s := range r.stages {
		fmt.Fprintf(w, "  %-34s %12.0f /s\n", "  "+s+" records in", r.StageRates[s])
	}
	fmt.Fprintf(w, "  %-34s %12.0f /s   (%d records)\n", "raw consume→produce, same topic", r.RawPerSec, r.RawRecords)
	if r.TargetRate > 0 {
		fmt.Fprintf(w, "  %-34s %12s   (a paced run)\n", "pipeline / raw", "-")
	} else {
		fmt.Fprintf(w, "  %-34s %12.2f\n", "pipeline / raw", r.RatioOfRaw)
	}
	lat := func(name string, l LatencyStats) {
		if l.Count == 0 {
			fmt.Fprintf(w, "  %-34s %12s\n", name, "none seen")
			return
		}
		fmt.Fprintf(w, "  %-34s p50 %.0f ms  p95 %.0f ms  p99 %.0f ms  max %.0f ms  (%d)\n", name, l.P50, l.P95, l.P99, l.Max, l.Count)
	}
	lat("event→feature (after end+lateness)", r.FeatureLatency)
	if r.FeatureProduced.Count > 0 {
		lat("  of which until features produced it", r.FeatureProduced)
	}
	lat("event→alert (after end+lateness)", r.AlertLatency)
	fmt.Fprintf(w, "  %-34s %12.1f s   (%.2f cores while it ran)\n", "pipeline CPU, whole process", r.CPUSeconds, r.CPUCores)
	fmt.Fprintf(w, "  %-34s %12.0f MiB\n", "pipeline peak RSS", r.PeakRSSMiB)
	fmt.Fprintf(w, "  %-34s %12.0f MiB   (the bench process: broker, generator, observer)\n", "bench peak RSS", r.BenchRSSMiB)
}

// WriteJSON writes the report, indented, to the file at path.
func (r *Report) WriteJSON(path string) error { return writeJSON(path, r) }

// writeJSON writes v, indented, to the file at path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Plot draws throughput and feature latency percentiles over the run, as
// SVG or PNG by the file's extension.
func (r *Report) Plot(path string) error {
	tp := plot.New()
	tp.Title.Text = fmt.Sprintf("throughput (%d sensors, %s)", r.Sensors, r.Mode)
	tp.X.Label.Text = "seconds"
	tp.Y.Label.Text = "records / s"
	tp.Y.Tick.Marker = siTicks{}
	series := map[string]plotter.XYs{}
	names := r.stages
	if r.TargetRate > 0 {
		// A flat-out run produces its backlog before the pipeline starts:
		// its production rate says nothing about the pipeline.
		names = append([]string{"produced"}, names...)
	}
	for _, p := range r.Series {
		series["produced"] = append(series["produced"], plotter.XY{X: p.T, Y: p.Produced})
		for _, s := range r.stages {
			series[s] = append(series[s], plotter.XY{X: p.T, Y: p.Stages[s]})
		}
	}
	if err := addLines(tp, names, series); err != nil {
		return err
	}
	plots := [][]*plot.Plot{{tp}}

	// Latency is measured in paced runs only; a flat-out plot has the
	// throughput panel alone.
	if len(r.LatencySeries) > 0 {
		lp := plot.New()
		lp.Title.Text = "event → feature latency after window end + lateness"
		lp.X.Label.Text = "seconds"
		lp.Y.Label.Text = "ms"
		lat := map[string]plotter.XYs{}
		for _, p := range r.LatencySeries {
			lat["p50"] = append(lat["p50"], plotter.XY{X: p.T, Y: p.P50})
			lat["p95"] = append(lat["p95"], plotter.XY{X: p.T, Y: p.P95})
			lat["p99"] = append(lat["p99"], plotter.XY{X: p.T, Y: p.P99})
		}
		if err := addLines(lp, []string{"p50", "p95", "p99"}, lat); err != nil {
			return err
		}
		plots = append(plots, []*plot.Plot{lp})
	}

	w, h := 24*vg.Centimeter, 11*vg.Centimeter*vg.Length(len(plots))
	var canvas vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	default:
		return fmt.Errorf("%w: plot %q: want a .svg or .png file", ErrConfig, path)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2, PadLeft: vg.Centimeter / 2, PadRight: vg.Centimeter, PadY: vg.Centimeter}
	cs := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(cs[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seriesColors gives each series the same color in every plot.
var seriesColors = map[string]color.Color{
	"produced": color.RGBA{0x33, 0x33, 0x33, 0xff},
	"dedupe":   color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	"features": color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	"score":    color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	"drift":    color.RGBA{0xd6, 0x27, 0x28, 0xff},
	"alert":    color.RGBA{0x94, 0x67, 0xbd, 0xff},
	"p50":      color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	"p95":      color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	"p99":      color.RGBA{0xd6, 0x27, 0x28, 0xff},
}

func addLines(p *plot.Plot, names []string, series map[string]plotter.XYs) error {
	for _, n := range names {
		if len(series[n]) == 0 {
			continue
		}
		l, err := plotter.NewLine(series[n])
		if err != nil {
			return err
		}
		if c, ok := seriesColors[n]; ok {
			l.Color = c
		}
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(n, l)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return nil
}

// siTicks labels the default ticks with SI suffixes: 250k, 1.5M.
type siTicks struct{}

func (siTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = siLabel(ticks[i].Value)
		}
	}
	return ticks
}

func siLabel(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
