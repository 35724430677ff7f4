package region

import (
	"context"
	"fmt"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/backend"
	"github.com/ironkit/ironkit/store"
)

// invalidate applies one store change to the API cache: a machine's change
// drops that machine; a revoked key or deleted user drops the keys; a
// change of something many machines show (a tag, zone or pool renamed or
// deleted, a fabric, VLAN or subnet deleted or changed: their addresses go
// with them), a kind this code does not know, and KindResync drop
// everything. Creations of network objects, addresses (their machine is
// announced as well) and boot resources change no cached machine.
func invalidate(c *api.Cache, ch store.Change) {
	switch ch.Kind {
	case store.KindMachine:
		c.Machine(ch.ID)
	case backend.KindAPIKeys:
		c.Keys()
	case store.KindIPAddress, store.KindIPRange, store.KindBootResource, store.KindSpace:
	case store.KindFabric, store.KindVLAN, store.KindSubnet, store.KindZone, store.KindResourcePool, backend.KindTag:
		if ch.Op != store.OpInsert {
			c.Reset()
		}
	default:
		c.Reset()
	}
}

// followCache keeps the API cache exact while ctx lasts: it subscribes to
// the store's changes (on PostgreSQL every region's, by LISTEN/NOTIFY),
// enables the cache once subscribed and disables it when it returns.
// This region's own writes invalidate synchronously through the store's
// OnCommit hook (registered in Open).
func (s *Service) followCache(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	changes, err := s.st.Changes(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // shutting down while the listener connected
		}
		return fmt.Errorf("region: follow changes for the API cache: %w", err)
	}
	s.cache.Enable(true)
	defer s.cache.Enable(false)
	for ch := range changes {
		invalidate(s.cache, ch)
	}
	return nil
}
