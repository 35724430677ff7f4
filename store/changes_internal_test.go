package store

import (
	"context"
	"strconv"
	"testing"
)

// A subscriber that falls behind gets KindResync instead of what it missed,
// then the changes that follow; the publisher never blocks.
func TestBroadcasterLagging(t *testing.T) {
	b := newBroadcaster()
	defer b.close()
	ch, ok := b.subscribe(context.Background())
	if !ok {
		t.Fatal("subscribe failed")
	}
	for i := range subscriberBuffer + 10 {
		b.publish(Change{Kind: KindZone, ID: strconv.Itoa(i), Op: OpInsert})
	}
	for i := range subscriberBuffer {
		if c := <-ch; c.ID != strconv.Itoa(i) {
			t.Fatalf("change %d has id %s", i, c.ID)
		}
	}
	b.publish(Change{Kind: KindZone, ID: "after", Op: OpInsert})
	if c := <-ch; c.Kind != KindResync {
		t.Fatalf("after lagging got %+v, want resync", c)
	}
	if c := <-ch; c.ID != "after" {
		t.Fatalf("after resync got %+v", c)
	}
}
