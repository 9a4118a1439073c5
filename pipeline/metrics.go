package pipeline

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metrics are the runner's Prometheus metrics, labelled by stage. Create
// one Metrics per registry and share it between the runners of a process.
type Metrics struct {
	in       *prometheus.CounterVec
	out      *prometheus.CounterVec
	dlq      *prometheus.CounterVec
	process  *prometheus.HistogramVec
	ack      *prometheus.HistogramVec
	lag      *prometheus.GaugeVec
	inflight *prometheus.GaugeVec
	retries  *prometheus.CounterVec
	stalled  *prometheus.GaugeVec
	txns     *prometheus.CounterVec
}

// NewMetrics registers the runner metrics with reg. A nil reg registers
// them nowhere, which suits tests.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_records_in_total", Help: "Records consumed by a stage, decodable or not.",
		}, []string{"stage"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_records_out_total", Help: "Records a stage produced and the brokers acknowledged, by topic (dead letters excluded).",
		}, []string{"stage", "topic"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_records_dlq_total", Help: "Records a stage sent to the dead-letter topic, by kind of error.",
		}, []string{"stage", "kind"}),
		process: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smaint_batch_process_seconds", Help: "Time to decode, process and encode one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}, []string{"stage"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smaint_batch_ack_seconds", Help: "Time from a batch's poll until every output of it was acknowledged.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}, []string{"stage"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_consumer_lag", Help: "Records between a stage's position and the partition's high watermark, as of its last fetch.",
		}, []string{"stage", "topic", "partition"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_inflight_batches", Help: "Batches processed but not yet acknowledged.",
		}, []string{"stage"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_batch_retries_total", Help: "Batches whose Process failed and was retried.",
		}, []string{"stage"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smaint_stage_stalled", Help: "1 while a stage has held a batch, in Process or awaiting acknowledgements, for longer than its stall limit.",
		}, []string{"stage"}),
		txns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_transactions_total", Help: "Transactions a stage running exactly once ended, by outcome (committed, aborted).",
		}, []string{"stage", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.in, m.out, m.dlq, m.process, m.ack, m.lag, m.inflight, m.retries, m.stalled, m.txns)
	}
	return m
}

// stageMetrics are one stage's children of Metrics, resolved once.
type stageMetrics struct {
	m        *Metrics
	stage    string
	in       prometheus.Counter
	dlq      [numKinds]prometheus.Counter
	process  prometheus.Observer
	ack      prometheus.Observer
	inflight prometheus.Gauge
	retries  prometheus.Counter
	stalled  prometheus.Gauge
	txnsOK   prometheus.Counter
	aborts   prometheus.Counter
	out      map[string]prometheus.Counter
	lag      map[TopicPartition]prometheus.Gauge
}

func (m *Metrics) forStage(stage string) *stageMetrics {
	s := &stageMetrics{
		m: m, stage: stage,
		in:       m.in.WithLabelValues(stage),
		process:  m.process.WithLabelValues(stage),
		ack:      m.ack.WithLabelValues(stage),
		inflight: m.inflight.WithLabelValues(stage),
		retries:  m.retries.WithLabelValues(stage),
		stalled:  m.stalled.WithLabelValues(stage),
		txnsOK:   m.txns.WithLabelValues(stage, "committed"),
		aborts:   m.txns.WithLabelValues(stage, "aborted"),
		out:      make(map[string]prometheus.Counter),
		lag:      make(map[TopicPartition]prometheus.Gauge),
	}
	for i, k := range kindNames {
		s.dlq[i] = m.dlq.WithLabelValues(stage, k)
	}
	return s
}

// outCounter is called from the committer goroutine only.
func (s *stageMetrics) outCounter(topic string) prometheus.Counter {
	c, ok := s.out[topic]
	if !ok {
		c = s.m.out.WithLabelValues(s.stage, topic)
		s.out[topic] = c
	}
	return c
}

// setLag is called from the polling goroutine only.
func (s *stageMetrics) setLag(tp TopicPartition, lag int64) {
	g, ok := s.lag[tp]
	if !ok {
		g = s.m.lag.WithLabelValues(s.stage, tp.Topic, strconv.Itoa(int(tp.Partition)))
		s.lag[tp] = g
	}
	g.Set(float64(lag))
}

// SumMetric returns the sum of the counter or gauge name over the series
// of mfs (gathered from a registry, or scraped) whose labels include
// match, or 0 if there are none.
func SumMetric(mfs []*dto.MetricFamily, name string, match map[string]string) float64 {
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := match[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
