package images

import (
	"log/slog"
	"sync"
	"time"
)

// Progress describes one file transfer (download into a region or rack, or
// an upload). The API and CLI show it; the same figures go to the logs.
type Progress struct {
	Name     string        // logical name, e.g. "ubuntu/amd64/generic/noble/generic/boot-kernel"
	SHA256   string        // digest of the file being transferred
	Source   string        // URL or path being read
	Done     int64         // bytes present so far, including a resumed prefix
	Total    int64         // expected size
	Resumed  int64         // offset the transfer resumed from (0: from scratch)
	Rate     float64       // bytes per second since this transfer started
	ETA      time.Duration // estimated time left at Rate; 0 when unknown or done
	Finished bool          // last report for this transfer (verified and installed, or failed)
	Err      error         // why the transfer failed, when Finished and it did
}

// ProgressFunc receives progress reports. It is called from the transferring
// goroutine, at most every ProgressInterval per file plus a final report; it
// must not block for long.
type ProgressFunc func(Progress)

// meter turns byte counts into rate-limited progress reports and log lines.
type meter struct {
	mu        sync.Mutex
	p         Progress
	start     time.Time
	lastCall  time.Time
	lastLog   time.Time
	callEvery time.Duration
	logEvery  time.Duration
	fn        ProgressFunc
	log       *slog.Logger
	now       func() time.Time
}

func newMeter(p Progress, fn ProgressFunc, log *slog.Logger, now func() time.Time, callEvery, logEvery time.Duration) *meter {
	t := now()
	return &meter{p: p, start: t, lastCall: t, lastLog: t, fn: fn, log: log, now: now, callEvery: callEvery, logEvery: logEvery}
}

func (m *meter) add(n int) {
	m.mu.Lock()
	m.p.Done += int64(n)
	t := m.now()
	m.fill(t)
	var call, logIt bool
	if t.Sub(m.lastCall) >= m.callEvery {
		m.lastCall, call = t, true
	}
	if t.Sub(m.lastLog) >= m.logEvery {
		m.lastLog, logIt = t, true
	}
	p := m.p
	m.mu.Unlock()
	if logIt {
		m.log.Info("image transfer progress", "name", p.Name, "sha256", p.SHA256, "source", p.Source,
			"bytes", p.Done, "total", p.Total, "rate_mib_s", p.Rate/(1<<20), "eta", p.ETA.Round(time.Second))
	}
	if call && m.fn != nil {
		m.fn(p)
	}
}

func (m *meter) fill(t time.Time) {
	el := t.Sub(m.start).Seconds()
	if el > 0 {
		m.p.Rate = float64(m.p.Done-m.p.Resumed) / el
	}
	m.p.ETA = 0
	if m.p.Rate > 0 && m.p.Total > m.p.Done {
		m.p.ETA = time.Duration(float64(m.p.Total-m.p.Done) / m.p.Rate * float64(time.Second))
	}
}

func (m *meter) finish(err error) {
	m.mu.Lock()
	m.fill(m.now())
	m.p.Finished, m.p.Err = true, err
	p := m.p
	m.mu.Unlock()
	if m.fn != nil {
		m.fn(p)
	}
}
