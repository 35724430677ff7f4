package pxe

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/testenv"
)

func startTFTP(t *testing.T, files Files, opts ...Option) (*TFTPServer, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := NewTFTPServer(files, append([]Option{WithAddr("127.0.0.1:0")}, opts...)...)
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, s.Addr().String()
}

func dirFiles(t *testing.T, dir string) *DirFiles {
	t.Helper()
	d, err := NewDirFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var tftpSizes = map[string]int{
	"small.bin":          1000,
	"empty.bin":          0,
	"exact512.bin":       2048,
	"exact1468.bin":      1468 * 3,
	"big.bin":            3<<20 + 17,
	"sub/dir/nested.bin": 5000,
}

// TestTFTPClients downloads every file with atftp (blksize 1468 + tsize),
// curl (tftp://) and tftp-hpa, and checks the SHA-256 of each.
func TestTFTPClients(t *testing.T) {
	testenv.RequireBinaries(t, "atftp", "curl", "tftp")
	dir, sums := bootRoot(t, tftpSizes)
	var log logBuffer
	_, addr := startTFTP(t, dirFiles(t, dir), WithLogger(log.logger()))
	host, port, _ := net.SplitHostPort(addr)
	out := t.TempDir()
	ctx := testContext(t)
	for name, sum := range sums {
		clients := map[string][]string{
			"atftp":    {"atftp", "--get", "-r", name, "-l", "", "--option", "blksize 1468", "--option", "tsize 0", host, port},
			"atftp512": {"atftp", "--get", "-r", name, "-l", "", host, port},
			"curl":     {"curl", "-sSf", "--tftp-blksize", "1468", "-o", "", "tftp://" + addr + "/" + name},
		}
		if !strings.Contains(name, "big") {
			clients["tftp-hpa"] = []string{"sh", "-c", "cd " + out + " && tftp " + host + " " + port + " -m binary -c get " + name + " $0", ""}
		}
		for client, args := range clients {
			local := filepath.Join(out, client+"-"+strings.ReplaceAll(name, "/", "_"))
			for i, a := range args {
				if a == "" {
					args[i] = local
				}
			}
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s get %s: %v\n%s", client, name, err, b)
			}
			got, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(got) != sum {
				t.Fatalf("%s get %s: %d bytes, content differs", client, name, len(got))
			}
		}
	}
	log.waitLog(t, "file=big.bin", "bytes="+strconv.Itoa(3<<20+17), "result=ok")
}

// TestTFTPGenerated serves content a Resolver generates in memory
// (BytesFile, read by pin without a buffer) at sizes around block
// boundaries, with and without blksize/tsize.
func TestTFTPGenerated(t *testing.T) {
	testenv.RequireBinaries(t, "atftp")
	gen := map[string][]byte{}
	for _, n := range []int{0, 100, 512, 1468, 1468*2 + 1, 70000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*31 + n)
		}
		gen["gen/"+strconv.Itoa(n)] = b
	}
	res := ResolverFunc(func(_ context.Context, req Request) (*File, error) {
		if b, ok := gen[req.Name]; ok {
			return BytesFile(b, time.Now()), nil
		}
		return nil, ErrNotFound
	})
	_, addr := startTFTP(t, nil, WithResolver(res))
	host, port, _ := net.SplitHostPort(addr)
	out := t.TempDir()
	ctx := testContext(t)
	for name, want := range gen {
		for _, opts := range [][]string{nil, {"--option", "blksize 1468", "--option", "tsize 0"}} {
			local := filepath.Join(out, "x")
			args := append([]string{"--get", "-r", name, "-l", local}, opts...)
			if b, err := exec.CommandContext(ctx, "atftp", append(args, host, port)...).CombinedOutput(); err != nil {
				t.Fatalf("atftp %v: %v\n%s", args, err, b)
			}
			got, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(got) != sha256.Sum256(want) {
				t.Fatalf("atftp %v: %d bytes, want %d, content differs", args, len(got), len(want))
			}
		}
	}
}

// tftpClient speaks raw TFTP for conformance checks.
type tftpClient struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *net.UDPAddr
}

func newTFTPClient(t *testing.T, addr string) *tftpClient {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tftpClient{t: t, conn: c, srv: ua}
}

func request(op uint16, fields ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	return b
}

