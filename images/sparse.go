package images

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// holeReader reads a sparse file for serving: data regions with pread,
// holes (found with SEEK_DATA/SEEK_HOLE) as zeros made in memory. Reading
// a hole through the kernel costs about as much as reading data (it zero-
// fills page-cache pages first), so a 10 GiB raw image with 3 MiB of data
// would otherwise cost the region 10 GiB of page cache to serve.
type holeReader struct {
	f         *os.File
	size, off int64
	inHole    bool
	regionEnd int64 // end of the region containing off; -1: unknown
}

// servable returns what to hand to http.ServeContent for f: f itself
// (sendfile) unless it is mostly holes.
func servable(f *os.File, st os.FileInfo) io.ReadSeeker {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || st.Size() < 64<<20 || sys.Blocks*512 > st.Size()/2 {
		return f
	}
	return &holeReader{f: f, size: st.Size(), regionEnd: -1}
}

func (h *holeReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += h.off
	case io.SeekEnd:
		offset += h.size
	default:
		return 0, fmt.Errorf("holeReader: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, errors.New("holeReader: negative offset")
	}
	h.off, h.regionEnd = offset, -1
	return offset, nil
}

func (h *holeReader) locate() error {
	fd := int(h.f.Fd())
	d, err := unix.Seek(fd, h.off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) { // no data after off
		h.inHole, h.regionEnd = true, h.size
		return nil
	}
	if err != nil {
		return err
	}
	if d > h.off {
		h.inHole, h.regionEnd = true, d
		return nil
	}
	e, err := unix.Seek(fd, h.off, unix.SEEK_HOLE)
	if err != nil {
		return err
	}
	h.inHole, h.regionEnd = false, min(e, h.size)
	return nil
}

func (h *holeReader) Read(p []byte) (int, error) {
	if h.off >= h.size {
		return 0, io.EOF
	}
	if h.regionEnd < 0 || h.off >= h.regionEnd {
		if err := h.locate(); err != nil {
			return 0, err
		}
	}
	n := int(min(int64(len(p)), h.regionEnd-h.off))
	if h.inHole {
		clear(p[:n])
	} else {
		var err error
		n, err = h.f.ReadAt(p[:n], h.off)
		if err != nil && !errors.Is(err, io.EOF) {
			h.off += int64(n)
			return n, err
		}
	}
	h.off += int64(n)
	return n, nil
}
