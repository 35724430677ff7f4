package dhcpsrv

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLeaseLog wraps every failure to read or write the durable lease log.
var ErrLeaseLog = errors.New("dhcpsrv: lease log")

// The lease log is a directory holding a snapshot ("snapshot": every live
// lease as of segment N) and write-ahead segments ("wal.N", "wal.N+1", ...),
// each a sequence of CRC-framed lease records; the last record of an
// address wins. Records are group-committed: one fdatasync covers every
// record appended while the previous one ran, and the callbacks waiting for
// durability (the ACKs) run only after it returns. Compaction starts a new
// segment at a marker in the record stream, writes a snapshot of the state
// at that marker in the background, then deletes the older segments.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const (
	snapshotMagic = "IKLEASE1"
	recVersion    = 1
)

func encodeLease(dst []byte, l Lease) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // length, crc
	dst = append(dst, recVersion, byte(l.State))
	a := l.Addr.As4()
	dst = append(dst, a[:]...)
	var mac [6]byte
	copy(mac[:], l.MAC)
	dst = append(dst, mac[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(l.Start.UnixMilli()))
	dst = binary.BigEndian.AppendUint64(dst, uint64(l.Expiry.UnixMilli()))
	dst = append(dst, byte(min(len(l.Subnet), 255)))
	dst = append(dst, l.Subnet[:min(len(l.Subnet), 255)]...)
	dst = append(dst, byte(min(len(l.Hostname), 255)))
	dst = append(dst, l.Hostname[:min(len(l.Hostname), 255)]...)
	payload := dst[start+8:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

var errTorn = errors.New("torn record")

func decodeLease(p []byte) (Lease, error) {
	if len(p) < 2+4+6+16+2 || p[0] != recVersion {
		return Lease{}, errTorn
	}
	var l Lease
	l.State = LeaseState(p[1])
	l.Addr = netip.AddrFrom4([4]byte(p[2:6]))
	l.MAC = net.HardwareAddr(append([]byte(nil), p[6:12]...))
	l.Start = time.UnixMilli(int64(binary.BigEndian.Uint64(p[12:20])))
	l.Expiry = time.UnixMilli(int64(binary.BigEndian.Uint64(p[20:28])))
	rest := p[28:]
	n := int(rest[0])
	if len(rest) < 1+n+1 {
		return Lease{}, errTorn
	}
	l.Subnet = string(rest[1 : 1+n])
	rest = rest[1+n:]
	m := int(rest[0])
	if len(rest) < 1+m {
		return Lease{}, errTorn
	}
	l.Hostname = string(rest[1 : 1+m])
	return l, nil
}

// readRecords calls fn for every intact record of r and returns the offset
// just past the last one: a torn tail (crash mid-write) ends the stream.
func readRecords(r io.Reader, fn func(Lease)) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var off int64
	var hdr [8]byte
	buf := make([]byte, 512)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, nil
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n == 0 || n > 1024 {
			return off, nil // zero fill past the last record, or a torn one
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return off, nil
		}
		if crc32.Checksum(buf[:n], crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			return off, nil
		}
		l, err := decodeLease(buf[:n])
		if err != nil {
			return off, nil
		}
		fn(l)
		off += 8 + int64(n)
	}
}

type leaseLog struct {
	dir string

	mu       sync.Mutex
	buf      []byte   // records not yet written
	waiters  []func() // run once buf is durable
	rotateAt int      // offset in buf where a new segment starts, or -1
	rotateTo uint64
	nextSeq  uint64
	records  int // records since the last compaction marker
	kick     chan struct{}

	// onFlushed runs after the waiters of each flush (the server sends the
	// replies they queued in one batch).
	onFlushed func()
	syncs     func() // counts fdatasync calls (metrics); may be nil
	// window is how long the committer lingers after the first record of a
	// batch before it writes and syncs, to share one fdatasync among more
	// records (an fdatasync costs ~70 µs of CPU here, as much as the rest
	// of a DORA).
	window time.Duration
	// beforeSync, when set (tests), runs before every fdatasync.
	beforeSync func()

	f     *os.File // current segment; committer goroutine only
	off   int64    // where the next record goes in f
	size  int64    // bytes of f already written (zeros past off)
	zeros []byte   // 1 MiB of zeros for extending f
	done  chan struct{}
	err   error
}

// openLeaseLog loads the lease log in dir (creating dir) and returns it
// with the leases it holds, last record per address.
func openLeaseLog(dir string) (*leaseLog, []Lease, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("%w: create directory %s: %w", ErrLeaseLog, dir, err)
	}
	state := map[netip.Addr]Lease{}
	put := func(l Lease) { state[l.Addr] = l }
	var from uint64
	if f, err := os.Open(filepath.Join(dir, "snapshot")); err == nil {
		var hdr [16]byte
		if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:8]) != snapshotMagic {
			f.Close()
			return nil, nil, fmt.Errorf("%w: %s is not a lease snapshot: move it away to start empty", ErrLeaseLog, filepath.Join(dir, "snapshot"))
		}
		from = binary.BigEndian.Uint64(hdr[8:])
		_, err = readRecords(f, put)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: read snapshot: %w", ErrLeaseLog, err)
		}
	}
	segs, err := segments(dir)
	if err != nil {
		return nil, nil, err
	}
	last := from
	for _, seq := range segs {
		p := filepath.Join(dir, "wal."+strconv.FormatUint(seq, 10))
		if seq < from {
			_ = os.Remove(p) // already in the snapshot: a compaction was cut short
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrLeaseLog, err)
		}
		_, err = readRecords(f, put)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: read %s: %w", ErrLeaseLog, p, err)
		}
		last = max(last, seq)
	}
	l := &leaseLog{dir: dir, rotateAt: -1, nextSeq: last + 1, kick: make(chan struct{}, 1), done: make(chan struct{})}
	// Never append to a segment that may end in a torn record.
	if err := l.openSegment(l.nextSeq); err != nil {
		return nil, nil, err
	}
	l.nextSeq++
	out := make([]Lease, 0, len(state))
	for _, v := range state {
		out = append(out, v)
	}
	return l, out, nil
}

