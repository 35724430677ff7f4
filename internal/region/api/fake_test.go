package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/lifecycle"
)

// memBackend is an in-memory Backend for the HTTP-level tests of this
// package (routing, authorization, error mapping, encoding). The real
// backend over the store is tested in internal/region.
type memBackend struct {
	mu       sync.Mutex
	users    []User
	hashes   map[int64]string
	keys     []APIKey
	tokens   map[string]auth.Principal // kind+hash → principal
	machines map[string]Machine
	ips      []IPAddress
	racks    []Rack
	events   []Event
	results  map[string]CommissioningResult
	fabrics  *memColl[Fabric]
	vlans    *memColl[VLAN]
	subnets  *memColl[Subnet]
	ranges   *memColl[IPRange]
	zones    *memColl[Zone]
	pools    *memColl[Pool]
	tags     *memColl[Tag]
}

func (b *memBackend) backend() Backend {
	return Backend{Tokens: b, Users: b, Machines: b, Fabrics: b.fabrics, VLANs: b.vlans, Subnets: b.subnets,
		IPRanges: b.ranges, IPAddresses: b, Zones: b.zones, Pools: b.pools, Tags: b.tags, Racks: b, Regions: b,
		Events: b, Metadata: b, BootResources: b, RackCommands: b,
		Images: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Method+" "+r.URL.Path) })}
}

type memColl[T resource[T]] struct {
	mu    sync.Mutex
	items map[int64]T
	next  int64
}

func newColl[T resource[T]](items ...T) *memColl[T] {
	c := &memColl[T]{items: map[int64]T{}}
	for _, it := range items {
		c.next++
		c.items[c.next] = it.withID(c.next)
	}
	return c
}

func (c *memColl[T]) List(context.Context) ([]T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []int64
	for id := range c.items {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := []T{}
	for _, id := range ids {
		out = append(out, c.items[id])
	}
	return out, nil
}

func (c *memColl[T]) Get(_ context.Context, id int64) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.items[id]
	if !ok {
		return v, fmt.Errorf("object %d: %w", id, ErrNotFound)
	}
	return v, nil
}

func (c *memColl[T]) Create(_ context.Context, v T) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	v = v.withID(c.next)
	c.items[c.next] = v
	return v, nil
}

func (c *memColl[T]) Update(_ context.Context, v T) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[v.id()]; !ok {
		var zero T
		return zero, ErrNotFound
	}
	c.items[v.id()] = v
	return v, nil
}

func (c *memColl[T]) Delete(_ context.Context, id int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[id]; !ok {
		return ErrNotFound
	}
	delete(c.items, id)
	return nil
}

func (b *memBackend) LookupToken(_ context.Context, kind auth.TokenKind, hash string) (auth.Principal, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.tokens[string(kind)+hash]
	if !ok {
		return auth.Principal{}, auth.ErrUnknownToken
	}
	return p, nil
}

func (b *memBackend) CreateUser(_ context.Context, u User, hash string) (User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.users {
		if o.Username == u.Username {
			return User{}, fmt.Errorf("user %q: %w", u.Username, ErrConflict)
		}
	}
	u.ID = int64(len(b.users) + 1)
	u.Created = time.Now()
	b.users = append(b.users, u)
	b.hashes[u.ID] = hash
	return u, nil
}

func (b *memBackend) ListUsers(context.Context) ([]User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.users), nil
}

