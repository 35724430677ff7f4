package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// errStalled cancels a transfer that received nothing for StallTimeout.
var errStalled = errors.New("images: transfer stalled")

// fetcher downloads blobs into a blobStore from a list of sources, resuming
// partial files, verifying SHA-256 and size, and installing by rename. It is
// shared by the region (mirror import, region-to-region sync) and the rack.
type fetcher struct {
	client       *http.Client
	limiter      *rate.Limiter // nil: no bandwidth cap
	log          *slog.Logger
	onProgress   ProgressFunc
	stallTimeout time.Duration
	callEvery    time.Duration
	logEvery     time.Duration
	now          func() time.Time
	metrics      *metrics
	// noFsync skips flushing a file to disk before installing it. Renames
	// stay atomic for other processes and across kill -9; only a power loss
	// can then leave a bad file under blobs/ (CacheConfig.NoFsync).
	noFsync bool
}

// newHTTPClient returns a client whose every wait has a deadline except the
// body transfer itself, which the fetcher guards with a stall timeout (a
// 10 GiB image must not hit a whole-request timeout).
func newHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		// ReadBufferSize stays at its 4 KiB default: copyHashWrite reads
		// at least copyMinRead at a time, which bufio hands straight to
		// the socket (a buffer larger than the reads would copy twice).
	}}
}

// fetch makes the blob f.SHA256 present in bs. Sources are tried in order
// and in turn (failover); a transfer cut short resumes where it stopped, on
// the same or the next source; bytes that fail verification are discarded
// and fetched again from the next source.
func (fe *fetcher) fetch(ctx context.Context, bs *blobStore, name string, f File, sources []string) error {
	if bs.has(f.SHA256, f.Size) {
		return nil
	}
	if len(sources) == 0 {
		return fmt.Errorf("%w: no source for %s (%s)", ErrNoRegion, name, f.SHA256)
	}
	attempts := 2 * len(sources)
	var errs []error
	for i := range attempts {
		if i > 0 && i%len(sources) == 0 {
			sleepCtx(ctx, time.Second) // every source failed once: breathe before the next round
		}
		src := sources[i%len(sources)]
		err := fe.fetchOnce(ctx, bs, name, f, src)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("images: fetch %s: %w", name, context.Cause(ctx))
		}
		fe.log.Warn("image transfer failed; trying the next source", "name", name, "sha256", f.SHA256, "source", src, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", src, err))
	}
	return fmt.Errorf("images: fetch %s (%s) failed from every source: %w", name, f.SHA256, errors.Join(errs...))
}

