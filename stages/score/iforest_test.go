package score

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/schemas"
)

func cluster(n int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 9))
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = []float64{10 + rng.NormFloat64(), 2 * rng.NormFloat64(), rng.Float64()}
	}
	return rows
}

func TestIForestIsolatesOutliers(t *testing.T) {
	names := []string{"a", "b", "c"}
	f, err := TrainIForest("iforest-test", "t", names, cluster(2000, 1), IForestConfig{})
	if err != nil {
		t.Fatal(err)
	}
	normal, flagged := cluster(500, 2), 0
	var normalScores []float64
	for _, x := range normal {
		s := f.raw(x)
		normalScores = append(normalScores, s)
		if s >= f.Threshold {
			flagged++
		}
	}
	if flagged > 25 { // contamination 1%: expect about 5
		t.Errorf("%d of 500 normal points above the threshold %v", flagged, f.Threshold)
	}
	slices.Sort(normalScores)
	median := normalScores[250]
	// Off in one feature of three: above most normal points. Splits on
	// the other features do not isolate such a point, so axis-parallel
	// trees score it only moderately (Hariri et al., Extended Isolation
	// Forest); off in all features: above the threshold.
	for _, x := range [][]float64{{18, 0, 0.5}, {10, 12, 0.5}, {10, 0, 4}} {
		if s := f.raw(x); s <= median {
			t.Errorf("outlier %v scored %v, not above the median normal point (%v)", x, s, median)
		}
	}
	// A point beyond the training values scores higher the farther out it
	// lies, and far out it is above the threshold, though only one
	// feature of three is off: splits on that feature would set it apart.
	prev := median
	for _, a := range []float64{15, 20, 40} {
		s := f.raw([]float64{a, 0, 0.5})
		if s <= prev {
			t.Errorf("a point at a=%v scored %v, not above the nearer one's %v", a, s, prev)
		}
		prev = s
	}
	if s := f.raw([]float64{20, 0, 0.5}); s < f.Threshold {
		t.Errorf("a point ten spreads out on a scored %v, under the threshold %v", s, f.Threshold)
	}
	// In one dimension an outlier isolates at once.
	one := make([][]float64, 1000)
	for i, r := range cluster(1000, 5) {
		one[i] = r[:1]
	}
	g, err := TrainIForest("iforest-1d", "t", []string{"a"}, one, IForestConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if s := g.raw([]float64{18}); s < g.Threshold || s < 0.65 {
		t.Errorf("1-D outlier scored %v (threshold %v)", s, g.Threshold)
	}
	for _, x := range [][]float64{{16, 9, 3}, {4, -9, -2}} {
		if s := f.raw(x); s < f.Threshold {
			t.Errorf("outlier %v scored %v, under the threshold %v", x, s, f.Threshold)
		}
	}
	if s := avgPath(256); s < 10.2 || s > 10.3 { // c(256) = 10.24 (Liu et al.)
		t.Errorf("c(256) = %v", s)
	}
}

func TestIForestArtifactRoundTripAndStore(t *testing.T) {
	names := FeatureNames(0)
	rows := make([][]float64, 100)
	for i, r := range cluster(100, 3) {
		rows[i] = append(r, make([]float64, len(names)-3)...)
	}
	f, err := TrainIForest("iforest-pressure", "pressure", names, rows, IForestConfig{Trees: 20})
	if err != nil {
		t.Fatal(err)
	}
	f.Version = "20261125T100000Z"
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	art, err := EncodeArtifact(Manifest{Name: f.Model, Version: f.Version}, b)
	if err != nil {
		t.Fatal(err)
	}
	st := &FileStore{Dir: t.TempDir()}
	ctx := context.Background()
	uri, sha, err := st.Put(ctx, f.Model, f.Version, art)
	if err != nil {
		t.Fatal(err)
	}
	older := *f
	older.Version = "20261124T000000Z"
	ob, _ := older.Marshal()
	oart, _ := EncodeArtifact(Manifest{Name: older.Model, Version: older.Version}, ob)
	if _, _, err := st.Put(ctx, older.Model, older.Version, oart); err != nil {
		t.Fatal(err)
	}
	latest, err := Latest(ctx, st, f.Model)
	if err != nil || latest != uri {
		t.Fatalf("latest %q (%v), want %q", latest, err, uri)
	}
	g, _, err := LoadIForest(ctx, st, uri, sha)
	if err != nil {
		t.Fatal(err)
	}
	fv := &schemas.FeatureVector{SensorID: "s", SensorType: "pressure", Mean: 12, Std: 1, Min: 0.2, WindowStart: time.Now()}
	v1, v2 := f.Detector().Score(fv), g.Detector().Score(fv)
	if !v1.OK || !v2.OK || v1.Score != v2.Score || len(v1.Shares) == 0 {
		t.Fatalf("verdicts %+v / %+v", v1, v2)
	}
	if g.Detector().Version() != "iforest-pressure@20261125T100000Z" {
		t.Errorf("version %q", g.Detector().Version())
	}
	// A vector with band energies does not fit a model without them.
	fv.BandEnergies = []float64{1, 2}
	if g.Detector().Score(fv).OK {
		t.Error("scored a vector with the wrong number of features")
	}
	// Tampered bytes fail the checksum; garbage, a model without a
	// manifest and a malformed tree fail to load.
	path := strings.TrimPrefix(uri, "file://")
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"tampered", tamper(art), ErrChecksum},
		{"truncated", art[:len(art)-10], ErrCorrupt},
		{"no manifest (an older smaint's)", b, ErrCorrupt},
		{"malformed tree", must(EncodeArtifact(Manifest{Name: "x"}, []byte(`{"model":"x","trees":[{"nodes":[{"f":0,"l":0,"r":5}]}],"features":["a"],"sample_size":4}`))), ErrCorrupt},
		{"a centre of the wrong length", must(EncodeArtifact(Manifest{Name: "x"}, []byte(`{"model":"x","trees":[{"nodes":[{"f":-1,"n":4}]}],"features":["a"],"sample_size":4,"centres":{"s":[1,2]}}`))), ErrCorrupt},
	} {
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadIForest(ctx, st, uri, ""); !errors.Is(err, tc.want) {
			t.Errorf("%s artifact: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := Latest(ctx, st, "missing"); !errors.Is(err, ErrNoModel) {
		t.Errorf("missing model: %v", err)
	}
	if _, _, err := st.Put(ctx, "../escape", "v1", b); err == nil {
		t.Error("a model name with a path in it was accepted")
	}
	if _, err := OpenModelStore("s3://bucket/models"); err == nil {
		t.Error("s3:// is sinks/s3store's; score's opener should say it does not open it")
	}
	if s, err := OpenModelStore("file://" + filepath.Join(t.TempDir(), "m")); err != nil || s == nil {
		t.Errorf("file store: %v", err)
	}
	if _, err := TrainIForest("m", "t", []string{"a"}, [][]float64{{1}}, IForestConfig{}); !errors.Is(err, ErrTraining) {
		t.Errorf("too little data: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tamper changes the model's threshold (after the manifest's copy of
// it): 0.6 becomes 10.6.
func tamper(art []byte) []byte {
	at := strings.LastIndex(string(art), `"threshold":`) + len(`"threshold":`)
	return []byte(string(art[:at]) + "1" + string(art[at:]))
}

// Trained on few rows, a forest still flags about its contamination of
// new windows from the same distribution: its threshold comes from each
// training row scored by the trees that did not see it.
func TestIForestThresholdHoldsForNewPoints(t *testing.T) {
	f, err := TrainIForest("iforest-test", "t", []string{"a", "b", "c"}, cluster(100, 11), IForestConfig{Contamination: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, x := range cluster(2000, 12) {
		if f.raw(x) >= f.Threshold {
			flagged++
		}
	}
	t.Logf("%d of 2000 new points flagged", flagged)
	if flagged > 65 || flagged < 15 { // 2%: about 40; scored by the trees that saw them, 77
		t.Errorf("%d of 2000 new points above the threshold, want about 40", flagged)
	}
}

// An artifact of the format before centres and ranges (trees under
// "trees") still loads and scores every sensor on raw features; one of
// this format keeps its trees under "forest", where an older smaint,
// which reads "trees", finds none and refuses it.
func TestIForestReadsTheFormatBefore(t *testing.T) {
	f, err := TrainIForest("iforest-test", "t", []string{"a", "b", "c"}, cluster(200, 1), IForestConfig{Trees: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"forest":[`) || strings.Contains(string(b), `"trees":`) {
		t.Fatalf("a new artifact keeps its trees elsewhere than under forest: %.120s", b)
	}
	old := strings.Replace(string(b), `"forest":`, `"trees":`, 1)
	g, err := UnmarshalIForest([]byte(old))
	if err != nil || len(g.Trees) != 5 || g.Centres != nil || !g.Knows("any") {
		t.Fatalf("the format before: %v, %d trees", err, len(g.Trees))
	}
	if x := []float64{10, 0, 0.5}; g.raw(x) != f.raw(x) {
		t.Fatalf("scored %v, the forest it was %v", g.raw(x), f.raw(x))
	}
}
