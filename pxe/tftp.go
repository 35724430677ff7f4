package pxe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pin/tftp/v3"
	"golang.org/x/net/ipv4"
)

// TFTP opcodes and error codes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6

	errAccess    = 2
	errIllegalOp = 4
)

// TFTPServer is a read-only TFTP server: pin/tftp behind a front that
// validates requests (see the package documentation for why).
type TFTPServer struct {
	cfg   config
	files Files

	mu   sync.Mutex
	conn *net.UDPConn
	mtus map[int]int // interface index → MTU, snapshot at Listen, refreshed on a miss
}

// NewTFTPServer returns a server for files (nil: only what the resolver
// generates).
func NewTFTPServer(files Files, opts ...Option) *TFTPServer {
	return &TFTPServer{cfg: newConfig(DefaultTFTPAddr, opts), files: files}
}

// Listen opens the UDP socket. IP_PKTINFO is enabled while the socket is
// created, so every datagram, even one queued before Serve runs, carries its
// destination address and interface. Calling Listen from inside a network
// namespace (testenv.Netns.Do) keeps the socket and the MTU snapshot there.
func (s *TFTPServer) Listen(ctx context.Context) error {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", s.cfg.addr)
	if err != nil {
		return fmt.Errorf("pxe: tftp listen on %q: %w (port 69 needs root or CAP_NET_BIND_SERVICE)", s.cfg.addr, err)
	}
	s.mu.Lock()
	s.conn = pc.(*net.UDPConn)
	s.mtus = interfaceMTUs()
	s.mu.Unlock()
	return nil
}

// Addr is the address Listen bound, or nil before Listen.
func (s *TFTPServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	return s.conn.LocalAddr()
}

// Run listens and serves until ctx ends.
func (s *TFTPServer) Run(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Serve serves on the socket Listen opened until ctx ends, then waits for
// transfers in flight to finish or time out.
func (s *TFTPServer) Serve(ctx context.Context) error {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return errors.New("pxe: TFTPServer.Serve called before Listen")
	}
	srv := tftp.NewServer(func(filename string, rf io.ReaderFrom) error {
		return s.read(ctx, filename, rf)
	}, nil)
	srv.SetBlockSizeNegotiation(false) // the front clamps blksize per interface
	srv.SetAnticipate(s.cfg.sendAhead)
	srv.SetTimeout(s.cfg.timeout)
	srv.SetRetries(s.cfg.retries)
	srv.SetBackoff(func(int) time.Duration { return 0 }) // the timeout is the wait
	front := &tftpFront{UDPConn: conn, p: ipv4.NewPacketConn(conn), s: s, pin: srv}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		srv.Shutdown() // closes conn, waits for transfers
	}()
	err := srv.Serve(front)
	<-stopped
	return err
}

// read is pin's read handler: one RRQ the front already validated.
func (s *TFTPServer) read(ctx context.Context, filename string, rf io.ReaderFrom) error {
	start := time.Now()
	var remote netip.Addr
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ra := ot.RemoteAddr()
		remote, _ = netip.AddrFromSlice(ra.IP)
		remote = remote.Unmap()
	}
	m := s.cfg.metrics
	m.inFlight.WithLabelValues("tftp").Inc()
	defer m.inFlight.WithLabelValues("tftp").Dec()

	var n int64
	name, err := CleanName(filename)
	var generated bool
	if err == nil {
		var f *File
		f, generated, err = open(ctx, s.files, s.cfg.resolver, Request{Proto: "tftp", Name: name, Remote: remote})
		if err == nil {
			if ot, ok := rf.(tftp.OutgoingTransfer); ok {
				ot.SetSize(f.Size)
			}
			n, err = rf.ReadFrom(blockReader(f))
			f.Body.Close()
			// pin reports an ERROR from the client as "…: code=N, error: …".
			if err != nil && strings.Contains(err.Error(), ": code=") {
				err = fmt.Errorf("%w: %v", errClientAborted, err)
			}
		}
	}
	d := time.Since(start)
	res := classify(err)
	m.observe("tftp", res, n, d)
	mac := macFromName(name)
	if mac == nil && s.cfg.macLookup != nil && remote.IsValid() {
		mac = s.cfg.macLookup(remote)
	}
	attrs := []any{"proto", "tftp", "remote", remote.String(), "mac", macString(mac), "file", filename,
		"bytes", n, "duration", d, "result", string(res), "generated", generated}
	switch res {
	case resultOK:
		s.cfg.log.Info("pxe request", attrs...)
		return nil
	case resultRefused:
		s.cfg.log.Warn("pxe request refused", append(attrs, "err", err)...)
		return errors.New("access violation")
	case resultNotFound:
		s.cfg.log.Info("pxe request", append(attrs, "err", err)...)
		return errors.New("file not found")
	case resultAborted:
		s.cfg.log.Info("pxe request", append(attrs, "err", err)...)
		return nil
	default:
		s.cfg.log.Warn("pxe request failed", append(attrs, "err", err)...)
		if n > 0 {
			// pin already reported the transfer error to the client.
			return nil
		}
		return errors.New("read error")
	}
}

