package images

import (
	"errors"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

const (
	copyBufSize = 1 << 20
	copyBufs    = 4
)

// copyHashWrite copies src to w while hashing into h. Receiving, hashing
// and writing run as three pipelined stages over a fixed ring of buffers
// (copyBufs × copyBufSize), so memory stays flat whatever the size and
// SHA-256 costs little wall time on a machine with more than one core.
// onRead, if set, is called with the size of each chunk received.
func copyHashWrite(w io.Writer, h hash.Hash, src io.Reader, onRead func(int)) (int64, error) {
	type chunk struct {
		b    []byte
		refs *atomic.Int32
	}
	pool := make(chan []byte, copyBufs)
	for range copyBufs {
		pool <- make([]byte, copyBufSize)
	}
	hashCh := make(chan chunk, copyBufs)
	writeCh := make(chan chunk, copyBufs)
	release := func(c chunk) {
		if c.refs.Add(-1) == 0 {
			pool <- c.b[:cap(c.b)]
		}
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
		werr   error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for c := range hashCh {
			h.Write(c.b)
			release(c)
		}
	}()
	go func() {
		defer wg.Done()
		for c := range writeCh {
			if werr == nil {
				if _, err := w.Write(c.b); err != nil {
					werr = err
					failed.Store(true)
				}
			}
			release(c)
		}
	}()

	var total int64
	var rerr error
	for !failed.Load() {
		b := <-pool
		n, err := io.ReadFull(src, b)
		if n > 0 {
			total += int64(n)
			if onRead != nil {
				onRead(n)
			}
			refs := new(atomic.Int32)
			refs.Store(2)
			c := chunk{b: b[:n], refs: refs}
			hashCh <- c
			writeCh <- c
		} else {
			pool <- b
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				rerr = err
			}
			break
		}
	}
	close(hashCh)
	close(writeCh)
	wg.Wait()
	if werr != nil {
		return total, werr
	}
	return total, rerr
}
