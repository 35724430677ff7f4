package dhcpsrv

import (
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors. Hot-path counters are
// resolved once so a packet costs an atomic add, not a label lookup.
type metrics struct {
	in      [256]prometheus.Counter
	out     [256]prometheus.Counter
	drops   *prometheus.CounterVec
	dropRes map[string]prometheus.Counter
	commits prometheus.Counter
	batches prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{dropRes: map[string]prometheus.Counter{}}
	pkts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ironkit", Subsystem: "dhcp", Name: "packets_total",
		Help: "DHCP packets by direction (in, out) and message type.",
	}, []string{"direction", "type"})
	m.drops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "ironkit", Subsystem: "dhcp", Name: "drops_total",
		Help: "Requests dropped without a reply, by reason.",
	}, []string{"reason"})
	m.commits = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ironkit", Subsystem: "dhcp", Name: "lease_records_total",
		Help: "Lease records made durable.",
	})
	m.batches = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "ironkit", Subsystem: "dhcp", Name: "lease_syncs_total",
		Help: "fdatasync calls of the lease log (records/syncs is the group-commit factor).",
	})
	for i := range 256 {
		name := dhcpv4.MessageType(i).String()
		if i == 0 || len(name) > 7 && name[:7] == "unknown" {
			name = "other"
		}
		m.in[i] = pkts.WithLabelValues("in", name)
		m.out[i] = pkts.WithLabelValues("out", name)
	}
	for _, r := range []string{DropMalformed, DropNotRequest, DropBadHWAddr, DropNoType, DropUnsupported,
		DropNoSubnet, DropExhausted, DropNotForUs, DropOutOfScope, DropUnknownAddr, dropNoInterface, dropPanic, dropSend, dropPingConflict} {
		m.dropRes[r] = m.drops.WithLabelValues(r)
	}
	active := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ironkit", Subsystem: "dhcp", Name: "active_leases",
		Help: "Bound, unexpired leases per subnet.",
	}, []string{"subnet"})
	util := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ironkit", Subsystem: "dhcp", Name: "pool_utilisation_ratio",
		Help: "Fraction of dynamic pool addresses held (bound, offered or declined) per subnet.",
	}, []string{"subnet"})
	if reg != nil {
		reg.MustRegister(pkts, m.drops, m.commits, m.batches, &stateCollector{s: s, active: active, util: util})
	}
	return m
}

func (m *metrics) drop(reason string) {
	if c, ok := m.dropRes[reason]; ok {
		c.Inc()
		return
	}
	m.drops.WithLabelValues(reason).Inc()
}

// stateCollector computes lease gauges from the lease table at scrape time.
type stateCollector struct {
	s            *Server
	active, util *prometheus.GaugeVec
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	c.active.Describe(ch)
	c.util.Describe(ch)
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.s.Stats() {
		c.active.WithLabelValues(st.Subnet).Set(float64(st.Active))
		if st.PoolSize > 0 {
			c.util.WithLabelValues(st.Subnet).Set(float64(st.PoolHeld) / float64(st.PoolSize))
		}
	}
	c.active.Collect(ch)
	c.util.Collect(ch)
}
