package backtest

import "math"

// NABProfile weighs the windowed benchmark score (the Numenta Anomaly
// Benchmark's method): what a labelled window caught early gains (TP), what
// a detection outside every window costs (FP) and what a window missed
// costs (FN).
type NABProfile struct {
	Name       string
	TP, FP, FN float64
}

// NABProfiles are the benchmark's three published profiles.
var NABProfiles = []NABProfile{
	{Name: "standard", TP: 1, FP: 0.11, FN: 1},
	{Name: "reward_low_fp", TP: 1, FP: 0.22, FN: 1},
	{Name: "reward_low_fn", TP: 1, FP: 0.11, FN: 2},
}

// NABScore is one profile's windowed score over every file added:
// Score is 100·(Raw − Null)/(Perfect − Null), where Null is the raw score
// of flagging nothing and Perfect that of one detection at the start of
// every window and none elsewhere (so 0 is no better than silence, 100 is
// perfect, and a flood of false detections goes below 0).
type NABScore struct {
	Profile string  `json:"profile"`
	Score   float64 `json:"score"`
	Raw     float64 `json:"raw"`
	Null    float64 `json:"null"`
	Perfect float64 `json:"perfect"`
}

// nabSigmoid is the benchmark's scaled sigmoid of a detection's position
// relative to a window: −1 at a window's start scores 0.987, its end 0,
// and positions past it go towards −1 (−1 itself from 3 window lengths).
func nabSigmoid(pos float64) float64 {
	if pos >= 3 {
		return -1
	}
	return 2/(1+math.Exp(5*pos)) - 1
}

// addNAB adds one file's windowed scores to d.NAB. The windows are the
// runs of anomalous labels; the detections are the onsets of flagged
// spans (a time flagged after one that was not: an alert opening, or the
// first of a run of anomalous windows), so that an alert held open is one
// detection, not one per row. Within a window only its earliest detection
// counts, weighted by how early it came; each detection outside every
// window costs FP times how far it is past the last window's end, in that
// window's lengths (a full FP before the first window).
func (d *Detection) addNAB(labels []Label, flagged Flagged) {
	if d.NAB == nil {
		for _, p := range NABProfiles {
			d.NAB = append(d.NAB, NABScore{Profile: p.Name})
		}
	}
	// Windows as index ranges.
	type window struct{ left, right int }
	var windows []window
	for i, l := range labels {
		switch {
		case !l.Anomalous:
		case i > 0 && labels[i-1].Anomalous:
			windows[len(windows)-1].right = i
		default:
			windows = append(windows, window{i, i})
		}
	}
	// best[w]: window w's best detection as a share of the earliest
	// possible, -1 while it has none; fpCost: the summed sigmoids of the
	// detections outside (each negative).
	best := make([]float64, len(windows))
	for i := range best {
		best[i] = -1
	}
	maxTP := nabSigmoid(-1)
	var fpCost float64
	w := 0       // next window, or the current one
	prev := -1   // the last window passed
	was := false // the previous time was flagged
	for i, l := range labels {
		f := flagged[l.TS.UnixNano()]
		onset := f && !was
		was = f
		for w < len(windows) && windows[w].right < i {
			prev, w = w, w+1
		}
		if !onset {
			continue
		}
		if w < len(windows) && windows[w].left <= i {
			win := windows[w]
			width := float64(win.right - win.left + 1)
			best[w] = max(best[w], nabSigmoid(-float64(win.right-i+1)/width)/maxTP)
			continue
		}
		pos := 3.0
		if prev >= 0 {
			p := windows[prev]
			pos = float64(i-p.right) / math.Max(1, float64(p.right-p.left))
		}
		fpCost += nabSigmoid(pos)
	}
	for k, p := range NABProfiles {
		s := &d.NAB[k]
		s.Raw += p.FP * fpCost
		for _, b := range best {
			if b < 0 {
				s.Raw -= p.FN
			} else {
				s.Raw += p.TP * b
			}
		}
		s.Null -= p.FN * float64(len(windows))
		s.Perfect += p.TP * float64(len(windows))
	}
}

// finishNAB normalises the raw scores.
func (d *Detection) finishNAB() {
	for i := range d.NAB {
		s := &d.NAB[i]
		if s.Perfect > s.Null {
			s.Score = 100 * (s.Raw - s.Null) / (s.Perfect - s.Null)
		}
	}
}
