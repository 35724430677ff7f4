package pxe

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors both servers count into. Create one
// with NewMetrics and pass it to both with WithMetrics.
type Metrics struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

func newMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironkit", Subsystem: "pxe", Name: "requests_total",
			Help: "File requests by protocol (tftp, http) and result (ok, not_found, refused, error).",
		}, []string{"proto", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ironkit", Subsystem: "pxe", Name: "sent_bytes_total",
			Help: "Payload bytes sent by protocol.",
		}, []string{"proto"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ironkit", Subsystem: "pxe", Name: "request_duration_seconds",
			Help:    "Time from request to last byte, by protocol.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"proto"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "ironkit", Subsystem: "pxe", Name: "transfers_in_flight",
			Help: "Transfers being served, by protocol.",
		}, []string{"proto"}),
	}
}

// NewMetrics creates the collectors and registers them on reg (never the
// global default unless the caller passes it).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	for _, c := range []prometheus.Collector{m.requests, m.bytes, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(proto string, r result, bytes int64, d time.Duration) {
	m.requests.WithLabelValues(proto, string(r)).Inc()
	if bytes > 0 {
		m.bytes.WithLabelValues(proto).Add(float64(bytes))
	}
	m.duration.WithLabelValues(proto).Observe(d.Seconds())
}
