package images

import "github.com/prometheus/client_golang/prometheus"

// metrics are the collectors of one Store or Cache. They are registered on
// the caller's Registerer (never the global default); with none they still
// count, unregistered.
type metrics struct {
	bytes          prometheus.Counter
	verifyFailures prometheus.Counter
	syncs          *prometheus.CounterVec
	missing        prometheus.Gauge
	cachedBytes    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, subsystem string) (*metrics, error) {
	m := &metrics{
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ironkit", Subsystem: subsystem,
			Name: "transferred_bytes_total", Help: "Image bytes received (downloads and uploads)."}),
		verifyFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ironkit", Subsystem: subsystem,
			Name: "verify_failures_total", Help: "Transfers or stored files whose SHA-256 or size did not match."}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ironkit", Subsystem: subsystem,
			Name: "syncs_total", Help: "Sync or import runs by result."}, []string{"result"}),
		missing: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "ironkit", Subsystem: subsystem,
			Name: "missing_files", Help: "Files listed as needed but not present and verified."}),
		cachedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "ironkit", Subsystem: subsystem,
			Name: "stored_bytes", Help: "Bytes of verified files stored."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.bytes, m.verifyFailures, m.syncs, m.missing, m.cachedBytes} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
