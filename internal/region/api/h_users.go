package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ironkit/ironkit/internal/region/auth"
)

func (s *Server) login(r *Request) (any, error) {
	var l Login
	if err := r.Decode(&l); err != nil {
		return nil, err
	}
	u, hash, err := s.cfg.Backend.Users.UserByName(r.Context(), l.Username)
	if errors.Is(err, ErrNotFound) {
		// Spend the same time as a real check so timing does not reveal
		// which usernames exist.
		_ = auth.CheckPassword(s.dummyHash(), l.Password)
		return nil, auth.ErrBadPassword
	}
	if err != nil {
		return nil, err
	}
	if err := auth.CheckPassword(hash, l.Password); err != nil {
		return nil, auth.ErrBadPassword
	}
	name := l.KeyName
	if name == "" {
		name = "login"
	}
	k, err := s.newKey(r, u.ID, name)
	if err != nil {
		return nil, err
	}
	return LoginReply{User: u, APIKey: k}, nil
}

func (s *Server) dummyHash() string { return s.dummy }

func (s *Server) newKey(r *Request, userID int64, name string) (APIKey, error) {
	tok, hash, err := auth.NewToken(auth.APIKey)
	if err != nil {
		return APIKey{}, err
	}
	k, err := s.cfg.Backend.Users.CreateAPIKey(r.Context(), userID, name, hash)
	if err != nil {
		return APIKey{}, err
	}
	k.Key = tok
	return k, nil
}

func (s *Server) listUsers(r *Request) (any, error) {
	return orEmpty(s.cfg.Backend.Users.ListUsers(r.Context()))
}

func (s *Server) createUser(r *Request) (any, error) {
	var c UserCreate
	if err := r.Decode(&c); err != nil {
		return nil, err
	}
	if err := ValidateUsername(c.Username); err != nil {
		return nil, err
	}
	if len(c.Password) < 8 {
		return nil, BadField("password", "", "use at least 8 characters")
	}
	if c.Email != "" && !strings.Contains(c.Email, "@") {
		return nil, BadField("email", c.Email, "use an e-mail address such as ops@example.com")
	}
	hash, err := s.cfg.Hasher.Hash(c.Password)
	if err != nil {
		return nil, err
	}
	return s.cfg.Backend.Users.CreateUser(r.Context(), User{Username: c.Username, Email: c.Email, Admin: c.Admin}, hash)
}

// ValidateUsername checks a username: 1–150 letters, digits and . _ - @ +.
func ValidateUsername(name string) error {
	if name == "" || len(name) > 150 {
		return BadField("username", name, "use 1 to 150 characters")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@+", c)) {
			return BadField("username", name, "use letters, digits and . _ - @ + only")
		}
	}
	return nil
}

func (s *Server) whoami(r *Request) (any, error) {
	return s.cfg.Backend.Users.GetUser(r.Context(), r.Principal.UserID)
}

func (s *Server) getUser(r *Request) (any, error) {
	id, err := r.ID("id")
	if err != nil {
		return nil, err
	}
	return s.cfg.Backend.Users.GetUser(r.Context(), id)
}

func (s *Server) deleteUser(r *Request) (any, error) {
	id, err := r.ID("id")
	if err != nil {
		return nil, err
	}
	if id == r.Principal.UserID {
		return nil, &Error{Status: http.StatusConflict, Code: "conflict", Field: "id", Message: "you cannot delete yourself; ask another administrator"}
	}
	return nil, s.cfg.Backend.Users.DeleteUser(r.Context(), id)
}

func (s *Server) listKeys(r *Request) (any, error) {
	return orEmpty(s.cfg.Backend.Users.ListAPIKeys(r.Context(), r.Principal.UserID))
}

func (s *Server) createKey(r *Request) (any, error) {
	var c APIKeyCreate
	if err := r.Decode(&c); err != nil {
		return nil, err
	}
	if c.Name == "" {
		return nil, BadField("name", "", "name the key, e.g. after the tool that uses it")
	}
	return s.newKey(r, r.Principal.UserID, c.Name)
}

func (s *Server) revokeKey(r *Request) (any, error) {
	id, err := r.ID("key_id")
	if err != nil {
		return nil, err
	}
	return nil, s.cfg.Backend.Users.RevokeAPIKey(r.Context(), r.Principal.UserID, id)
}