// blockReader is what pin reads a file from, one block (io.ReadFull) per
// DATA packet. A buffer saves a read(2) per block on files; it is sized to
// the file, so a generated config does not allocate 128 KiB, and content
// already in memory is read directly. (Measured in pxe/README.md: the
// reader does not move the per-block time, pin's UDP round trip does.)
func blockReader(f *File) io.Reader {
	if b, ok := f.Body.(nopCloser); ok {
		return b.Reader
	}
	return bufio.NewReaderSize(f.Body, int(min(max(f.Size, 4096), 128<<10)))
}

func macString(m net.HardwareAddr) string {
	if m == nil {
		return ""
	}
	return m.String()
}

func interfaceMTUs() map[int]int {
	m := map[int]int{}
	ifs, err := net.Interfaces()
	if err != nil {
		return m
	}
	for _, i := range ifs {
		m[i.Index] = i.MTU
	}
	return m
}

func (s *TFTPServer) mtu(ifindex int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.mtus[ifindex]; ok {
		return v
	}
	if i, err := net.InterfaceByIndex(ifindex); err == nil {
		s.mtus[ifindex] = i.MTU
		return i.MTU
	}
	return 0
}

// tftpFront is the net.PacketConn pin reads requests from. It answers what
// must not reach pin (write requests, refused names, bad modes, malformed
// packets) with the RFC's error codes, and hands pin normalised read
// requests: option names and mode lower-cased, blksize clamped to the
// interface MTU and the configured maximum, options pin cannot honour
// dropped.
type tftpFront struct {
	*net.UDPConn
	p   *ipv4.PacketConn
	s   *TFTPServer
	pin *tftp.Server
	buf [2048]byte
}

// ReadFrom returns the next acceptable read request.
func (f *tftpFront) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, cm, src, err := f.p.ReadFrom(f.buf[:])
		if err != nil {
			return 0, nil, err
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		var dst net.IP
		ifindex := 0
		if cm != nil {
			dst, ifindex = cm.Dst, cm.IfIndex
		}
		out, window, code, msg := f.s.filter(f.buf[:n], ifindex)
		if code >= 0 {
			f.refuse(ua, dst, code, msg, f.buf[:n])
			continue
		}
		if out == nil {
			continue // ignored (an ERROR packet to port 69)
		}
		if len(out) > len(b) {
			f.refuse(ua, dst, errIllegalOp, "request too long", f.buf[:n])
			continue
		}
		// pin reads the window when it handles this request, next on this
		// same goroutine (Serve's loop), so the setting is per request.
		f.pin.SetAnticipate(window)
		return copy(b, out), ua, nil
	}
}

func (f *tftpFront) refuse(to *net.UDPAddr, src net.IP, code int, msg string, req []byte) {
	pkt := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(pkt, opERROR)
	binary.BigEndian.PutUint16(pkt[2:], uint16(code))
	pkt = append(append(pkt, msg...), 0)
	var cm *ipv4.ControlMessage
	if src != nil && !src.Equal(net.IPv4bcast) {
		cm = &ipv4.ControlMessage{Src: src}
	}
	_, _ = f.p.WriteTo(pkt, cm, to)
	remote, _ := netip.AddrFromSlice(to.IP)
	name := ""
	if len(req) > 2 {
		name, _, _ = strings.Cut(string(req[2:]), "\x00")
	}
	res := resultError
	if code == errAccess {
		res = resultRefused
	}
	f.s.cfg.metrics.observe("tftp", res, 0, 0)
	f.s.cfg.log.Warn("pxe request refused", "proto", "tftp", "remote", remote.Unmap().String(),
		"file", truncate(name, 300), "code", code, "err", msg)
}

