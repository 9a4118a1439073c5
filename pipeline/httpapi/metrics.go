package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec   // route, code
	seconds  *prometheus.HistogramVec // route
	limited  *prometheus.CounterVec   // key
	readings *prometheus.CounterVec   // result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_api_requests_total", Help: "HTTP API requests answered, by route and status code.",
		}, []string{"route", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smaint_api_request_duration_seconds", Help: "How long HTTP API requests took to answer, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_api_rate_limited_total", Help: "HTTP API requests refused with 429, by API key name.",
		}, []string{"key"}),
		readings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_api_readings_total", Help: "Readings posted to the HTTP API: accepted (written to Kafka) or rejected (invalid, answered with the reason).",
		}, []string{"result"}),
	}
	// Series from the start, at zero, so that dashboards and rules see
	// the API before its first request.
	for _, r := range []string{"accepted", "rejected"} {
		m.readings.WithLabelValues(r)
	}
	for _, rc := range [][2]string{{"readings", "202"}, {"sensor", "200"}, {"alerts", "200"}, {"health", "200"}} {
		m.requests.WithLabelValues(rc[0], rc[1])
		m.seconds.WithLabelValues(rc[0])
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.seconds, m.limited, m.readings)
	}
	return m
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.seconds.WithLabelValues(route).Observe(d.Seconds())
}