func (fe *fetcher) fetchOnce(ctx context.Context, bs *blobStore, name string, f File, src string) (err error) {
	pf, err := bs.lockPartial(f.SHA256)
	if err != nil {
		return err
	}
	defer pf.Close()
	st, err := pf.Stat()
	if err != nil {
		return err
	}
	off := st.Size()
	if off > f.Size {
		if err := pf.Truncate(0); err != nil {
			return err
		}
		off = 0
	}
	h := sha256.New()
	if off > 0 {
		// Resume: the digest covers the whole file, so hash the prefix we have.
		if _, err := io.CopyBuffer(h, io.NewSectionReader(pf, 0, off), make([]byte, copyBufSize)); err != nil {
			return err
		}
	}
	m := newMeter(Progress{Name: name, SHA256: f.SHA256, Source: src, Done: off, Total: f.Size, Resumed: off},
		fe.onProgress, fe.log, fe.now, fe.callEvery, fe.logEvery)
	defer func() { m.finish(err) }()

	if off < f.Size {
		actx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		body, start, err := fe.open(actx, src, off)
		if err != nil {
			return err
		}
		defer body.Close()
		if start != off {
			fe.log.Info("source does not resume; starting over", "name", name, "source", src, "had", off)
			if err := pf.Truncate(0); err != nil {
				return err
			}
			h.Reset()
			off = 0
			m.mu.Lock()
			m.p.Done, m.p.Resumed = 0, 0
			m.mu.Unlock()
		} else if off > 0 {
			fe.log.Info("resuming image transfer", "name", name, "sha256", f.SHA256, "source", src, "offset", off, "total", f.Size)
		}
		stall := time.AfterFunc(fe.stallTimeout, func() { cancel(errStalled) })
		defer stall.Stop()
		r := &transferReader{
			r: io.LimitReader(body, f.Size-off+1), ctx: actx, limiter: fe.limiter,
			stall: stall, stallTimeout: fe.stallTimeout,
		}
		sw := &sparseWriter{f: pf, off: off, kicked: off, writeback: !fe.noFsync}
		n, cerr := copyHashWrite(sw, h, r, func(n int) {
			m.add(n)
			fe.metrics.bytes.Add(float64(n))
		})
		got := off + n
		if got > f.Size {
			_ = pf.Truncate(0)
			fe.metrics.verifyFailures.Inc()
			return fmt.Errorf("%w: %s sent more than the expected %d bytes; discarded", ErrChecksum, src, f.Size)
		}
		if cerr != nil {
			if c := context.Cause(actx); c != nil {
				cerr = fmt.Errorf("%w (%v)", cerr, c)
			}
			return fmt.Errorf("transfer interrupted at %d of %d bytes (kept for resume): %w", got, f.Size, cerr)
		}
		if got < f.Size {
			return fmt.Errorf("transfer ended at %d of %d bytes (kept for resume)", got, f.Size)
		}
		if err := sw.finish(); err != nil {
			return err
		}
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		_ = pf.Truncate(0)
		fe.metrics.verifyFailures.Inc()
		return fmt.Errorf("%w: %s from %s hashes to %s, expected %s; discarded, will download again", ErrChecksum, name, src, sum, f.SHA256)
	}
	if !fe.noFsync {
		if err := pf.Sync(); err != nil {
			return err
		}
	}
	// Rename while still holding the lock: nobody else can be writing it.
	return bs.install(bs.partialPath(f.SHA256), f.SHA256, !fe.noFsync)
}

// open returns the source's bytes from offset off if it honours ranges
// (start == off), or from the beginning (start == 0).
func (fe *fetcher) open(ctx context.Context, src string, off int64) (io.ReadCloser, int64, error) {
	if p, ok := localPath(src); ok {
		f, err := os.Open(p)
		if err != nil {
			return nil, 0, err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, off, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, 0, err
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := fe.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, 0, nil
	case http.StatusPartialContent:
		start, ok := contentRangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("%s answered Content-Range %q to a request from byte %d", src, resp.Header.Get("Content-Range"), off)
		}
		return resp.Body, off, nil
	default:
		resp.Body.Close()
		err := fmt.Errorf("%s: HTTP %s", src, resp.Status)
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, 0, err
	}
}

func contentRangeStart(v string) (int64, bool) {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	a, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil
}

// localPath reports whether src names a local file (a path or file:// URL).
func localPath(src string) (string, bool) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		return "", false
	}
	if u, err := url.Parse(src); err == nil && u.Scheme == "file" {
		return u.Path, true
	}
	return src, true
}

// transferReader applies the bandwidth cap and re-arms the stall timer.
type transferReader struct {
	r            io.Reader
	ctx          context.Context
	limiter      *rate.Limiter
	stall        *time.Timer
	stallTimeout time.Duration
}

func (t *transferReader) Read(p []byte) (int, error) {
	if t.limiter != nil {
		if b := t.limiter.Burst(); len(p) > b {
			p = p[:b]
		}
	}
	n, err := t.r.Read(p)
	if n > 0 {
		t.stall.Reset(t.stallTimeout)
		if t.limiter != nil {
			if werr := t.limiter.WaitN(t.ctx, n); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return n, err
}
