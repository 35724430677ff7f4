package api

import (
	"context"
	"io"

	"github.com/ironkit/ironkit/internal/region/auth"
	"net/http"
)

// The interfaces the handlers call; internal/region implements them over the
// store and the job runner. Errors wrap ErrNotFound, ErrConflict,
// ErrInvalid, *Error, *lifecycle.TransitionError or *netmodel.ValidationError
// so they map to the right status.

// Collection is a plain list/get/create/update/delete resource. Update gets
// the full object after the request's fields were merged into the current
// one.
type Collection[T any] interface {
	List(ctx context.Context) ([]T, error)
	Get(ctx context.Context, id int64) (T, error)
	Create(ctx context.Context, v T) (T, error)
	Update(ctx context.Context, v T) (T, error)
	Delete(ctx context.Context, id int64) error
}

// Users stores users and API keys. Passwords arrive already hashed.
type Users interface {
	CreateUser(ctx context.Context, u User, passwordHash string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	GetUser(ctx context.Context, id int64) (User, error)
	// UserByName returns the user and their password hash.
	UserByName(ctx context.Context, username string) (User, string, error)
	DeleteUser(ctx context.Context, id int64) error
	CreateAPIKey(ctx context.Context, userID int64, name, tokenHash string) (APIKey, error)
	ListAPIKeys(ctx context.Context, userID int64) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, userID, keyID int64) error
}

// Machines lists and changes machines; Act and Allocate run lifecycle
// transitions (one transaction with an event) and enqueue the jobs that
// carry them out.
type Machines interface {
	ListMachines(ctx context.Context, q MachineQuery) ([]Machine, error)
	GetMachine(ctx context.Context, systemID string) (Machine, error)
	CreateMachine(ctx context.Context, p auth.Principal, c MachineCreate) (Machine, error)
	UpdateMachine(ctx context.Context, p auth.Principal, systemID string, u MachineUpdate) (Machine, error)
	DeleteMachine(ctx context.Context, p auth.Principal, systemID string) error
	Act(ctx context.Context, p auth.Principal, systemID string, action string, req ActionRequest) (Machine, error)
	Allocate(ctx context.Context, p auth.Principal, req AllocateRequest) (Machine, error)
	// IssueMachineToken creates a token reaching only the machine's metadata.
	IssueMachineToken(ctx context.Context, systemID string) (string, error)
}

// MachineIDs is an optional extension of Machines that the cached machine
// list needs: the system ids of the page q selects, in order, from one
// query (the machines themselves come from the Cache).
type MachineIDs interface {
	ListMachineIDs(ctx context.Context, q MachineQuery) ([]string, error)
}

// IPAddresses reserves and releases static addresses.
type IPAddresses interface {
	ListIPAddresses(ctx context.Context, subnetID int64) ([]IPAddress, error)
	ReserveIP(ctx context.Context, p auth.Principal, r IPReserve) (IPAddress, error)
	ReleaseIP(ctx context.Context, p auth.Principal, id int64) error
}

// Events reads machine history.
type Events interface {
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
}

// Regions lists the region controllers sharing the database (each
// regiond registers itself and refreshes its last_seen while it runs).
type Regions interface {
	ListRegions(ctx context.Context) ([]Region, error)
}

// Racks lists and deletes registered rack controllers (racks register
// themselves over the rack RPC).
type Racks interface {
	ListRacks(ctx context.Context) ([]Rack, error)
	GetRack(ctx context.Context, id int64) (Rack, error)
	DeleteRack(ctx context.Context, id int64) error
}

// RackCommands queues operator commands for a rack (the rack RPC). kind is
// "sync-images" (fetch boot images now) or "reconfigure" (pull the config
// now); an unknown rack is an *Error with status 404.
type RackCommands interface {
	QueueRackCommand(ctx context.Context, rackID int64, kind string) (RackCommand, error)
}

// Metadata is the ephemeral environment's side of the region.
type Metadata interface {
	Enlist(ctx context.Context, e Enlist) (Machine, error)
	CommissioningScripts(ctx context.Context, systemID string) ([]Script, error)
	CommissioningResult(ctx context.Context, systemID string, r CommissioningResult) error
	Heartbeat(ctx context.Context, systemID string) error
	DeployInstructions(ctx context.Context, systemID, baseURL string) (DeployInstructions, error)
	Signal(ctx context.Context, systemID string, s Signal) error
}

// Backend is everything the handlers need.
type Backend struct {
	Tokens      auth.TokenLookup
	Users       Users
	Machines    Machines
	Fabrics     Collection[Fabric]
	VLANs       Collection[VLAN]
	Subnets     Collection[Subnet]
	IPRanges    Collection[IPRange]
	IPAddresses IPAddresses
	Zones       Collection[Zone]
	Pools       Collection[Pool]
	Tags        Collection[Tag]
	Racks       Racks
	Regions     Regions
	Events      Events
	Metadata    Metadata
	// BootResources and Images are optional: without them the
	// boot-resource routes and the image handler are not served.
	BootResources BootResources
	// Images serves image bytes and manifests to machines and racks
	// (images.Store.Handler); mounted at /images/v1/.
	Images http.Handler
	// RackCommands is optional: without it the rack command routes
	// (sync-images, reconfigure) are not served.
	RackCommands RackCommands
}

func (b Backend) missing() string {
	checks := []struct {
		name string
		nil_ bool
	}{
		{"Tokens", b.Tokens == nil}, {"Users", b.Users == nil}, {"Machines", b.Machines == nil},
		{"Fabrics", b.Fabrics == nil}, {"VLANs", b.VLANs == nil}, {"Subnets", b.Subnets == nil},
		{"IPRanges", b.IPRanges == nil}, {"IPAddresses", b.IPAddresses == nil}, {"Zones", b.Zones == nil},
		{"Pools", b.Pools == nil}, {"Tags", b.Tags == nil}, {"Racks", b.Racks == nil}, {"Regions", b.Regions == nil},
		{"Events", b.Events == nil}, {"Metadata", b.Metadata == nil},
	}
	for _, c := range checks {
		if c.nil_ {
			return c.name
		}
	}
	return ""
}

// BootResources lists, uploads and imports boot images.
type BootResources interface {
	ListBootResources(ctx context.Context) ([]BootResource, error)
	UploadBootResource(ctx context.Context, u BootUpload, body io.Reader) (BootResource, error)
	StartImport(ctx context.Context, source string) (ImportStatus, error)
	ImportStatus(ctx context.Context) (ImportStatus, error)
}
