package main

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/alert"
	"github.com/smaint/smaint/stages/drift"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/score"
)

// offline runs the analytics stages in process, without Kafka, over
// readings in event time: the same stages and configuration as the
// stream, driven through pipeline.Local, so that a backtest scores data
// as the stream would. It treats the input as one partition.
type offline struct {
	features *pipeline.Local[schemas.SensorReading]
	drift    *pipeline.Local[schemas.SensorReading]
	score    *pipeline.Local[schemas.FeatureVector]
	alert    *pipeline.Local[alert.Event]
	topics   pipeline.Topics
	dec      *schemas.Decoder
	offsets  map[string]int64

	onScore   func(*schemas.AnomalyScore)
	onAlert   func(*schemas.Alert)
	onDrift   func(*schemas.DriftReport)
	onRetrain func()
}

// clockAt is a settable clock: the offline run's processing time.
type clockAt struct{ t time.Time }

func (c *clockAt) Now() time.Time { return c.t }

func newOffline(ctx context.Context, fc features.Config, sc score.Config, dc *drift.Config, ac alert.Config, topics pipeline.Topics) (*offline, error) {
	o := &offline{topics: topics, dec: schemas.NewSerde().NewDecoder(), offsets: map[string]int64{}}
	fc.Clock = &clockAt{}
	fs, err := features.New(fc)
	if err != nil {
		return nil, err
	}
	ss, err := score.New(sc)
	if err != nil {
		return nil, err
	}
	as, err := alert.New(ac)
	if err != nil {
		return nil, err
	}
	if o.features, err = pipeline.NewLocal(ctx, "features", pipeline.Stage[schemas.SensorReading](fs), nil); err != nil {
		return nil, err
	}
	if o.score, err = pipeline.NewLocal(ctx, "score", pipeline.Stage[schemas.FeatureVector](ss), nil); err != nil {
		return nil, err
	}
	if o.alert, err = pipeline.NewLocal(ctx, "alert", pipeline.Stage[alert.Event](as), nil); err != nil {
		return nil, err
	}
	if dc != nil {
		ds, err := drift.New(*dc)
		if err != nil {
			return nil, err
		}
		if o.drift, err = pipeline.NewLocal(ctx, "drift", pipeline.Stage[schemas.SensorReading](ds), nil); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func msgs[T any](o *offline, topic string, vs []T) []pipeline.Msg[T] {
	out := make([]pipeline.Msg[T], len(vs))
	for i, v := range vs {
		out[i] = pipeline.Msg[T]{Value: v, Topic: topic, Offset: o.offsets[topic]}
		o.offsets[topic]++
	}
	return out
}

// push runs a batch of readings through the stages.
func (o *offline) push(ctx context.Context, rs []schemas.SensorReading) error {
	res, err := o.features.Process(ctx, msgs(o, o.topics.Clean, rs))
	if err == nil {
		err = rejected("features", res)
	}
	if err != nil {
		return err
	}
	if err := o.downstream(ctx, res); err != nil {
		return err
	}
	if o.drift == nil {
		return nil
	}
	dres, err := o.drift.Process(ctx, msgs(o, o.topics.Clean+"#drift", rs))
	if err == nil {
		err = rejected("drift", dres)
	}
	if err != nil {
		return err
	}
	for _, e := range dres.Records {
		if e.Topic == o.topics.Retrain && o.onRetrain != nil {
			o.onRetrain()
		}
	}
	reports, err := pipeline.Decode[schemas.DriftReport](ctx, dres, o.topics.Drift)
	if err != nil {
		return err
	}
	var evs []alert.Event
	for i := range reports {
		if o.onDrift != nil {
			o.onDrift(&reports[i])
		}
		evs = append(evs, alert.Event{Drift: &reports[i]})
	}
	return o.alerts(ctx, o.topics.Drift, evs)
}

// flush closes the windows still open, as the stream does when its input
// goes idle.
func (o *offline) flush(ctx context.Context) error {
	res, err := o.features.Tick(ctx, time.Now().Add(24*time.Hour))
	if err != nil {
		return err
	}
	return o.downstream(ctx, res)
}

// downstream scores the feature vectors in res and applies the scores.
func (o *offline) downstream(ctx context.Context, res pipeline.Result) error {
	fvs, err := pipeline.Decode[schemas.FeatureVector](ctx, res, o.topics.Features)
	if err != nil || len(fvs) == 0 {
		return err
	}
	sres, err := o.score.Process(ctx, msgs(o, o.topics.Features, fvs))
	if err == nil {
		err = rejected("score", sres)
	}
	if err != nil {
		return err
	}
	scores, err := pipeline.Decode[schemas.AnomalyScore](ctx, sres, o.topics.Scores)
	if err != nil {
		return err
	}
	evs := make([]alert.Event, len(scores))
	for i := range scores {
		if o.onScore != nil {
			o.onScore(&scores[i])
		}
		evs[i] = alert.Event{Score: &scores[i]}
	}
	return o.alerts(ctx, o.topics.Scores, evs)
}

func (o *offline) alerts(ctx context.Context, topic string, evs []alert.Event) error {
	if len(evs) == 0 {
		return nil
	}
	res, err := o.alert.Process(ctx, msgs(o, topic, evs))
	if err == nil {
		err = rejected("alert", res)
	}
	if err != nil {
		return err
	}
	as, err := pipeline.Decode[schemas.Alert](ctx, res, o.topics.Alerts)
	if err != nil {
		return err
	}
	for i := range as {
		if o.onAlert != nil {
			o.onAlert(&as[i])
		}
	}
	return nil
}

// rejected turns the records a stage dead-lettered into an error: offline
// there is no dead-letter topic, and a backtest that silently lost input
// would mislead.
func rejected(stage string, res pipeline.Result) error {
	if len(res.Rejected) == 0 {
		return nil
	}
	return fmt.Errorf("%s stage rejected %d records; first: %w", stage, len(res.Rejected), res.Rejected[0].Err)
}
