package rackrpc

import (
	"context"
	"fmt"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/rpc"
)

// operatorCommands are the rack commands an operator may queue through the
// REST API (POST /api/v1/racks/{id}/<kind>).
var operatorCommands = map[string]bool{rpc.CmdSyncImages: true, rpc.CmdReconfigure: true}

// QueueRackCommand implements api.RackCommands: it queues kind for rack
// and returns at once; the rack runs it on its next command poll (within
// its long-poll, usually under a second) and its result lands in the
// command's row.
func (s *Server) QueueRackCommand(ctx context.Context, rack int64, kind string) (api.RackCommand, error) {
	if !operatorCommands[kind] {
		return api.RackCommand{}, api.BadField("kind", kind, "queue sync-images or reconfigure")
	}
	n, err := s.db().NewSelect().Table("racks").Where("id = ?", rack).Count(ctx)
	if err != nil {
		return api.RackCommand{}, err
	}
	if n == 0 {
		return api.RackCommand{}, api.NotFound(fmt.Sprintf("rack %d (see GET /api/v1/racks)", rack))
	}
	id, err := s.Enqueue(ctx, rack, kind, nil)
	if err != nil {
		return api.RackCommand{}, err
	}
	s.log.Info("rack command queued by an operator", "rack_id", rack, "kind", kind, "command_id", id)
	return api.RackCommand{ID: id, RackID: rack, Kind: kind, State: statePending}, nil
}
