package testenv

import (
	"net"
	"testing"
	"time"
)

func TestSegmentHostsReachEachOther(t *testing.T) {
	RequireRoot(t, "the namespace harness test")
	seg := NewSegment(t)
	a := seg.AddHost(t, "10.250.0.1/24")
	b := seg.AddHost(t, "10.250.0.2/24")

	// A socket opened through Do lives in the namespace.
	var ln net.Listener
	if err := b.Do(func() (err error) { ln, err = net.Listen("tcp", "10.250.0.2:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if l, err := net.Listen("tcp", "10.250.0.2:0"); err == nil {
		l.Close()
		t.Fatal("address 10.250.0.2 must not exist outside the namespace")
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	var got []byte
	err := a.Do(func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		got = make([]byte, 2)
		_, err = c.Read(got)
		return err
	})
	if err != nil || string(got) != "hi" {
		t.Fatalf("host a could not reach host b across the bridge: %v %q", err, got)
	}
}
