package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// TokenKind says what a bearer token is for; it is visible in the token's
// prefix so the region looks it up in the right place.
type TokenKind string

// Token kinds.
const (
	// APIKey: a user's revocable API key.
	APIKey TokenKind = "k"
	// MachineToken: reaches only its machine's metadata.
	MachineToken TokenKind = "m"
	// RackToken: reaches only the rack RPC.
	RackToken TokenKind = "r"
)

// ErrUnknownToken: the token is malformed, unknown or revoked.
var ErrUnknownToken = errors.New("unknown or revoked token")

const tokenPrefix = "ik"

// NewToken returns a fresh token of kind and the hash to store. The token
// carries 256 random bits; because it is not a human-chosen secret a single
// SHA-256 is enough to store it (a slow KDF would only slow every request).
func NewToken(kind TokenKind) (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	token = tokenPrefix + string(kind) + "_" + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the stored form of a token.
func HashToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// ParseTokenKind returns the kind of a token by its prefix.
func ParseTokenKind(token string) (TokenKind, error) {
	if len(token) < 5 || !strings.HasPrefix(token, tokenPrefix) || token[3] != '_' {
		return "", ErrUnknownToken
	}
	switch k := TokenKind(token[2:3]); k {
	case APIKey, MachineToken, RackToken:
		return k, nil
	}
	return "", ErrUnknownToken
}

// TokenLookup finds who holds a token, by kind and hash. It returns
// ErrUnknownToken (possibly wrapped) for unknown or revoked tokens.
type TokenLookup interface {
	LookupToken(ctx context.Context, kind TokenKind, hash string) (Principal, error)
}

// Authenticate returns the principal of an Authorization header value
// ("Bearer <token>"); an empty header is Anonymous.
func Authenticate(ctx context.Context, tl TokenLookup, header string) (Principal, error) {
	if header == "" {
		return Principal{Kind: Anonymous}, nil
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, fmt.Errorf("%w: use the header Authorization: Bearer <api key>", ErrUnknownToken)
	}
	token = strings.TrimSpace(token)
	kind, err := ParseTokenKind(token)
	if err != nil {
		return Principal{}, err
	}
	p, err := tl.LookupToken(ctx, kind, HashToken(token))
	if err != nil {
		return Principal{}, err
	}
	if !kindMatches(kind, p.Kind) {
		return Principal{}, ErrUnknownToken
	}
	return p, nil
}

func kindMatches(t TokenKind, k Kind) bool {
	switch t {
	case APIKey:
		return k == User || k == Admin
	case MachineToken:
		return k == Machine
	case RackToken:
		return k == Rack
	}
	return false
}