func ack(block uint16) []byte { return binary.BigEndian.AppendUint16([]byte{0, opACK}, block) }

func (c *tftpClient) send(to *net.UDPAddr, b []byte) {
	if _, err := c.conn.WriteToUDP(b, to); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next packet, or nil after d.
func (c *tftpClient) recv(d time.Duration) ([]byte, *net.UDPAddr) {
	buf := make([]byte, 70000)
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, nil
	}
	return buf[:n], from
}

func opcode(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

func errorCode(t *testing.T, b []byte) int {
	t.Helper()
	if len(b) < 5 || opcode(b) != opERROR || b[len(b)-1] != 0 {
		t.Fatalf("want an ERROR packet, got %q", b)
	}
	return int(binary.BigEndian.Uint16(b[2:]))
}

func oackOptions(t *testing.T, b []byte) map[string]string {
	t.Helper()
	if len(b) < 2 || opcode(b) != opOACK {
		t.Fatalf("want OACK, got %q", b)
	}
	parts := strings.Split(strings.TrimSuffix(string(b[2:]), "\x00"), "\x00")
	m := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m
}

// TestTFTPConformance checks RFC 1350/2347/2348/2349 behaviour packet by packet.
func TestTFTPConformance(t *testing.T) {
	dir, _ := bootRoot(t, map[string]int{"small.bin": 1000, "k.bin": 5000})
	var log logBuffer
	_, addr := startTFTP(t, dirFiles(t, dir), WithLogger(log.logger()), WithMaxBlockSize(1468))

	t.Run("options negotiated in OACK", func(t *testing.T) {
		c := newTFTPClient(t, addr)
		c.send(c.srv, request(opRRQ, "k.bin", "OCTET", "BLKSIZE", "1024", "tsize", "0", "timeout", "3", "windowsize", "8"))
		b, from := c.recv(3 * time.Second)
		opts := oackOptions(t, b)
		if opts["blksize"] != "1024" || opts["tsize"] != "5000" || len(opts) != 2 {
			t.Fatalf("OACK %v: want blksize=1024 tsize=5000 and nothing else (timeout/windowsize unsupported)", opts)
		}
		if from.Port == c.srv.Port {
			t.Fatal("transfer must use a new server TID, not port 69")
		}
		got := 0
		for blk := uint16(0); ; blk++ {
			c.send(from, ack(blk))
			d, _ := c.recv(3 * time.Second)
			if d == nil || opcode(d) != opDATA {
				t.Fatalf("block %d: want DATA, got %q", blk+1, d)
			}
			if binary.BigEndian.Uint16(d[2:]) != blk+1 {
				continue // sent ahead; the lock-step client waits for its block
			}
			got += len(d) - 4
			if len(d)-4 < 1024 {
				c.send(from, ack(blk+1))
				break
			}
		}
		if got != 5000 {
			t.Fatalf("received %d bytes, want 5000", got)
		}
	})
	t.Run("blksize clamped to maximum", func(t *testing.T) {
		c := newTFTPClient(t, addr)
		c.send(c.srv, request(opRRQ, "k.bin", "octet", "blksize", "9000"))
		b, from := c.recv(3 * time.Second)
		if opts := oackOptions(t, b); opts["blksize"] != "1468" {
			t.Fatalf("OACK %v: want blksize 1468", opts)
		}
		c.send(from, ack(0))
		d, _ := c.recv(3 * time.Second)
		if len(d) != 4+1468 {
			t.Fatalf("first DATA is %d bytes, want 4+1468", len(d))
		}
		c.send(from, []byte("\x00\x05\x00\x00client done\x00")) // the client gives up: the server stops
	})
	t.Run("no options: no OACK, 512-byte blocks", func(t *testing.T) {
		c := newTFTPClient(t, addr)
		c.send(c.srv, request(opRRQ, "small.bin", "octet", "timeout", "2", "blksize", "4"))
		d, from := c.recv(3 * time.Second)
		if d == nil || opcode(d) != opDATA || binary.BigEndian.Uint16(d[2:]) != 1 || len(d) != 516 {
			t.Fatalf("want DATA block 1 of 512 bytes, got %q", d)
		}
		c.send(from, ack(1))
		d, _ = c.recv(3 * time.Second)
		if len(d) != 4+1000-512 {
			t.Fatalf("last block: %d bytes", len(d))
		}
		c.send(from, ack(2))
	})
	errCases := []struct {
		name string
		pkt  []byte
		code int
	}{
		{"missing file", request(opRRQ, "nope.bin", "octet"), 1},
		{"missing file with options", request(opRRQ, "nope.bin", "octet", "blksize", "1468"), 1},
		{"write request", request(opWRQ, "upload.bin", "octet"), 2},
		{"mail mode", request(opRRQ, "small.bin", "mail"), 4},
		{"traversal", request(opRRQ, "../secret", "octet"), 2},
		{"symlink out of root", request(opRRQ, "escape", "octet"), 1},
		{"no mode", []byte("\x00\x01small.bin\x00"), 4},
		{"not terminated", []byte("\x00\x01small.bin\x00octet"), 4},
		{"odd options", request(opRRQ, "small.bin", "octet", "blksize"), 4},
		{"ACK to port 69", ack(1), 4},
		{"DATA to port 69", []byte{0, opDATA, 0, 1, 'x'}, 4},
		{"unknown opcode", []byte{0, 9, 0, 0}, 4},
		{"one byte", []byte{1}, 4},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTFTPClient(t, addr)
			c.send(c.srv, tc.pkt)
			b, _ := c.recv(3 * time.Second)
			if b == nil {
				t.Fatal("no reply")
			}
			if code := errorCode(t, b); code != tc.code {
				t.Fatalf("error code %d (%q), want %d", code, b[4:], tc.code)
			}
		})
	}
	t.Run("error to port 69 gets no answer", func(t *testing.T) {
		c := newTFTPClient(t, addr)
		c.send(c.srv, []byte("\x00\x05\x00\x00oops\x00"))
		if b, _ := c.recv(500 * time.Millisecond); b != nil {
			t.Fatalf("server answered an ERROR with %q", b)
		}
	})
	log.waitLog(t, "pxe request refused", "file=../secret", "code=2")
}

