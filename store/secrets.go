package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Names of the secrets the region keeps in the secrets table.
const (
	// SecretRegionKey is the AES-256 key that encrypts secrets at rest
	// (absent when the key is given with WithRegionKey).
	SecretRegionKey = "region-key"
	// SecretRackShared is the shared secret racks use to register (HMAC).
	SecretRackShared = "rack-shared-secret"
)

const regionKeySize = 32

type secretRow struct {
	bun.BaseModel `bun:"table:secrets"`

	Name      string    `bun:"name,pk"`
	Value     []byte    `bun:"value,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// loadRegionKey uses the given key, or reads the stored one, creating it on
// first Open (race-free across regions: insert-if-absent, then read).
func (s *Store) loadRegionKey(ctx context.Context) error {
	if s.cfg.regionKey != nil {
		s.regionKey = s.cfg.regionKey
		return nil
	}
	key, err := s.ensureSecret(ctx, SecretRegionKey, regionKeySize)
	if err != nil {
		return fmt.Errorf("store: region key: %w", err)
	}
	if len(key) != regionKeySize {
		return fmt.Errorf("store: stored region key is %d bytes, want %d: restore it from backup or pass one with WithRegionKey", len(key), regionKeySize)
	}
	s.regionKey = key
	return nil
}

// ensureSecret returns the secret called name, storing n random bytes under
// that name first if it does not exist.
func (s *Store) ensureSecret(ctx context.Context, name string, n int) ([]byte, error) {
	v := make([]byte, n)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	row := &secretRow{Name: name, Value: v, CreatedAt: s.now()}
	if _, err := s.db.NewInsert().Model(row).On("CONFLICT (name) DO NOTHING").Exec(ctx); err != nil {
		return nil, err
	}
	return s.Secret(ctx, name)
}

// Secret returns the stored secret called name.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	row := new(secretRow)
	err := s.db.NewSelect().Model(row).Where("name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("secret", "name", name)
	}
	if err != nil {
		return nil, err
	}
	return row.Value, nil
}

// SetSecret stores (or replaces) the secret called name. The region key
// cannot be replaced this way: what it encrypted would become unreadable.
func (s *Store) SetSecret(ctx context.Context, name string, value []byte) error {
	if name == SecretRegionKey {
		return invalid("secret "+name, "name", name, "the region key cannot be replaced in place: what it encrypted would become unreadable; pass a key with WithRegionKey on a new database instead")
	}
	row := &secretRow{Name: name, Value: value, CreatedAt: s.now()}
	_, err := s.db.NewInsert().Model(row).
		On("CONFLICT (name) DO UPDATE").Set("value = EXCLUDED.value").
		Exec(ctx)
	return err
}

// RackSharedSecret returns the secret racks register with, as hex,
// generating a random 256-bit one on first use. Every region sharing the
// database returns the same value.
func (s *Store) RackSharedSecret(ctx context.Context) (string, error) {
	v, err := s.ensureSecret(ctx, SecretRackShared, 32)
	if err != nil {
		return "", fmt.Errorf("store: rack shared secret: %w", err)
	}
	return hex.EncodeToString(v), nil
}

// seal encrypts plaintext with the region key (AES-256-GCM). aad binds the
// ciphertext to its owner (the machine's system id) so it cannot be copied
// to another row. The result is nonce || ciphertext.
func (s *Store) seal(plaintext []byte, aad string) ([]byte, error) {
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plaintext)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, []byte(aad)), nil
}

// open decrypts what seal produced.
func (s *Store) open(sealed []byte, aad string) ([]byte, error) {
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	n := gcm.NonceSize()
	pt, err := gcm.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("%w (%s): the database was written with another region key", ErrDecrypt, aad)
	}
	return pt, nil
}

func (s *Store) gcm() (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.regionKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// secretPowerWords mark power parameter names that hold secrets.
var secretPowerWords = []string{"pass", "secret", "token", "key", "community", "credential", "k_g"}

// DefaultSecretPowerParam reports whether a power parameter name holds a
// secret that must be encrypted at rest: names containing pass, secret,
// token, key, community, credential or k_g (power_pass, password,
// api_token, IPMI k_g, SNMP community, ...).
func DefaultSecretPowerParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretPowerWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
