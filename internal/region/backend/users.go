package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/store"
)

type userRow struct {
	bun.BaseModel `bun:"table:users"`

	ID           int64     `bun:"id,pk,autoincrement"`
	Username     string    `bun:"username,notnull"`
	Email        string    `bun:"email,notnull"`
	Admin        bool      `bun:"admin,notnull"`
	PasswordHash string    `bun:"password_hash,notnull"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
}

func (r *userRow) api() api.User {
	return api.User{ID: r.ID, Username: r.Username, Email: r.Email, Admin: r.Admin, Created: r.CreatedAt.UTC()}
}

type apiKeyRow struct {
	bun.BaseModel `bun:"table:api_keys"`

	ID        int64      `bun:"id,pk,autoincrement"`
	UserID    int64      `bun:"user_id,notnull"`
	Name      string     `bun:"name,notnull"`
	TokenHash string     `bun:"token_hash,notnull"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
	RevokedAt *time.Time `bun:"revoked_at"`
}

func (r *apiKeyRow) api() api.APIKey {
	k := api.APIKey{ID: r.ID, UserID: r.UserID, Name: r.Name, Created: r.CreatedAt.UTC()}
	if r.RevokedAt != nil {
		t := r.RevokedAt.UTC()
		k.Revoked = &t
	}
	return k
}

type machineTokenRow struct {
	bun.BaseModel `bun:"table:machine_tokens"`

	TokenHash string    `bun:"token_hash,pk"`
	SystemID  string    `bun:"system_id,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	// Statuses are the machine statuses the token is valid in
	// (",commissioning,testing,"); empty: any. The rack RPC's boot lookup
	// sets them, so a token stops working once its boot's phase is over.
	Statuses string `bun:"statuses,notnull"`
}

type rackRow struct {
	bun.BaseModel `bun:"table:racks"`

	ID        int64      `bun:"id,pk,autoincrement"`
	Name      string     `bun:"name,notnull"`
	Version   string     `bun:"version,notnull"`
	LastSeen  *time.Time `bun:"last_seen"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
}

