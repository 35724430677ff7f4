package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace created by a test and deleted when it ends.
// Every address used inside belongs to the test: traffic never leaves the
// namespaces the test made.
type Netns struct {
	Name string
}

// NewNetns creates a namespace with its loopback up. Root only: call
// RequireRoot first.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	RequireBinaries(t, "ip")
	n := &Netns{Name: RandomName("ik")}
	mustIP(t, "netns", "add", n.Name)
	// Processes a test starts inside are stopped by their own cleanups
	// (Start), which run before this one because cleanups run last-in first-out.
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.Name).Run() })
	n.MustRun(t, "ip", "link", "set", "lo", "up")
	return n
}

// Command returns a command that runs inside the namespace.
func (n *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// MustRun runs a command inside the namespace and fails t if it fails.
func (n *Netns) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("in netns %s: %s %v: %v\n%s", n.Name, name, args, err, out)
	}
	return string(out)
}

// Do runs fn on an OS thread switched into the namespace. Sockets opened by
// fn stay in the namespace after Do returns, so servers can be started inside
// and served from any goroutine. The thread is discarded afterwards.
func (n *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine exits locked, so Go retires the
		// thread instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + n.Name)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Veth creates a veth pair with one end (aName) in a and the other (bName)
// in b, both up. Names must be at most 15 bytes.
func Veth(t testing.TB, a *Netns, aName string, b *Netns, bName string) {
	t.Helper()
	tmpA, tmpB := RandomName("va"), RandomName("vb")
	mustIP(t, "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	mustIP(t, "link", "set", tmpA, "netns", a.Name)
	mustIP(t, "link", "set", tmpB, "netns", b.Name)
	a.MustRun(t, "ip", "link", "set", tmpA, "name", aName)
	b.MustRun(t, "ip", "link", "set", tmpB, "name", bName)
	a.MustRun(t, "ip", "link", "set", aName, "up")
	b.MustRun(t, "ip", "link", "set", bName, "up")
}

// AddAddr assigns cidr (e.g. "10.77.0.1/24") to dev inside n.
func (n *Netns) AddAddr(t testing.TB, dev, cidr string) {
	t.Helper()
	n.MustRun(t, "ip", "addr", "add", cidr, "dev", dev)
}

// Segment is a layer-2 segment: a bridge in a namespace of its own, to which
// hosts (namespaces) attach through veth pairs.
type Segment struct {
	Bridge *Netns
	hosts  int
}

// NewSegment creates the bridge namespace and bridge "br0".
func NewSegment(t testing.TB) *Segment {
	t.Helper()
	s := &Segment{Bridge: NewNetns(t)}
	s.Bridge.MustRun(t, "ip", "link", "add", "br0", "type", "bridge", "forward_delay", "0")
	s.Bridge.MustRun(t, "ip", "link", "set", "br0", "up")
	return s
}

// Host is a namespace attached to a Segment through interface Iface.
type Host struct {
	*Netns
	Iface string
}

// AddHost creates a namespace, attaches it to the segment as interface
// "eth0", and assigns cidr to it unless cidr is empty.
func (s *Segment) AddHost(t testing.TB, cidr string) *Host {
	t.Helper()
	h := &Host{Netns: NewNetns(t), Iface: "eth0"}
	s.hosts++
	port := fmt.Sprintf("p%d", s.hosts)
	Veth(t, h.Netns, h.Iface, s.Bridge, port)
	s.Bridge.MustRun(t, "ip", "link", "set", port, "master", "br0")
	if cidr != "" {
		h.AddAddr(t, h.Iface, cidr)
	}
	return h
}

// AddTap creates a tap device attached to the bridge, for a QEMU guest
// started inside the bridge namespace, and returns its name.
func (s *Segment) AddTap(t testing.TB) string {
	t.Helper()
	s.hosts++
	name := fmt.Sprintf("tap%d", s.hosts)
	s.Bridge.MustRun(t, "ip", "tuntap", "add", "dev", name, "mode", "tap")
	s.Bridge.MustRun(t, "ip", "link", "set", name, "master", "br0")
	s.Bridge.MustRun(t, "ip", "link", "set", name, "up")
	return name
}

func mustIP(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}