// filter decides what happens to one datagram sent to the server port: a
// rewritten request for pin with its send-ahead window (code < 0), an error
// to send (code ≥ 0), or nothing (out nil, code < 0). It is pure apart from
// the MTU lookup.
func (s *TFTPServer) filter(pkt []byte, ifindex int) (out []byte, window uint, code int, msg string) {
	if len(pkt) < 2 {
		return nil, 0, errIllegalOp, "malformed packet"
	}
	switch binary.BigEndian.Uint16(pkt) {
	case opRRQ:
	case opWRQ:
		return nil, 0, errAccess, "read-only server: write requests are refused"
	case opERROR:
		return nil, 0, -1, "" // never answer an error (RFC 1350)
	case opDATA, opACK, opOACK:
		return nil, 0, errIllegalOp, "no transfer on this port: send a read request"
	default:
		return nil, 0, errIllegalOp, "unknown opcode"
	}
	rq, err := parseRequest(pkt[2:])
	if err != nil {
		return nil, 0, errIllegalOp, err.Error()
	}
	if rq.mode != "octet" && rq.mode != "netascii" {
		return nil, 0, errIllegalOp, "unsupported transfer mode " + strconv.Quote(rq.mode) + ": use octet or netascii"
	}
	if _, err := CleanName(rq.filename); err != nil {
		return nil, 0, errAccess, "access violation: refused file name"
	}
	window = s.cfg.sendAhead
	limit := s.cfg.maxBlock
	if ifindex > 0 {
		if mtu := s.mtu(ifindex); mtu > 0 && mtu-28 < limit {
			limit = mtu - 28
		}
	}
	var opts [][2]string
	for _, o := range rq.opts {
		switch o[0] {
		case "blksize":
			v, err := strconv.Atoi(o[1])
			if err != nil || v < 512 || v > 65464 {
				// Out of RFC 2348's 8..65464, or under 512 which pin cannot
				// send: left out of the OACK (RFC 2347), the transfer uses 512.
				continue
			}
			opts = append(opts, [2]string{"blksize", strconv.Itoa(min(v, limit))})
		case "tsize":
			if _, err := strconv.ParseUint(o[1], 10, 63); err != nil {
				continue
			}
			opts = append(opts, [2]string{"tsize", "0"}) // RRQ: the client asks, the server answers
		case "windowsize":
			// RFC 7440: the client can buffer this many blocks. pin cannot
			// acknowledge the option, so it is left out of the OACK and the
			// client ACKs every block; sending ahead is still safe.
			if v, err := strconv.Atoi(o[1]); err == nil && v >= 1 && v <= 65535 {
				window = min(uint(v), s.cfg.maxWindow)
			}
		}
	}
	var b bytes.Buffer
	b.Write([]byte{0, opRRQ})
	b.WriteString(rq.filename)
	b.WriteByte(0)
	b.WriteString(rq.mode)
	b.WriteByte(0)
	for _, o := range opts {
		b.WriteString(o[0])
		b.WriteByte(0)
		b.WriteString(o[1])
		b.WriteByte(0)
	}
	return b.Bytes(), window, -1, ""
}

type tftpRequest struct {
	filename, mode string
	opts           [][2]string // names lower-cased, in request order
}

// parseRequest parses the body of an RRQ/WRQ (after the opcode).
func parseRequest(b []byte) (tftpRequest, error) {
	var rq tftpRequest
	if len(b) == 0 || b[len(b)-1] != 0 {
		return rq, errors.New("malformed request: not NUL-terminated")
	}
	parts := strings.Split(string(b[:len(b)-1]), "\x00")
	if len(parts) < 2 {
		return rq, errors.New("malformed request: missing mode")
	}
	if len(parts)%2 != 0 {
		return rq, errors.New("malformed request: option without value")
	}
	rq.filename, rq.mode = parts[0], strings.ToLower(parts[1])
	seen := map[string]bool{}
	for i := 2; i+1 < len(parts); i += 2 {
		name := strings.ToLower(parts[i])
		if seen[name] {
			return rq, errors.New("malformed request: option " + strconv.Quote(name) + " given twice")
		}
		seen[name] = true
		rq.opts = append(rq.opts, [2]string{name, parts[i+1]})
	}
	return rq, nil
}