func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLeaseLog, err)
	}
	var out []uint64
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), "wal."); ok {
			if n, err := strconv.ParseUint(s, 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func (l *leaseLog) openSegment(seq uint64) error {
	f, err := os.OpenFile(filepath.Join(l.dir, "wal."+strconv.FormatUint(seq, 10)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseLog, err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.off, l.size = f, 0, 0
	return syncDir(l.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseLog, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("%w: sync %s: %w", ErrLeaseLog, dir, err)
	}
	return nil
}

// append queues a record; done (may be nil) runs after it is durable.
func (l *leaseLog) append(rec Lease, done func()) {
	l.mu.Lock()
	l.buf = encodeLease(l.buf, rec)
	if done != nil {
		l.waiters = append(l.waiters, done)
	}
	l.records++
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// after runs done once everything appended so far is durable.
func (l *leaseLog) after(done func()) {
	l.mu.Lock()
	l.waiters = append(l.waiters, done)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// markRotate makes records appended from now on go to a new segment and
// returns its number: a snapshot of the state at this instant plus the
// segments from that number on is the whole log. ok is false while a
// previous marker is still unwritten.
func (l *leaseLog) markRotate() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rotateAt >= 0 {
		return 0, false
	}
	l.rotateAt = len(l.buf)
	l.rotateTo = l.nextSeq
	l.nextSeq++
	l.records = 0
	return l.rotateTo, true
}

func (l *leaseLog) sinceCompaction() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records
}

// run is the committer: write, fdatasync, then release the waiters.
func (l *leaseLog) run(ctx context.Context) error {
	defer close(l.done)
	var spare []byte
	for {
		select {
		case <-l.kick:
		case <-ctx.Done():
			// Flush what was appended before shutdown, then stop.
			err := l.flush(&spare)
			l.f.Close()
			return err
		}
		if l.window > 0 {
			time.Sleep(l.window)
		}
		if err := l.flush(&spare); err != nil {
			l.err = err
			l.f.Close()
			return err
		}
	}
}

func (l *leaseLog) flush(spare *[]byte) error {
	l.mu.Lock()
	buf, waiters, rot, to := l.buf, l.waiters, l.rotateAt, l.rotateTo
	l.buf, l.waiters, l.rotateAt = (*spare)[:0], nil, -1
	l.mu.Unlock()
	if len(buf) == 0 && rot < 0 && len(waiters) == 0 {
		*spare = buf
		return nil
	}
	write := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		if err := l.writeAt(b); err != nil {
			return err
		}
		if l.beforeSync != nil {
			l.beforeSync()
		}
		if err := unix.Fdatasync(int(l.f.Fd())); err != nil {
			return fmt.Errorf("%w: fdatasync: %w", ErrLeaseLog, err)
		}
		if l.syncs != nil {
			l.syncs()
		}
		return nil
	}
	if rot >= 0 {
		if err := write(buf[:rot]); err != nil {
			return err
		}
		if err := l.openSegment(to); err != nil {
			return err
		}
		buf = buf[rot:]
	}
	if err := write(buf); err != nil {
		return err
	}
	*spare = buf[:0]
	for _, w := range waiters {
		w()
	}
	if l.onFlushed != nil {
		l.onFlushed()
	}
	return nil
}

// Segments are filled with zeros 1 MiB ahead of the records. Records then
// overwrite blocks that already exist, so the fdatasync after a batch
// flushes data only, not a journal entry for a grown file (most of the CPU
// an fsync costs on ext4). A zero length ends the record stream.
func (l *leaseLog) writeAt(b []byte) error {
	for l.off+int64(len(b)) > l.size {
		if l.zeros == nil {
			l.zeros = make([]byte, 1<<20)
		}
		if _, err := l.f.WriteAt(l.zeros, l.size); err != nil {
			return fmt.Errorf("%w: extend segment: %w", ErrLeaseLog, err)
		}
		l.size += int64(len(l.zeros))
	}
	if _, err := l.f.WriteAt(b, l.off); err != nil {
		return fmt.Errorf("%w: write: %w", ErrLeaseLog, err)
	}
	l.off += int64(len(b))
	return nil
}

// writeSnapshot stores leases as the snapshot covering every segment
// before seq, then deletes those segments.
func (l *leaseLog) writeSnapshot(seq uint64, leases []Lease) error {
	tmp := filepath.Join(l.dir, "snapshot.tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseLog, err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	var hdr [16]byte
	copy(hdr[:], snapshotMagic)
	binary.BigEndian.PutUint64(hdr[8:], seq)
	_, _ = w.Write(hdr[:])
	var rec []byte
	for _, le := range leases {
		rec = encodeLease(rec[:0], le)
		_, _ = w.Write(rec)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%w: write snapshot: %w", ErrLeaseLog, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%w: sync snapshot: %w", ErrLeaseLog, err)
	}
	f.Close()
	if err := os.Rename(tmp, filepath.Join(l.dir, "snapshot")); err != nil {
		return fmt.Errorf("%w: %w", ErrLeaseLog, err)
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	segs, err := segments(l.dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s < seq {
			_ = os.Remove(filepath.Join(l.dir, "wal."+strconv.FormatUint(s, 10)))
		}
	}
	return nil
}
