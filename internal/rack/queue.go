package rack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/ironkit/ironkit/internal/rpc"
)

// leaseQueue holds lease events until a region has them: in memory and in
// an append-only file, so a rack that restarts while offline still catches
// up. Sequence numbers only grow (they start at the wall clock's
// nanoseconds), so the region drops duplicates of a batch resent after a
// lost reply.
type leaseQueue struct {
	path   string
	mu     sync.Mutex
	seq    uint64
	events []rpc.LeaseEvent
	notify chan struct{}
}

func openQueue(path string) (*leaseQueue, error) {
	q := &leaseQueue{path: path, seq: uint64(time.Now().UnixNano()), notify: make(chan struct{}, 1)}
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e rpc.LeaseEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil { // a torn last line is dropped
			q.events = append(q.events, e)
			q.seq = max(q.seq, e.Seq)
		}
	}
	return q, nil
}

func (q *leaseQueue) push(e rpc.LeaseEvent) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	e.Seq = q.seq
	q.events = append(q.events, e)
	b, _ := json.Marshal(e)
	f, err := os.OpenFile(q.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return err
}

// peek returns up to n queued events, oldest first.
func (q *leaseQueue) peek(n int) []rpc.LeaseEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]rpc.LeaseEvent(nil), q.events[:min(n, len(q.events))]...)
}

func (q *leaseQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events)
}

// drop removes the first n events (delivered) and rewrites the file.
func (q *leaseQueue) drop(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.events = q.events[min(n, len(q.events)):]
	var buf bytes.Buffer
	for _, e := range q.events {
		b, _ := json.Marshal(e)
		buf.Write(append(b, '\n'))
	}
	return writeAtomic(q.path, buf.Bytes(), 0o600)
}
