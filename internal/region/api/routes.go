package api

import (
	"net/http"

	"github.com/ironkit/ironkit/internal/region/auth"
)

const v1 = "/api/v1"

// table is the route table of the region. Order is the order of the
// OpenAPI document's operations within a path.
func (s *Server) table() []Route {
	b := s.cfg.Backend
	rs := []Route{
		{Method: "GET", Path: v1 + "/version", Op: "getVersion", Tag: "region", Summary: "Region and API version",
			Access: auth.Public, Reply: Version{}, handle: s.version},
		{Method: "GET", Path: v1 + "/openapi.json", Op: "getOpenAPI", Tag: "region", Summary: "This document",
			Access: auth.Public, Reply: map[string]any{}, raw: s.serveOpenAPI},
		{Method: "GET", Path: "/metrics", Op: "getMetrics", Tag: "region", Summary: "Prometheus metrics",
			Access: auth.Public, Reply: "", ContentType: "text/plain",
			raw: func(w http.ResponseWriter, r *Request) error { s.metricsHandler().ServeHTTP(w, r.Request); return nil }},
		{Method: "POST", Path: v1 + "/login", Op: "login", Tag: "users", Summary: "Trade a username and password for a new API key",
			Access: auth.Public, Body: Login{}, Reply: LoginReply{}, Status: http.StatusCreated, handle: s.login},

		// users and API keys
		{Method: "GET", Path: v1 + "/users", Op: "listUsers", Tag: "users", Summary: "List users",
			Access: auth.AdminOnly, Reply: []User{}, handle: s.listUsers},
		{Method: "POST", Path: v1 + "/users", Op: "createUser", Tag: "users", Summary: "Create a user",
			Access: auth.AdminOnly, Body: UserCreate{}, Reply: User{}, Status: http.StatusCreated, handle: s.createUser},
		{Method: "GET", Path: v1 + "/users/me", Op: "whoami", Tag: "users", Summary: "The calling user",
			Access: auth.Authenticated, Reply: User{}, handle: s.whoami},
		{Method: "GET", Path: v1 + "/users/{id}", Op: "getUser", Tag: "users", Summary: "Get a user",
			Access: auth.AdminOnly, Reply: User{}, handle: s.getUser},
		{Method: "DELETE", Path: v1 + "/users/{id}", Op: "deleteUser", Tag: "users", Summary: "Delete a user",
			Access: auth.AdminOnly, Status: http.StatusNoContent, handle: s.deleteUser},
		{Method: "GET", Path: v1 + "/users/me/api-keys", Op: "listAPIKeys", Tag: "users", Summary: "List the caller's API keys",
			Access: auth.Authenticated, Reply: []APIKey{}, handle: s.listKeys},
		{Method: "POST", Path: v1 + "/users/me/api-keys", Op: "createAPIKey", Tag: "users", Summary: "Create an API key (shown once)",
			Access: auth.Authenticated, Body: APIKeyCreate{}, Reply: APIKey{}, Status: http.StatusCreated, handle: s.createKey},
		{Method: "DELETE", Path: v1 + "/users/me/api-keys/{key_id}", Op: "revokeAPIKey", Tag: "users", Summary: "Revoke an API key",
			Access: auth.Authenticated, Status: http.StatusNoContent, handle: s.revokeKey},

		// machines
		{Method: "GET", Path: v1 + "/machines", Op: "listMachines", Tag: "machines",
			Summary: "List machines (non-admins: the Ready pool and their own), with filters and cursor pagination",
			Access:  auth.Authenticated, Reply: MachinePage{}, Query: machineQueryParams, handle: s.listMachines},
		{Method: "POST", Path: v1 + "/machines", Op: "createMachine", Tag: "machines",
			Summary: "Create a machine (New), or import an already-deployed one with status deployed",
			Access:  auth.AdminOnly, Body: MachineCreate{}, Reply: Machine{}, Status: http.StatusCreated, handle: s.createMachine},
		{Method: "POST", Path: v1 + "/machines/allocate", Op: "allocateMachine", Tag: "machines",
			Summary: "Allocate a Ready machine matching constraints",
			Access:  auth.Authenticated, Body: AllocateRequest{}, Reply: Machine{}, handle: s.allocate},
		{Method: "GET", Path: v1 + "/machines/{system_id}", Op: "getMachine", Tag: "machines", Summary: "Get a machine",
			Access: auth.Authenticated, Reply: Machine{}, handle: s.getMachine},
		{Method: "PATCH", Path: v1 + "/machines/{system_id}", Op: "updateMachine", Tag: "machines", Summary: "Update a machine",
			Access: auth.AdminOnly, Body: MachineUpdate{}, Reply: Machine{}, handle: s.updateMachine},
		{Method: "DELETE", Path: v1 + "/machines/{system_id}", Op: "deleteMachine", Tag: "machines", Summary: "Delete a machine",
			Access: auth.AdminOnly, Status: http.StatusNoContent, handle: s.deleteMachine},
		{Method: "POST", Path: v1 + "/machines/{system_id}/actions/{action}", Op: "machineAction", Tag: "machines",
			Summary: "Run an action: commission, test, abort, deploy, release, mark-broken, mark-fixed, rescue-mode, exit-rescue-mode, lock, unlock, power-on, power-off, power-query",
			Access:  auth.Authenticated, Body: ActionRequest{}, Reply: Machine{}, handle: s.machineAction},
		{Method: "GET", Path: v1 + "/machines/{system_id}/timeline", Op: "machineTimeline", Tag: "machines",
			Summary: "Provisioning timeline: the machine's status phases and their events, with durations",
			Access:  auth.Authenticated, Reply: Timeline{}, handle: s.machineTimeline},
		{Method: "POST", Path: v1 + "/machines/{system_id}/token", Op: "issueMachineToken", Tag: "machines",
			Summary: "Issue a machine token for the ephemeral environment (shown once)",
			Access:  auth.AdminOnly, Reply: MachineToken{}, Status: http.StatusCreated, handle: s.issueToken},

		// IP addresses
		{Method: "GET", Path: v1 + "/ipaddresses", Op: "listIPAddresses", Tag: "ipaddresses", Summary: "List static addresses",
			Access: auth.Authenticated, Reply: []IPAddress{}, Query: []Param{{Name: "subnet_id", Type: "integer", Description: "only this subnet"}},
			handle: s.listIPs},
		{Method: "POST", Path: v1 + "/ipaddresses", Op: "reserveIPAddress", Tag: "ipaddresses",
			Summary: "Reserve an address (the next free one of the subnet when ip is empty)",
			Access:  auth.Authenticated, Body: IPReserve{}, Reply: IPAddress{}, Status: http.StatusCreated, handle: s.reserveIP},
		{Method: "DELETE", Path: v1 + "/ipaddresses/{id}", Op: "releaseIPAddress", Tag: "ipaddresses", Summary: "Release a reserved address",
			Access: auth.Authenticated, Status: http.StatusNoContent, handle: s.releaseIP},

		// regions
		{Method: "GET", Path: v1 + "/regions", Op: "listRegions", Tag: "regions",
			Summary: "List region controllers sharing the database, each with alive (last seen within 2 minutes)",
			Access:  auth.Authenticated, Reply: []Region{}, handle: func(r *Request) (any, error) { return orEmpty(b.Regions.ListRegions(r.Context())) }},

		// racks
		{Method: "GET", Path: v1 + "/racks", Op: "listRacks", Tag: "racks", Summary: "List rack controllers",
			Access: auth.Authenticated, Reply: []Rack{}, handle: func(r *Request) (any, error) { return orEmpty(b.Racks.ListRacks(r.Context())) }},
		{Method: "GET", Path: v1 + "/racks/{id}", Op: "getRack", Tag: "racks", Summary: "Get a rack controller",
			Access: auth.Authenticated, Reply: Rack{}, handle: s.getRack},
		{Method: "DELETE", Path: v1 + "/racks/{id}", Op: "deleteRack", Tag: "racks", Summary: "Delete a rack controller and its token",
			Access: auth.AdminOnly, Status: http.StatusNoContent, handle: s.deleteRack},

		// events
		{Method: "GET", Path: v1 + "/events", Op: "listEvents", Tag: "events", Summary: "Machine events, newest first",
			Access: auth.Authenticated, Reply: []Event{}, Query: []Param{
				{Name: "system_id", Type: "string", Description: "only this machine"},
				{Name: "type", Type: "string", Description: "only this event type"},
				{Name: "since", Type: "string", Description: "RFC 3339 time; only events after it"},
				{Name: "limit", Type: "integer", Description: "at most this many (default 100, max 10000)"},
			}, handle: s.listEvents},

		// metadata: the ephemeral environment's side
		{Method: "POST", Path: v1 + "/metadata/enlist", Op: "enlist", Tag: "metadata",
			Summary: "Enlist an unknown machine (anonymous): creates it in New",
			Access:  auth.Public, Body: Enlist{}, Reply: Machine{}, Status: http.StatusCreated, handle: s.enlist},
		{Method: "GET", Path: v1 + "/metadata/{system_id}/commissioning-scripts", Op: "commissioningScripts", Tag: "metadata",
			Summary: "Scripts to run for commissioning", Access: auth.MachineSelf, Reply: []Script{}, handle: s.scripts},
		{Method: "POST", Path: v1 + "/metadata/{system_id}/commissioning-result", Op: "commissioningResult", Tag: "metadata",
			Summary: "Upload the commissioning result (inventory)", Access: auth.MachineSelf, Body: CommissioningResult{},
			Status: http.StatusNoContent, handle: s.commissioningResult},
		{Method: "POST", Path: v1 + "/metadata/{system_id}/heartbeat", Op: "heartbeat", Tag: "metadata",
			Summary: "Extend the deadline of the running operation", Access: auth.MachineSelf,
			Status: http.StatusNoContent, handle: s.heartbeat},
		{Method: "GET", Path: v1 + "/metadata/{system_id}/deploy", Op: "deployInstructions", Tag: "metadata",
			Summary: "What to install: image, disk layout, network config, cloud-init NoCloud data",
			Access:  auth.MachineSelf, Reply: DeployInstructions{}, handle: s.deployInstructions},
		{Method: "GET", Path: v1 + "/metadata/{system_id}/nocloud/user-data", Op: "nocloudUserData", Tag: "metadata",
			Summary: "cloud-init NoCloud user-data", Access: auth.MachineSelf, Reply: "", ContentType: "text/plain",
			raw: s.nocloud(func(d DeployInstructions) string { return d.UserData })},
		{Method: "GET", Path: v1 + "/metadata/{system_id}/nocloud/meta-data", Op: "nocloudMetaData", Tag: "metadata",
			Summary: "cloud-init NoCloud meta-data", Access: auth.MachineSelf, Reply: "", ContentType: "text/plain",
			raw: s.nocloud(func(d DeployInstructions) string { return d.MetaData })},
		{Method: "POST", Path: v1 + "/metadata/{system_id}/signal", Op: "signal", Tag: "metadata",
			Summary: "Report installed, booted, erased or failed (with a log)", Access: auth.MachineSelf, Body: Signal{},
			Status: http.StatusNoContent, handle: s.signal},
	}
	rs = append(rs, crud("fabrics", "Fabric", auth.AdminOnly, b.Fabrics)...)
	rs = append(rs, crud("vlans", "VLAN", auth.AdminOnly, b.VLANs)...)
	rs = append(rs, crud("subnets", "Subnet", auth.AdminOnly, b.Subnets)...)
	rs = append(rs, crud("ipranges", "IPRange", auth.AdminOnly, b.IPRanges)...)
	rs = append(rs, crud("zones", "Zone", auth.AdminOnly, b.Zones)...)
	rs = append(rs, crud("pools", "Pool", auth.AdminOnly, b.Pools)...)
	rs = append(rs, crud("tags", "Tag", auth.AdminOnly, b.Tags)...)
	if br := b.BootResources; br != nil {
		rs = append(rs,
			Route{Method: "GET", Path: v1 + "/boot-resources", Op: "listBootResources", Tag: "boot-resources",
				Summary: "List boot resources", Access: auth.Authenticated, Reply: []BootResource{},
				handle: func(r *Request) (any, error) { return orEmpty(br.ListBootResources(r.Context())) }},
			Route{Method: "PUT", Path: v1 + "/boot-resources/{os}/{arch}/{subarch}/{release}/{flavour}/{version}/{name}",
				Op: "uploadBootResource", Tag: "boot-resources",
				Summary: "Upload one file of a custom boot resource (raw body); ?complete=true marks the set complete",
				Access:  auth.AdminOnly, Reply: BootResource{}, Status: http.StatusCreated,
				Query: []Param{{Name: "sha256", Type: "string", Description: "expected digest (verified)"},
					{Name: "complete", Type: "boolean", Description: "mark the set complete after this file"}},
				raw: s.uploadBootResource},
			Route{Method: "POST", Path: v1 + "/boot-resources/import", Op: "importBootResources", Tag: "boot-resources",
				Summary: "Start importing from a mirror (one import at a time)", Access: auth.AdminOnly,
				Body: ImportRequest{}, Reply: ImportStatus{}, Status: http.StatusAccepted, handle: s.startImport},
			Route{Method: "GET", Path: v1 + "/boot-resources/import", Op: "importStatus", Tag: "boot-resources",
				Summary: "Progress of the running (or last) import", Access: auth.AdminOnly, Reply: ImportStatus{},
				handle: func(r *Request) (any, error) { return br.ImportStatus(r.Context()) }},
		)
	}
	if b.Images != nil {
		rs = append(rs,
			Route{Method: "GET", Path: "/images/v1/{path...}", Op: "getImages", Tag: "images",
				Summary: "Image bytes, manifests and the mirror view (machines, racks, peer regions)", Access: auth.Public,
				Reply: "", ContentType: "application/octet-stream", raw: s.images},
			Route{Method: "POST", Path: "/images/v1/{path...}", Op: "postImages", Tag: "images",
				Summary: "Rack image inventories", Access: auth.RackOnly, Reply: map[string]any{}, raw: s.images},
		)
	}
	if b.RackCommands != nil {
		for _, c := range []struct{ kind, op, summary string }{
			{"sync-images", "syncRackImages", "Queue a rack command: fetch boot images from the regions now"},
			{"reconfigure", "reconfigureRack", "Queue a rack command: pull the config from the region now"},
		} {
			kind := c.kind
			rs = append(rs, Route{Method: "POST", Path: v1 + "/racks/{id}/" + kind, Op: c.op, Tag: "racks", Summary: c.summary,
				Access: auth.AdminOnly, Reply: RackCommand{}, Status: http.StatusAccepted,
				handle: func(r *Request) (any, error) {
					id, err := r.ID("id")
					if err != nil {
						return nil, err
					}
					return b.RackCommands.QueueRackCommand(r.Context(), id, kind)
				}})
		}
	}
	if s.cfg.RPC != nil {
		// Registration comes before a rack has a token: the challenge and
		// the HMAC proof are its credentials (checked by the RPC handler).
		for _, p := range []string{"challenge", "register"} {
			rs = append(rs, Route{Method: "POST", Path: "/rpc/v1/" + p, Op: "rpc" + p, Tag: "rpc",
				Summary: "Rack registration (" + p + "; HMAC over the rack shared secret)", Access: auth.Public,
				Reply: map[string]any{}, raw: s.rpc})
		}
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			rs = append(rs, Route{Method: m, Path: "/rpc/v1/{path...}", Op: "rpc" + m, Tag: "rpc",
				Summary: "Rack RPC (rack tokens only)", Access: auth.RackOnly, Reply: map[string]any{}, raw: s.rpc})
		}
	}
	return rs
}

