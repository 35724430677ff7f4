package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDecideTable(t *testing.T) {
	user := Principal{Kind: User, UserID: 2}
	admin := Principal{Kind: Admin, UserID: 1}
	rack := Principal{Kind: Rack, RackID: 3}
	m7 := Principal{Kind: Machine, SystemID: "m7"}
	anon := Principal{Kind: Anonymous}
	tests := []struct {
		name   string
		access Access
		p      Principal
		path   string
		want   Verdict
	}{
		{"public anon", Public, anon, "", Allow},
		{"public machine", Public, m7, "", Allow},
		{"user anon", Authenticated, anon, "", Unauthenticated},
		{"user user", Authenticated, user, "", Allow},
		{"user rack", Authenticated, rack, "", Forbidden},
		{"user machine", Authenticated, m7, "", Forbidden},
		{"admin user", AdminOnly, user, "", Forbidden},
		{"admin admin", AdminOnly, admin, "", Allow},
		{"self own", MachineSelf, m7, "m7", Allow},
		{"self other", MachineSelf, m7, "m8", Forbidden},
		{"self no id", MachineSelf, m7, "", Forbidden},
		{"self admin", MachineSelf, admin, "m8", Allow},
		{"self user", MachineSelf, user, "m8", Forbidden},
		{"self anon", MachineSelf, anon, "m8", Unauthenticated},
		{"rack rack", RackOnly, rack, "", Allow},
		{"rack admin", RackOnly, admin, "", Forbidden},
		{"rack anon", RackOnly, anon, "", Unauthenticated},
		{"unknown access", Access("nope"), admin, "", Forbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.access, tc.p, tc.path); got != tc.want {
				t.Fatalf("Decide(%s, %s, %q) = %v, want %v", tc.access, tc.p.Kind, tc.path, got, tc.want)
			}
		})
	}
	if Unauthenticated.HTTPStatus() != 401 || Forbidden.HTTPStatus() != 403 || Allow.HTTPStatus() != 200 {
		t.Fatal("HTTPStatus mapping")
	}
}

func TestPasswordHash(t *testing.T) {
	h := Hasher{Time: 1, MemoryKiB: 1024, Threads: 1}
	hash, err := h.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Contains(hash, "s3cret") {
		t.Fatalf("hash %q", hash)
	}
	if err := CheckPassword(hash, "s3cret"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := CheckPassword(hash, "S3cret"); !errors.Is(err, ErrBadPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	hash2, _ := h.Hash("s3cret")
	if hash2 == hash {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "$argon2id$v=19$m=1024,t=1,p=1$!!$AA"} {
		if err := CheckPassword(bad, "x"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("CheckPassword(%q) = %v, want ErrMalformedHash", bad, err)
		}
	}
	if _, err := h.Hash(""); err == nil {
		t.Fatal("empty password accepted")
	}
	if d := DefaultHasher(); d.MemoryKiB < 19*1024 || d.Time < 2 {
		t.Fatalf("default hasher below OWASP minimum: %+v", d)
	}
}

type lookupMap map[string]Principal

func (l lookupMap) LookupToken(_ context.Context, kind TokenKind, hash string) (Principal, error) {
	p, ok := l[string(kind)+hash]
	if !ok {
		return Principal{}, ErrUnknownToken
	}
	return p, nil
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	key, keyHash, err := NewToken(APIKey)
	if err != nil {
		t.Fatal(err)
	}
	mtok, mHash, _ := NewToken(MachineToken)
	if !strings.HasPrefix(key, "ikk_") || !strings.HasPrefix(mtok, "ikm_") || keyHash == mHash || len(keyHash) != 64 {
		t.Fatalf("tokens %q %q", key, mtok)
	}
	l := lookupMap{
		"k" + keyHash: {Kind: User, UserID: 4, Username: "u"},
		"m" + mHash:   {Kind: User, UserID: 4}, // wrong kind stored for a machine token
	}
	p, err := Authenticate(ctx, l, "Bearer "+key)
	if err != nil || p.UserID != 4 {
		t.Fatalf("api key: %+v %v", p, err)
	}
	if p, err := Authenticate(ctx, l, ""); err != nil || p.Kind != Anonymous {
		t.Fatalf("anonymous: %+v %v", p, err)
	}
	for _, h := range []string{"Basic abc", "Bearer nope", "Bearer ikx_abc", "Bearer " + mtok, "Bearer ikk_" + strings.Repeat("A", 43)} {
		if _, err := Authenticate(ctx, l, h); !errors.Is(err, ErrUnknownToken) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnknownToken", h, err)
		}
	}
}

func TestVisibility(t *testing.T) {
	u := Principal{Kind: User, UserID: 2, Username: "u"}
	tests := []struct {
		name string
		p    Principal
		m    MachineView
		want bool
	}{
		{"ready pool", u, MachineView{Ready: true}, true},
		{"own", u, MachineView{Owner: "u"}, true},
		{"other's", u, MachineView{Owner: "v"}, false},
		{"unowned not ready", u, MachineView{}, false},
		{"admin", Principal{Kind: Admin}, MachineView{Owner: "v"}, true},
		{"rack", Principal{Kind: Rack}, MachineView{Ready: true}, false},
	}
	for _, tc := range tests {
		if got := CanSee(tc.p, tc.m); got != tc.want {
			t.Errorf("%s: CanSee = %v", tc.name, got)
		}
	}
}