func (b *memBackend) GetUser(_ context.Context, id int64) (User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.users {
		if u.ID == id {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
}

func (b *memBackend) UserByName(_ context.Context, name string) (User, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.users {
		if u.Username == name {
			return u, b.hashes[u.ID], nil
		}
	}
	return User{}, "", ErrNotFound
}

func (b *memBackend) DeleteUser(_ context.Context, id int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, u := range b.users {
		if u.ID == id {
			b.users = slices.Delete(b.users, i, i+1)
			return nil
		}
	}
	return ErrNotFound
}

func (b *memBackend) CreateAPIKey(_ context.Context, userID int64, name, hash string) (APIKey, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := APIKey{ID: int64(len(b.keys) + 1), UserID: userID, Name: name, Created: time.Now()}
	b.keys = append(b.keys, k)
	for _, u := range b.users {
		if u.ID == userID {
			kind := auth.User
			if u.Admin {
				kind = auth.Admin
			}
			b.tokens[string(auth.APIKey)+hash] = auth.Principal{Kind: kind, UserID: u.ID, Username: u.Username}
		}
	}
	return k, nil
}

func (b *memBackend) ListAPIKeys(_ context.Context, userID int64) ([]APIKey, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []APIKey
	for _, k := range b.keys {
		if k.UserID == userID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (b *memBackend) RevokeAPIKey(_ context.Context, userID, keyID int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, k := range b.keys {
		if k.ID == keyID && k.UserID == userID {
			now := time.Now()
			b.keys[i].Revoked = &now
			return nil
		}
	}
	return fmt.Errorf("api key %d: %w", keyID, ErrNotFound)
}

func (b *memBackend) ListMachines(_ context.Context, q MachineQuery) ([]Machine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Machine
	for _, m := range b.machines {
		if m.SystemID <= q.After || (q.Status != "" && m.Status != q.Status) || (q.Owner != "" && m.Owner != q.Owner) ||
			(q.VisibleTo != "" && m.Status != lifecycle.Ready && m.Owner != q.VisibleTo) {
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SystemID < out[j].SystemID })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (b *memBackend) GetMachine(_ context.Context, id string) (Machine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.machines[id]
	if !ok {
		return Machine{}, fmt.Errorf("machine %s: %w", id, ErrNotFound)
	}
	return m, nil
}

func (b *memBackend) CreateMachine(_ context.Context, _ auth.Principal, c MachineCreate) (Machine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := c.Status
	if st == "" {
		st = lifecycle.New
	}
	id := fmt.Sprintf("new%03d", len(b.machines))
	m := Machine{SystemID: id, Hostname: c.Hostname, Status: st, Architecture: c.Architecture,
		PowerType: c.PowerType, PowerParameters: c.PowerParameters, MACAddresses: c.MACAddresses, Owner: c.Owner}
	b.machines[id] = m
	return m, nil
}

func (b *memBackend) UpdateMachine(_ context.Context, _ auth.Principal, id string, u MachineUpdate) (Machine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.machines[id]
	if !ok {
		return Machine{}, ErrNotFound
	}
	if u.Hostname != nil {
		m.Hostname = *u.Hostname
	}
	for k, v := range u.PowerParameters {
		if m.PowerParameters == nil {
			m.PowerParameters = map[string]string{}
		}
		m.PowerParameters[k] = v
	}
	b.machines[id] = m
	return m, nil
}

func (b *memBackend) DeleteMachine(_ context.Context, _ auth.Principal, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.machines[id]; !ok {
		return ErrNotFound
	}
	delete(b.machines, id)
	return nil
}

func (b *memBackend) Act(_ context.Context, p auth.Principal, id, action string, _ ActionRequest) (Machine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.machines[id]
	if strings.HasPrefix(action, "power-") {
		return m, nil
	}
	st, err := lifecycle.Apply(lifecycle.State{Status: m.Status, Previous: m.PreviousStatus, Locked: m.Locked},
		lifecycle.Action(action), lifecycle.Options{Admin: p.IsAdmin()})
	if err != nil {
		return Machine{}, err
	}
	m.Status, m.PreviousStatus, m.Locked = st.Status, st.Previous, st.Locked
	b.machines[id] = m
	return m, nil
}

func (b *memBackend) Allocate(_ context.Context, p auth.Principal, _ AllocateRequest) (Machine, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, m := range b.machines {
		if m.Status == lifecycle.Ready {
			m.Status, m.Owner = lifecycle.Allocated, p.Username
			b.machines[id] = m
			return m, nil
		}
	}
	return Machine{}, fmt.Errorf("no Ready machine matches: %w", ErrConflict)
}

func (b *memBackend) IssueMachineToken(_ context.Context, id string) (string, error) {
	tok, hash, err := auth.NewToken(auth.MachineToken)
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens[string(auth.MachineToken)+hash] = auth.Principal{Kind: auth.Machine, SystemID: id}
	return tok, nil
}

func (b *memBackend) ListIPAddresses(context.Context, int64) ([]IPAddress, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.ips), nil
}

func (b *memBackend) ReserveIP(_ context.Context, p auth.Principal, r IPReserve) (IPAddress, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ip := IPAddress{ID: int64(len(b.ips) + 1), SubnetID: r.SubnetID, IP: r.IP, AllocType: "user-reserved", Owner: p.Username}
	b.ips = append(b.ips, ip)
	return ip, nil
}

func (b *memBackend) ReleaseIP(_ context.Context, p auth.Principal, id int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, ip := range b.ips {
		if ip.ID == id {
			if !p.IsAdmin() && ip.Owner != p.Username {
				return forbidden("not your address")
			}
			b.ips = slices.Delete(b.ips, i, i+1)
			return nil
		}
	}
	return ErrNotFound
}

func (b *memBackend) ListRegions(context.Context) ([]Region, error) {
	return []Region{{ID: 1, Hostname: "region-one", Address: "127.0.0.1:5240", Version: "0.1.0", Alive: true}}, nil
}

func (b *memBackend) ListRacks(context.Context) ([]Rack, error) { return slices.Clone(b.racks), nil }

func (b *memBackend) GetRack(_ context.Context, id int64) (Rack, error) {
	for _, r := range b.racks {
		if r.ID == id {
			return r, nil
		}
	}
	return Rack{}, ErrNotFound
}

func (b *memBackend) DeleteRack(_ context.Context, id int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, r := range b.racks {
		if r.ID == id {
			b.racks = slices.Delete(b.racks, i, i+1)
			return nil
		}
	}
	return ErrNotFound
}

func (b *memBackend) ListEvents(context.Context, EventQuery) ([]Event, error) {
	return slices.Clone(b.events), nil
}

func (b *memBackend) Enlist(ctx context.Context, e Enlist) (Machine, error) {
	return b.CreateMachine(ctx, auth.Principal{}, MachineCreate{Hostname: e.Hostname, Architecture: e.Architecture,
		MACAddresses: e.MACAddresses, PowerType: e.PowerType, PowerParameters: e.PowerParameters})
}

func (b *memBackend) CommissioningScripts(context.Context, string) ([]Script, error) {
	return []Script{{Name: "lshw", Content: "#!/bin/sh\nlshw -json\n", Timeout: 60}}, nil
}

func (b *memBackend) CommissioningResult(_ context.Context, id string, r CommissioningResult) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.results[id] = r
	return nil
}

func (b *memBackend) Heartbeat(context.Context, string) error { return nil }

func (b *memBackend) DeployInstructions(_ context.Context, id, base string) (DeployInstructions, error) {
	return DeployInstructions{ImageURL: base + "/images/ubuntu", UserData: "#cloud-config\n", MetaData: "instance-id: " + id + "\n",
		NetworkConfig: []byte(`{"version":2}`)}, nil
}

func (b *memBackend) Signal(context.Context, string, Signal) error { return nil }

func (b *memBackend) ListBootResources(context.Context) ([]BootResource, error) {
	return []BootResource{{Name: "ubuntu/amd64/generic/noble/generic", Complete: true}}, nil
}

func (b *memBackend) UploadBootResource(_ context.Context, u BootUpload, body io.Reader) (BootResource, error) {
	n, err := io.Copy(io.Discard, body)
	if err != nil {
		return BootResource{}, err
	}
	return BootResource{OS: u.OS, Release: u.Release, Arch: u.Arch, Version: u.Version, Size: n,
		Files: []BootFile{{Name: u.Name, Size: n}}, Complete: u.Complete}, nil
}

func (b *memBackend) StartImport(_ context.Context, src string) (ImportStatus, error) {
	return ImportStatus{Running: true, Source: src}, nil
}

func (b *memBackend) ImportStatus(context.Context) (ImportStatus, error) { return ImportStatus{}, nil }

func (b *memBackend) QueueRackCommand(_ context.Context, id int64, kind string) (RackCommand, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.racks {
		if r.ID == id {
			return RackCommand{ID: 1, RackID: id, Kind: kind, State: "pending"}, nil
		}
	}
	return RackCommand{}, &Error{Status: 404, Code: "not_found", Message: fmt.Sprintf("rack %d not found", id)}
}
