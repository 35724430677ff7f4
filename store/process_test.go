package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// Environment of the allocator child process (TestAllocatorProcess).
const (
	childDSNEnv    = "IRONKIT_STORE_CHILD_DSN"
	childSubnetEnv = "IRONKIT_STORE_CHILD_SUBNET"
)

// allocatorChild is the child process of TestConcurrentAllocationProcesses
// (TestMain runs it instead of the tests when childDSNEnv is set): it opens
// the Store, prints READY, waits for a line on stdin, then allocates until
// the subnet is exhausted, printing each address.
func allocatorChild() int {
	fail := func(err error) int { fmt.Println("ERROR", err); return 1 }
	subnetID, err := strconv.ParseInt(os.Getenv(childSubnetEnv), 10, 64)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, os.Getenv(childDSNEnv))
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail(err)
	}
	for {
		a, err := s.AllocateIP(ctx, subnetID, store.AllocRequest{Comment: "child"})
		if errors.Is(err, netmodel.ErrExhausted) {
			fmt.Println("DONE")
			return 0
		}
		if err != nil {
			return fail(err)
		}
		fmt.Println("ALLOCATED", a.Addr)
	}
}

// TestConcurrentAllocationProcesses: two child processes and this one
// allocate from one subnet at once; every address is handed out once.
func TestConcurrentAllocationProcesses(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := ctxT(t)
		s := b.open(t)
		_, _, sn := seedNetwork(t, s, "10.61.0.0/25") // .2-.126 free
		const free = 125
		type child struct {
			cmd   *exec.Cmd
			stdin io.WriteCloser
			lines chan string
		}
		var children []*child
		for range 2 {
			c := &child{cmd: exec.CommandContext(ctx, exe, "-test.run=^$"), lines: make(chan string, 64)}
			c.cmd.Env = append(os.Environ(), childDSNEnv+"="+b.dsn, childSubnetEnv+"="+strconv.FormatInt(sn.ID, 10))
			c.cmd.Stderr = os.Stderr
			stdout, err := c.cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if c.stdin, err = c.cmd.StdinPipe(); err != nil {
				t.Fatal(err)
			}
			if err := c.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() {
				defer close(c.lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					c.lines <- sc.Text()
				}
			}()
			children = append(children, c)
		}
		// Start together: wait for every child's READY, then release all.
		for i, c := range children {
			if line := <-c.lines; line != "READY" {
				t.Fatalf("child %d: %q", i, line)
			}
		}
		for _, c := range children {
			_, _ = io.WriteString(c.stdin, "go\n")
		}
		seen := map[string]int{}
		for {
			a, err := s.AllocateIP(ctx, sn.ID, store.AllocRequest{Comment: "parent"})
			if errors.Is(err, netmodel.ErrExhausted) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[a.Addr.String()]++
		}
		fromChildren := 0
		for i, c := range children {
			done := false
			for line := range c.lines {
				if addr, ok := strings.CutPrefix(line, "ALLOCATED "); ok {
					if _, err := netip.ParseAddr(addr); err != nil {
						t.Fatalf("child %d printed %q", i, line)
					}
					seen[addr]++
					fromChildren++
				}
				if line == "DONE" {
					done = true
				}
				if strings.HasPrefix(line, "ERROR") {
					t.Errorf("child %d: %s", i, line)
				}
			}
			if err := c.cmd.Wait(); err != nil || !done {
				t.Fatalf("child %d: exit %v, finished=%v", i, err, done)
			}
		}
		for a, n := range seen {
			if n != 1 {
				t.Errorf("address %s handed out %d times", a, n)
			}
		}
		if len(seen) != free {
			t.Fatalf("%d distinct addresses handed out, want %d", len(seen), free)
		}
		t.Logf("%s: %d addresses from this process, %d from 2 children", b.name, free-fromChildren, fromChildren)
	})
}
