// Command lockstep is a minimal RFC 1350 lock-step TFTP sender used only to
// measure the ceiling of lock-step TFTP in `make bench-tftp`: how fast can a
// client go against a server that does nothing but one blocking recv(2) and
// one send(2) per block? It is not part of the product (no name checks, no
// netascii, no WRQ, files mapped whole): see pxe/README.md.
//
// Each transfer runs on its own OS thread with a blocking socket (no Go
// netpoller): per block exactly one send and one recv, like a C server.
// With -spin it polls the socket (MSG_DONTWAIT) instead of sleeping in recv,
// which takes the server's wake-up off the round trip but burns a CPU.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6969", "IPv4 listen address")
	dir := flag.String("dir", ".", "directory served (names are joined to it unchecked: bench use only)")
	spin := flag.Bool("spin", false, "busy-poll for ACKs instead of blocking")
	flag.Parse()
	la, err := net.ResolveUDPAddr("udp4", *addr)
	if err != nil {
		log.Fatal(err)
	}
	c, err := net.ListenUDP("udp4", la)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 2048)
	for {
		n, ra, err := c.ReadFromUDP(buf)
		if err != nil {
			log.Fatal(err)
		}
		if n < 4 || binary.BigEndian.Uint16(buf) != 1 || buf[n-1] != 0 {
			continue
		}
		parts := bytes.Split(buf[2:n-1], []byte{0})
		if len(parts) < 2 {
			continue
		}
		blk, tsize := 512, false
		var oack []byte
		for i := 2; i+1 < len(parts); i += 2 {
			switch strings.ToLower(string(parts[i])) {
			case "blksize":
				if v, err := strconv.Atoi(string(parts[i+1])); err == nil && v >= 512 && v <= 65464 {
					blk = v
					oack = append(oack, "blksize\x00"+strconv.Itoa(v)+"\x00"...)
				}
			case "tsize":
				tsize = true
			}
		}
		data, err := mapFile(filepath.Join(*dir, filepath.Clean("/"+string(parts[0]))))
		if err != nil {
			log.Printf("%s: %v", parts[0], err)
			continue
		}
		if tsize {
			oack = append(oack, "tsize\x00"+strconv.Itoa(len(data))+"\x00"...)
		}
		go func() {
			if err := send(la.IP, ra, data, blk, oack, *spin); err != nil {
				log.Printf("%s: %v", ra, err)
			}
			if len(data) > 0 {
				_ = syscall.Munmap(data)
			}
		}()
	}
}

// mapFile maps a file read-only (page cache, no copy, no Go heap).
func mapFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return nil, err
	}
	return syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
}

// send runs one lock-step transfer from a new socket (a new TID).
func send(local net.IP, ra *net.UDPAddr, data []byte, blk int, oack []byte, spin bool) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var src, dst syscall.SockaddrInet4
	copy(src.Addr[:], local.To4())
	copy(dst.Addr[:], ra.IP.To4())
	dst.Port = ra.Port
	if err := syscall.Bind(fd, &src); err != nil {
		return err
	}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 1}); err != nil {
		return err
	}
	if err := syscall.Connect(fd, &dst); err != nil {
		return err
	}
	pkt := make([]byte, 4+blk)
	ack := make([]byte, 516)
	var l int
	var block uint16
	if len(oack) > 0 {
		l = copy(pkt[2:], oack) + 2
		binary.BigEndian.PutUint16(pkt, 6) // OACK, acknowledged by ACK 0
	} else {
		block = 1
		l = 4 + copy(pkt[4:], data)
		binary.BigEndian.PutUint16(pkt, 3)
		binary.BigEndian.PutUint16(pkt[2:], block)
	}
	off := l - 4
	if block == 0 {
		off = 0
	}
	flags := 0
	if spin {
		flags = syscall.MSG_DONTWAIT
	}
	for {
		acked := false
		for try := 0; try < 5 && !acked; try++ {
			if _, err := syscall.Write(fd, pkt[:l]); err != nil {
				return err
			}
			for {
				n, _, err := syscall.Recvfrom(fd, ack, flags)
				if spin && errors.Is(err, syscall.EAGAIN) {
					continue // a real timeout is not implemented for -spin
				}
				if err != nil {
					break // SO_RCVTIMEO: resend
				}
				if n >= 4 && binary.BigEndian.Uint16(ack) == 5 {
					return errors.New("client sent an error")
				}
				if n >= 4 && binary.BigEndian.Uint16(ack) == 4 && binary.BigEndian.Uint16(ack[2:]) == block {
					acked = true
					break
				}
			}
		}
		if !acked {
			return errors.New("no ACK after 5 tries")
		}
		if block > 0 && l-4 < blk {
			return nil // the short block is acknowledged: done
		}
		block++
		k := copy(pkt[4:], data[off:])
		off += k
		l = 4 + k
		binary.BigEndian.PutUint16(pkt, 3)
		binary.BigEndian.PutUint16(pkt[2:], block)
	}
}
