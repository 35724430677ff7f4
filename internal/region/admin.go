package region

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/internal/region/backend"
	"github.com/ironkit/ironkit/store"
)

// RackSecretBytes is the size of the rack shared secret `regiond init`
// creates: 16 bytes, shown as 32 hex characters (as MAAS's secret).
const RackSecretBytes = 16

// Init prepares a database for a region: the schema and the region key are
// created by store.Open; Init adds the rack shared secret when there is none
// (an admin may have set one already with SetRackSecret). It reports whether
// it created the secret, so callers print it once and not on every start.
func Init(ctx context.Context, st *store.Store) (created bool, err error) {
	if _, err := st.Secret(ctx, store.SecretRackShared); errors.Is(err, store.ErrNotFound) {
		v := make([]byte, RackSecretBytes)
		if _, err := rand.Read(v); err != nil {
			return false, err
		}
		if err := st.SetSecret(ctx, store.SecretRackShared, v); err != nil {
			return false, fmt.Errorf("init: store the rack secret: %w", err)
		}
		return true, nil
	} else if err != nil {
		return false, err
	}
	return false, nil
}

// RackSecret returns the rack shared secret as hex.
func RackSecret(ctx context.Context, st *store.Store) (string, error) {
	v, err := st.Secret(ctx, store.SecretRackShared)
	if errors.Is(err, store.ErrNotFound) {
		return "", errors.New("no rack secret yet: run `regiond init` or `regiond secret set HEX`")
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(v), nil
}

// SetRackSecret replaces the rack shared secret with the given hex string
// (at least 32 hex characters). Racks registered with the old secret keep
// their tokens; new registrations need the new one.
func SetRackSecret(ctx context.Context, st *store.Store, secret string) error {
	v, err := hex.DecodeString(secret)
	if err != nil || len(v) < RackSecretBytes {
		return fmt.Errorf("secret %q: use at least %d hex characters (e.g. from `openssl rand -hex 16`)", secret, 2*RackSecretBytes)
	}
	return st.SetSecret(ctx, store.SecretRackShared, v)
}

// CreateAdmin creates an administrator; an existing username is an error
// naming it.
func CreateAdmin(ctx context.Context, st *store.Store, h auth.Hasher, username, email, password string) (api.User, error) {
	if err := api.ValidateUsername(username); err != nil {
		return api.User{}, err
	}
	if len(password) < 8 {
		return api.User{}, errors.New("password: use at least 8 characters")
	}
	if h == (auth.Hasher{}) {
		h = auth.DefaultHasher()
	}
	hash, err := h.Hash(password)
	if err != nil {
		return api.User{}, err
	}
	be, err := backend.New(backend.Config{Store: st})
	if err != nil {
		return api.User{}, err
	}
	u, err := be.CreateUser(ctx, api.User{Username: username, Email: email, Admin: true}, hash)
	if err != nil {
		return api.User{}, fmt.Errorf("createadmin %s: %w", username, err)
	}
	return u, nil
}
