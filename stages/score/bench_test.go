package score_test

import (
	"testing"

	"github.com/smaint/smaint/stages/score"
)

// BenchmarkScore measures one window's scoring, baseline in place.
func BenchmarkScore(b *testing.B) {
	fvs := windows("p1", "vibration", 1000, 0)
	for i := range fvs {
		fvs[i].BandEnergies = []float64{1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.01}
	}
	b.Run("detector=adaptive", func(b *testing.B) {
		a := score.NewAdaptive(score.AdaptiveConfig{}, func(string) float64 { return 0.5 })
		for i := range 40 {
			a.Score(&fvs[i])
		}
		i := 0
		for b.Loop() {
			a.Score(&fvs[i%len(fvs)])
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/window")
	})
	b.Run("detector=robust", func(b *testing.B) {
		r := score.NewRobust(score.RobustConfig{}, func(string) float64 { return 0.5 })
		for i := range 70 {
			r.Score(&fvs[i])
		}
		i := 0
		for b.Loop() {
			r.Score(&fvs[i%len(fvs)])
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/window")
	})
	b.Run("detector=iforest", func(b *testing.B) {
		var rows [][]float64
		for i := range fvs {
			rows = append(rows, score.FeatureValues(nil, &fvs[i]))
		}
		m, err := score.TrainIForest("m", "vibration", score.FeatureNames(8), rows, score.IForestConfig{})
		if err != nil {
			b.Fatal(err)
		}
		d := m.Detector()
		i := 0
		for b.Loop() {
			d.Score(&fvs[i%len(fvs)])
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/window")
	})
}