// TestTFTPTraversal: atftp asks for names outside the root; every one fails
// and is logged.
func TestTFTPTraversal(t *testing.T) {
	testenv.RequireBinaries(t, "atftp")
	dir, _ := bootRoot(t, map[string]int{"small.bin": 10})
	var log logBuffer
	_, addr := startTFTP(t, dirFiles(t, dir), WithLogger(log.logger()))
	host, port, _ := net.SplitHostPort(addr)
	ctx := testContext(t)
	names := []string{"../secret", "../../../../etc/passwd", "/etc/passwd", "/../secret", "%2e%2e/secret",
		"%2e%2e%2fsecret", "..%2fsecret", "escape", "abs-escape", "dir/deep-escape", "dir/../../secret",
		strings.Repeat("a/", 200) + "x", strings.Repeat("b", 400), "..\\secret", "dir//../secret"}
	for _, name := range names {
		local := filepath.Join(t.TempDir(), "out")
		out, err := exec.CommandContext(ctx, "atftp", "--get", "-r", name, "-l", local, host, port).CombinedOutput()
		if err == nil {
			t.Errorf("atftp get %q succeeded", name)
		}
		if b, _ := os.ReadFile(local); len(b) > 0 {
			t.Errorf("atftp get %q wrote %q", name, b)
		}
		_ = out
	}
	// NUL inside the name cannot be typed into atftp: send it raw.
	c := newTFTPClient(t, addr)
	c.send(c.srv, []byte("\x00\x01small.bin\x00/../secret\x00octet\x00"))
	if b, _ := c.recv(3 * time.Second); b == nil || opcode(b) != opERROR {
		t.Errorf("NUL-split name: want ERROR, got %q", b)
	}
	log.waitLog(t, "file=../secret", "file=%2e%2e/secret", "file=escape", "file=dir/deep-escape", "bbbbbbbb", "file=/etc/passwd")
	if n := strings.Count(log.String(), "result=ok"); n != 0 {
		t.Fatalf("%d traversal requests were served:\n%s", n, log.String())
	}
}

