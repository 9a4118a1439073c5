package retrain

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/score"
)

// decide trains r's candidate on its windows, less every k-th held out,
// judges it and the store's current version on those, and publishes the
// candidate unless it flags more of them than the current one (plus
// Config.Tolerance). It returns the decision; an error only when the
// store could not be read or written.
func (s *Stage) decide(ctx context.Context, r *request) (*schemas.ModelUpdated, error) {
	every := max(2, int(math.Round(1/s.cfg.Holdout)))
	var train [][]float64
	var hold []*schemas.FeatureVector
	from, to := r.windows[0].WindowStart, r.windows[0].WindowEnd
	for i := range r.windows {
		fv := &r.windows[i]
		from, to = minTime(from, fv.WindowStart), maxTime(to, fv.WindowEnd)
		if i%every == every-1 {
			hold = append(hold, fv)
			continue
		}
		train = append(train, score.FeatureValues(nil, fv))
	}
	u := &schemas.ModelUpdated{ModelName: r.ev.ModelName, TrainFrom: from, TrainUntil: to, TrainedAt: s.cfg.Clock.Now().UTC(),
		Metrics: map[string]float64{"windows": float64(len(train)), "holdout": float64(len(hold))}}
	cand, err := score.TrainIForest(r.ev.ModelName, r.typ, score.FeatureNames(r.bands), train, s.cfg.Forest)
	if err != nil {
		u.Action, u.Reason = schemas.ModelRejected, "training failed: "+err.Error()
		return u, nil
	}
	candFAR, spread := falseAlerts(cand, hold)
	u.Metrics["far_candidate"], u.Metrics["score_std"] = candFAR, spread

	refused := func(model, version string, err error) {
		s.cfg.Logger.Warn("model version refused while judging a candidate", "model", model, "version", version, "err", err)
	}
	current, err := score.LoadModels(ctx, s.cfg.Store, []string{r.typ}, refused)
	if err != nil {
		return nil, err
	}
	cur := current[r.typ]
	if cur != nil {
		curFAR, _ := falseAlerts(cur, hold)
		u.Metrics["far_current"] = curFAR
		if candFAR > curFAR+s.cfg.Tolerance {
			u.Action = schemas.ModelRejected
			u.Reason = fmt.Sprintf("%s: the candidate flags %.1f%% of %d windows held out after the request, the current version %s %.1f%% (tolerance %.1f points)",
				r.ev.Reason, 100*candFAR, len(hold), cur.Version, 100*curFAR, 100*s.cfg.Tolerance)
			return u, nil
		}
	}
	u.Version = r.ev.RequestedAt.UTC().Format("20060102T150405Z") // as smaint train names versions
	pub, err := score.Publish(ctx, s.cfg.Store, []*score.IForest{cand}, u.Version, score.Manifest{
		CreatedAt: u.TrainedAt, TrainedFrom: from.UTC(), TrainedTo: to.UTC(),
		Params: map[string]any{"trees": s.cfg.Forest.Trees, "sample_size": s.cfg.Forest.SampleSize,
			"contamination": s.cfg.Forest.Contamination, "seed": s.cfg.Forest.Seed, "request": r.ev.EventID},
	})
	if err != nil {
		return nil, err
	}
	u.URI, u.SHA256 = pub[0].URI, pub[0].SHA256
	u.Action = schemas.ModelPublished
	if s.cfg.Shadow {
		u.Action = schemas.ModelShadow
	} else if err := s.cfg.Store.SetLive(ctx, r.ev.ModelName, u.Version); err != nil {
		return nil, err
	}
	u.Reason = fmt.Sprintf("%s: the candidate flags %.1f%% of %d windows held out after the request", r.ev.Reason, 100*candFAR, len(hold))
	if cur != nil {
		u.Reason += fmt.Sprintf(", the current version %s %.1f%%", cur.Version, 100*u.Metrics["far_current"])
	} else {
		u.Reason += "; there was no version before"
	}
	return u, nil
}

// falseAlerts returns the share of windows m flags (score at or over its
// threshold), and the standard deviation of its scores.
func falseAlerts(m *score.IForest, windows []*schemas.FeatureVector) (far, spread float64) {
	d := m.Detector()
	var n, flagged int
	var sum, sq float64
	for _, fv := range windows {
		v := d.Score(fv)
		if !v.OK {
			continue
		}
		n++
		sum += v.Score
		sq += v.Score * v.Score
		if v.Score >= m.Threshold {
			flagged++
		}
	}
	if n == 0 {
		return 0, 0
	}
	mean := sum / float64(n)
	return float64(flagged) / float64(n), math.Sqrt(max(0, sq/float64(n)-mean*mean))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
