// Package api owns the region's HTTP surface: the route table (plain data
// from which the server's mux and the OpenAPI 3 document at
// /api/v1/openapi.json are both built), the JSON error model, the
// authentication and authorization middleware, request metrics on a
// caller-given Prometheus registerer, and the handlers that translate HTTP to
// calls on small backend interfaces.
//
// It does not own persistence or orchestration: handlers call the
// interfaces declared in backend.go, which internal/region implements over
// the store and the job runner. The rack RPC is mounted under /rpc/v1 from
// Config.RPC; this package only routes to it and requires a rack token.
//
// Config.Cache (a Cache) lets the server answer machine GETs, machine
// lists and API-key checks from memory; the cache's owner keeps it exact by
// invalidating it from the store's change notifications (internal/region
// does), and the cache refuses to serve whenever that feed is not live.
package api
