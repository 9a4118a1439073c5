package timescale

import (
	"fmt"

	"github.com/smaint/smaint/pipeline"
)

// Node returns the stage, named name, that stores the records of topic in
// their table: the clean readings, features, scores, drift reports,
// alerts, retrain requests, predictions and maintenance records of the
// topics t.
func Node(name, topic string, t pipeline.Topics, cfg Config) (pipeline.Node, error) {
	switch topic {
	case t.Clean:
		return node(name, topic, Readings, cfg)
	case t.Features:
		return node(name, topic, Features, cfg)
	case t.Scores:
		return node(name, topic, Scores, cfg)
	case t.Drift:
		return node(name, topic, Drift, cfg)
	case t.Forecasts:
		return node(name, topic, Forecasts, cfg)
	case t.Alerts:
		return node(name, topic, Alerts, cfg)
	case t.Retrain:
		return node(name, topic, Retrain, cfg)
	case t.Predictions:
		return node(name, topic, Predictions, cfg)
	case t.Maintenance:
		return node(name, topic, Maintenance, cfg)
	}
	return pipeline.Node{}, fmt.Errorf("%w: no table stores topic %s", pipeline.ErrConfig, topic)
}

func node[T any](name, topic string, table Table[T], cfg Config) (pipeline.Node, error) {
	s, err := New(table, cfg)
	if err != nil {
		return pipeline.Node{}, err
	}
	return pipeline.NewNode(name, []string{topic}, pipeline.Stage[T](s), nil), nil
}
