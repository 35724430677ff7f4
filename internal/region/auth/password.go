package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrBadPassword: the password does not match the stored hash.
var ErrBadPassword = errors.New("wrong username or password")

// ErrMalformedHash: a stored password hash cannot be parsed.
var ErrMalformedHash = errors.New("malformed password hash")

// Hasher hashes passwords with argon2id. The zero value is not usable; use
// DefaultHasher. Parameters are stored in each hash (PHC string format), so
// changing them later still verifies old hashes.
type Hasher struct {
	// Time is the number of passes, MemoryKiB the memory cost, Threads the
	// parallelism (RFC 9106 / OWASP: t=2, m=19 MiB, p=1 as a minimum).
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultHasher follows the OWASP password storage recommendation for
// argon2id (m=19 MiB, t=2, p=1).
func DefaultHasher() Hasher { return Hasher{Time: 2, MemoryKiB: 19 * 1024, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
)

// Hash returns the PHC-encoded argon2id hash of password with a fresh salt.
func (h Hasher) Hash(password string) (string, error) {
	if password == "" {
		return "", errors.New("password: empty; choose a non-empty password")
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.Time, h.MemoryKiB, h.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.MemoryKiB, h.Time, h.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports nil if password matches the PHC-encoded hash,
// ErrBadPassword if not, ErrMalformedHash if the hash cannot be read.
func CheckPassword(hash, password string) error {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return ErrMalformedHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || t == 0 || p == 0 {
		return ErrMalformedHash
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return ErrMalformedHash
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return ErrMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrBadPassword
	}
	return nil
}