type rackTokenRow struct {
	bun.BaseModel `bun:"table:rack_tokens"`

	TokenHash string    `bun:"token_hash,pk"`
	RackID    int64     `bun:"rack_id,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// LookupToken implements auth.TokenLookup with one indexed query per
// request (token hashes are unique keys) and no cache, so revoking a key,
// deleting a user, a machine or a rack takes effect on every region at once.
func (b *Backend) LookupToken(ctx context.Context, kind auth.TokenKind, hash string) (auth.Principal, error) {
	switch kind {
	case auth.APIKey:
		var u userRow
		err := b.db.NewSelect().Model(&u).
			Join("JOIN api_keys AS k ON k.user_id = ?TableAlias.id").
			Where("k.token_hash = ? AND k.revoked_at IS NULL", hash).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return auth.Principal{}, auth.ErrUnknownToken
		} else if err != nil {
			return auth.Principal{}, err
		}
		k := auth.User
		if u.Admin {
			k = auth.Admin
		}
		return auth.Principal{Kind: k, UserID: u.ID, Username: u.Username}, nil
	case auth.MachineToken:
		var t machineTokenRow
		if err := b.db.NewSelect().Model(&t).Join("JOIN machines AS m ON m.system_id = ?TableAlias.system_id").
			Where("?TableAlias.token_hash = ?", hash).
			Where("(?TableAlias.statuses = '' OR ?TableAlias.statuses LIKE '%,' || m.status || ',%')").Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return auth.Principal{}, auth.ErrUnknownToken
			}
			return auth.Principal{}, err
		}
		return auth.Principal{Kind: auth.Machine, SystemID: t.SystemID}, nil
	case auth.RackToken:
		var t rackTokenRow
		if err := b.db.NewSelect().Model(&t).Where("token_hash = ?", hash).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return auth.Principal{}, auth.ErrUnknownToken
			}
			return auth.Principal{}, err
		}
		return auth.Principal{Kind: auth.Rack, RackID: t.RackID}, nil
	}
	return auth.Principal{}, auth.ErrUnknownToken
}

// CreateUser implements api.Users.
func (b *Backend) CreateUser(ctx context.Context, u api.User, hash string) (api.User, error) {
	r := &userRow{Username: u.Username, Email: u.Email, Admin: u.Admin, PasswordHash: hash, CreatedAt: now()}
	if _, err := b.db.NewInsert().Model(r).Returning("id").Exec(ctx); err != nil {
		if isUnique(err) {
			return api.User{}, &api.Error{Status: 409, Code: "conflict", Field: "username", Value: u.Username,
				Message: "a user with this username exists: choose another username"}
		}
		return api.User{}, err
	}
	return r.api(), nil
}

// SetPassword replaces a user's password hash (regiond createadmin on an
// existing user).
func (b *Backend) SetPassword(ctx context.Context, username, hash string) error {
	res, err := b.db.NewUpdate().Model((*userRow)(nil)).Set("password_hash = ?", hash).Where("username = ?", username).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("user %q", username)
	}
	return nil
}

// ListUsers implements api.Users.
func (b *Backend) ListUsers(ctx context.Context) ([]api.User, error) {
	var rows []userRow
	if err := b.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]api.User, len(rows))
	for i := range rows {
		out[i] = rows[i].api()
	}
	return out, nil
}

// GetUser implements api.Users.
func (b *Backend) GetUser(ctx context.Context, id int64) (api.User, error) {
	var r userRow
	if err := b.db.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return api.User{}, notFound("user %d", id)
		}
		return api.User{}, err
	}
	return r.api(), nil
}

// UserByName implements api.Users.
func (b *Backend) UserByName(ctx context.Context, name string) (api.User, string, error) {
	var r userRow
	if err := b.db.NewSelect().Model(&r).Where("username = ?", name).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return api.User{}, "", notFound("user %q", name)
		}
		return api.User{}, "", err
	}
	return r.api(), r.PasswordHash, nil
}

// DeleteUser implements api.Users.
func (b *Backend) DeleteUser(ctx context.Context, id int64) error {
	n, err := b.announced(ctx, KindAPIKeys, id, store.OpDelete, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewDelete().Model((*userRow)(nil)).Where("id = ?", id).Exec(ctx)
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("user %d", id)
	}
	return nil
}

// CreateAPIKey implements api.Users.
func (b *Backend) CreateAPIKey(ctx context.Context, userID int64, name, hash string) (api.APIKey, error) {
	r := &apiKeyRow{UserID: userID, Name: name, TokenHash: hash, CreatedAt: now()}
	if _, err := b.db.NewInsert().Model(r).Returning("id").Exec(ctx); err != nil {
		return api.APIKey{}, err
	}
	return r.api(), nil
}

// ListAPIKeys implements api.Users.
func (b *Backend) ListAPIKeys(ctx context.Context, userID int64) ([]api.APIKey, error) {
	var rows []apiKeyRow
	if err := b.db.NewSelect().Model(&rows).Where("user_id = ?", userID).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]api.APIKey, len(rows))
	for i := range rows {
		out[i] = rows[i].api()
	}
	return out, nil
}

// RevokeAPIKey implements api.Users: only the key's owner revokes it.
func (b *Backend) RevokeAPIKey(ctx context.Context, userID, keyID int64) error {
	n, err := b.announced(ctx, KindAPIKeys, keyID, store.OpDelete, func(ctx context.Context, db bun.IDB) (sql.Result, error) {
		return db.NewUpdate().Model((*apiKeyRow)(nil)).Set("revoked_at = ?", now()).
			Where("id = ? AND user_id = ? AND revoked_at IS NULL", keyID, userID).Exec(ctx)
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("api key %d of user %d", keyID, userID)
	}
	return nil
}

// IssueMachineToken implements api.Machines.
func (b *Backend) IssueMachineToken(ctx context.Context, systemID string) (string, error) {
	if _, err := b.st.Machine(ctx, systemID); err != nil {
		return "", mapErr(err)
	}
	tok, hash, err := auth.NewToken(auth.MachineToken)
	if err != nil {
		return "", err
	}
	if _, err := b.db.NewInsert().Model(&machineTokenRow{TokenHash: hash, SystemID: systemID, CreatedAt: now()}).Exec(ctx); err != nil {
		return "", err
	}
	return tok, nil
}

// RegisterRack creates (or finds) a rack by name and issues it a new token;
// the rack RPC's registration (HMAC with the shared secret) calls it.
func (b *Backend) RegisterRack(ctx context.Context, name, version string) (api.Rack, string, error) {
	var r rackRow
	err := b.db.NewSelect().Model(&r).Where("name = ?", name).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		r = rackRow{Name: name, Version: version, CreatedAt: now()}
		if _, err := b.db.NewInsert().Model(&r).Returning("id").Exec(ctx); err != nil {
			return api.Rack{}, "", err
		}
	case err != nil:
		return api.Rack{}, "", err
	}
	tok, hash, err := auth.NewToken(auth.RackToken)
	if err != nil {
		return api.Rack{}, "", err
	}
	if _, err := b.db.NewInsert().Model(&rackTokenRow{TokenHash: hash, RackID: r.ID, CreatedAt: now()}).Exec(ctx); err != nil {
		return api.Rack{}, "", err
	}
	return rackAPI(&r), tok, nil
}

func rackAPI(r *rackRow) api.Rack {
	out := api.Rack{ID: r.ID, Name: r.Name, Version: r.Version}
	if r.LastSeen != nil {
		t := r.LastSeen.UTC()
		out.LastSeen = &t
	}
	return out
}

// ListRacks implements api.Racks.
func (b *Backend) ListRacks(ctx context.Context) ([]api.Rack, error) {
	var rows []rackRow
	if err := b.db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]api.Rack, len(rows))
	for i := range rows {
		out[i] = rackAPI(&rows[i])
	}
	return out, b.addRackStatus(ctx, out)
}

// GetRack implements api.Racks.
func (b *Backend) GetRack(ctx context.Context, id int64) (api.Rack, error) {
	var r rackRow
	if err := b.db.NewSelect().Model(&r).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return api.Rack{}, notFound("rack %d", id)
		}
		return api.Rack{}, err
	}
	out := rackAPI(&r)
	if err := b.addRackStatus(ctx, []api.Rack{out}); err != nil {
		return api.Rack{}, err
	}
	return out, nil
}

// rackStatusRow is the rack RPC's last heartbeat (table rack_status,
// migration 20261121070001).
type rackStatusRow struct {
	RackID         int64  `bun:"rack_id"`
	Address        string `bun:"address"`
	Interfaces     string `bun:"interfaces"`
	Services       string `bun:"services"`
	RogueDHCP      string `bun:"rogue_dhcp"`
	ConfigRevision string `bun:"config_revision"`
}

// addRackStatus fills in what the racks last reported.
func (b *Backend) addRackStatus(ctx context.Context, racks []api.Rack) error {
	if len(racks) == 0 {
		return nil
	}
	ids := make([]int64, len(racks))
	for i, r := range racks {
		ids[i] = r.ID
	}
	var rows []rackStatusRow
	if err := b.db.NewSelect().Table("rack_status").Column("rack_id", "address", "interfaces", "services", "rogue_dhcp", "config_revision").
		Where("rack_id IN (?)", bun.In(ids)).Scan(ctx, &rows); err != nil {
		return err
	}
	by := map[int64]rackStatusRow{}
	for _, r := range rows {
		by[r.RackID] = r
	}
	for i := range racks {
		if s, ok := by[racks[i].ID]; ok {
			racks[i].Address, racks[i].ConfigRevision = s.Address, s.ConfigRevision
			racks[i].Interfaces, racks[i].Services = json.RawMessage(s.Interfaces), json.RawMessage(s.Services)
			if s.RogueDHCP != "" && s.RogueDHCP != "[]" {
				racks[i].RogueDHCP = json.RawMessage(s.RogueDHCP)
			}
		}
	}
	return nil
}

// DeleteRack implements api.Racks; its tokens go with it (cascade). A rack
// still named by a VLAN cannot be deleted.
func (b *Backend) DeleteRack(ctx context.Context, id int64) error {
	n, err := b.db.NewSelect().Table("vlans").Where("primary_rack = ? OR secondary_rack = ?", id, id).Count(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("rack %d serves DHCP on %d VLAN(s): set their primary_rack/secondary_rack to another rack first: %w", id, n, api.ErrConflict)
	}
	res, err := b.db.NewDelete().Model((*rackRow)(nil)).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("rack %d", id)
	}
	return nil
}
