package images

import (
	"errors"
	"hash"
	"io"
)

// Sizes of the copy pipeline. A chunk is filled by as many reads as it
// takes to have less than copyMinRead left (so each read is large enough
// to bypass the HTTP client's small bufio buffer: no double copy), written,
// then handed to a hashing goroutine; copyBufs chunks circulate, so memory
// stays at copyBufs*copyBufSize per transfer whatever the file size.
const (
	copyBufSize = 256 << 10
	copyBufs    = 4
	copyMinRead = 64 << 10
)

// copyHashWrite copies src to w while hashing into h, and returns the
// bytes read. Receiving and writing run in the calling goroutine; hashing
// runs beside them in a second one over a small ring of chunks, so on a
// machine with two or more cores SHA-256 costs no wall time (before, one
// loop received, hashed and wrote each chunk in turn and the hash was a
// third of its time). h is only touched by the hasher, which has finished
// when copyHashWrite returns. onRead, if set, is called with the size of
// each chunk received, from the calling goroutine.
func copyHashWrite(w io.Writer, h hash.Hash, src io.Reader, onRead func(int)) (int64, error) {
	slab := make([]byte, copyBufs*copyBufSize)
	free := make(chan []byte, copyBufs)
	full := make(chan []byte, copyBufs)
	for i := range copyBufs {
		free <- slab[i*copyBufSize : (i+1)*copyBufSize : (i+1)*copyBufSize]
	}
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range full {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var total int64
	var err error
	for {
		buf := <-free
		n, rerr := fillChunk(src, buf)
		if n > 0 {
			total += int64(n)
			if onRead != nil {
				onRead(n)
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				err = werr
				break
			}
			full <- buf[:n]
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				err = rerr
			}
			break
		}
	}
	close(full)
	<-hashed
	return total, err
}

// fillChunk reads into buf until less than copyMinRead is left, the
// source ends (io.EOF) or fails.
func fillChunk(src io.Reader, buf []byte) (int, error) {
	n := 0
	for len(buf)-n >= copyMinRead {
		k, err := src.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