var machineQueryParams = []Param{
	{Name: "status", Type: "string", Description: "only machines in this status"},
	{Name: "hostname", Type: "string", Description: "exact hostname"},
	{Name: "architecture", Type: "string", Description: "e.g. amd64/generic"},
	{Name: "zone", Type: "string", Description: "zone name"},
	{Name: "pool", Type: "string", Description: "pool name"},
	{Name: "tag", Type: "string", Description: "tag name"},
	{Name: "mac", Type: "string", Description: "a MAC address of the machine"},
	{Name: "owner", Type: "string", Description: "owner username"},
	{Name: "limit", Type: "integer", Description: "page size (default 1000, max 10000); pages are ordered by system_id"},
	{Name: "cursor", Type: "string", Description: "the next value of the previous page"},
}

func (s *Server) rpc(w http.ResponseWriter, r *Request) error {
	http.StripPrefix("/rpc/v1", s.cfg.RPC).ServeHTTP(w, r.Request)
	return nil
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, _ *Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(s.openapi)
	return err
}

func (s *Server) version(*Request) (any, error) {
	return Version{Version: s.cfg.Version, APIVersion: APIVersion,
		Features: []string{"machines", "networks", "metadata", "durable-jobs", "openapi"}}, nil
}

// orEmpty turns a nil slice into an empty one so lists encode as [].
func orEmpty[T any](v []T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []T{}
	}
	return v, nil
}