// TestTFTPClientAbortAfterOACK is what UEFI PXE does: ask for tsize, then
// abort with error 8 once it has the size. The server logs it as aborted.
func TestTFTPClientAbortAfterOACK(t *testing.T) {
	dir, _ := bootRoot(t, map[string]int{"k.bin": 5000})
	var log logBuffer
	_, addr := startTFTP(t, dirFiles(t, dir), WithLogger(log.logger()))
	c := newTFTPClient(t, addr)
	c.send(c.srv, request(opRRQ, "k.bin", "octet", "tsize", "0", "blksize", "1468"))
	b, from := c.recv(3 * time.Second)
	if opts := oackOptions(t, b); opts["tsize"] != "5000" {
		t.Fatalf("OACK %v", opts)
	}
	c.send(from, []byte("\x00\x05\x00\x08tsize only\x00"))
	log.waitLog(t, "file=k.bin", "result=aborted")
	// pin v3.2.0 answers the client's ERROR with an ERROR of its own from
	// inside ReadFrom (README: known limitations); the client has gone, so
	// it is harmless, and nothing else may follow it.
	c.recv(300 * time.Millisecond)
	if b, _ := c.recv(300 * time.Millisecond); b != nil {
		t.Fatalf("server kept sending after the client aborted: %q", b)
	}
}

// TestTFTPFilter checks the front's pure decision: error codes, the
// rewritten request and the per-request send-ahead window.
func TestTFTPFilter(t *testing.T) {
	s := NewTFTPServer(nil, WithMaxBlockSize(1468), WithSendAhead(1), WithMaxSendAhead(16))
	for name, tc := range map[string]struct {
		pkt    []byte
		code   int
		out    string
		window uint
	}{
		"plain":              {request(opRRQ, "a", "octet"), -1, "\x00\x01a\x00octet\x00", 1},
		"case folded":        {request(opRRQ, "a", "NetASCII", "BlkSize", "9000", "TSIZE", "0"), -1, "\x00\x01a\x00netascii\x00blksize\x001468\x00tsize\x000\x00", 1},
		"windowsize 4":       {request(opRRQ, "a", "octet", "windowsize", "4"), -1, "\x00\x01a\x00octet\x00", 4},
		"windowsize capped":  {request(opRRQ, "a", "octet", "windowsize", "64"), -1, "\x00\x01a\x00octet\x00", 16},
		"windowsize garbage": {request(opRRQ, "a", "octet", "windowsize", "x"), -1, "\x00\x01a\x00octet\x00", 1},
		"timeout dropped":    {request(opRRQ, "a", "octet", "timeout", "5"), -1, "\x00\x01a\x00octet\x00", 1},
		"blksize too small":  {request(opRRQ, "a", "octet", "blksize", "100"), -1, "\x00\x01a\x00octet\x00", 1},
		"duplicate option":   {request(opRRQ, "a", "octet", "blksize", "512", "BLKSIZE", "600"), 4, "", 0},
		"write":              {request(opWRQ, "a", "octet"), 2, "", 0},
		"traversal":          {request(opRRQ, "../a", "octet"), 2, "", 0},
		"error ignored":      {[]byte("\x00\x05\x00\x00x\x00"), -1, "", 0},
	} {
		t.Run(name, func(t *testing.T) {
			out, window, code, msg := s.filter(tc.pkt, 0)
			if code != tc.code || string(out) != tc.out || window != tc.window {
				t.Fatalf("filter = %q window %d code %d (%s); want %q window %d code %d", out, window, code, msg, tc.out, tc.window, tc.code)
			}
		})
	}
}

// TestTFTPBlockRollover: more than 65535 blocks of 512 bytes; the block
// number wraps to 0 (what tftpd-hpa, atftp and curl do).
func TestTFTPBlockRollover(t *testing.T) {
	testenv.RequireBinaries(t, "atftp")
	dir, sums := bootRoot(t, map[string]int{"roll.bin": 512*65536 + 1000})
	_, addr := startTFTP(t, dirFiles(t, dir))
	host, port, _ := net.SplitHostPort(addr)
	local := filepath.Join(t.TempDir(), "roll.bin")
	ctx := testContext(t)
	start := time.Now()
	if b, err := exec.CommandContext(ctx, "atftp", "--get", "-r", "roll.bin", "-l", local, host, port).CombinedOutput(); err != nil {
		t.Fatalf("atftp: %v\n%s", err, b)
	}
	got, _ := os.ReadFile(local)
	if sha256.Sum256(got) != sums["roll.bin"] {
		t.Fatalf("%d bytes, content differs", len(got))
	}
	t.Logf("65538 blocks of 512 in %v", time.Since(start).Round(time.Millisecond))
}
