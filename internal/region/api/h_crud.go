package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/ironkit/ironkit/internal/region/auth"
)

// resource is a type crud can serve: it can take its id from the path.
type resource[T any] interface {
	withID(id int64) T
	id() int64
}

func (v Fabric) id() int64  { return v.ID }
func (v VLAN) id() int64    { return v.ID }
func (v Subnet) id() int64  { return v.ID }
func (v IPRange) id() int64 { return v.ID }
func (v Zone) id() int64    { return v.ID }
func (v Pool) id() int64    { return v.ID }
func (v Tag) id() int64     { return v.ID }

func (v Fabric) withID(id int64) Fabric   { v.ID = id; return v }
func (v VLAN) withID(id int64) VLAN       { v.ID = id; return v }
func (v Subnet) withID(id int64) Subnet   { v.ID = id; return v }
func (v IPRange) withID(id int64) IPRange { v.ID = id; return v }
func (v Zone) withID(id int64) Zone       { v.ID = id; return v }
func (v Pool) withID(id int64) Pool       { v.ID = id; return v }
func (v Tag) withID(id int64) Tag         { v.ID = id; return v }

// crud builds the five routes of a plain collection: anyone logged in reads,
// writes need write.
func crud[T resource[T]](plural, singular string, write auth.Access, c Collection[T]) []Route {
	var zero T
	base := v1 + "/" + plural
	item := base + "/{id}"
	return []Route{
		{Method: "GET", Path: base, Op: "list" + singular + "s", Tag: plural, Summary: "List " + plural,
			Access: auth.Authenticated, Reply: []T{},
			handle: func(r *Request) (any, error) { return orEmpty(c.List(r.Context())) }},
		{Method: "POST", Path: base, Op: "create" + singular, Tag: plural, Summary: "Create a " + strings.ToLower(singular),
			Access: write, Body: zero, Reply: zero, Status: http.StatusCreated,
			handle: func(r *Request) (any, error) {
				var v T
				if err := r.Decode(&v); err != nil {
					return nil, err
				}
				return c.Create(r.Context(), v.withID(0))
			}},
		{Method: "GET", Path: item, Op: "get" + singular, Tag: plural, Summary: "Get a " + strings.ToLower(singular),
			Access: auth.Authenticated, Reply: zero,
			handle: func(r *Request) (any, error) {
				id, err := r.ID("id")
				if err != nil {
					return nil, err
				}
				return c.Get(r.Context(), id)
			}},
		{Method: "PATCH", Path: item, Op: "update" + singular, Tag: plural,
			Summary: "Update a " + strings.ToLower(singular) + " (fields absent from the body are kept)",
			Access:  write, Body: zero, Reply: zero,
			handle: func(r *Request) (any, error) {
				id, err := r.ID("id")
				if err != nil {
					return nil, err
				}
				cur, err := c.Get(r.Context(), id)
				if err != nil {
					return nil, err
				}
				if err := mergeJSON(r, &cur); err != nil {
					return nil, err
				}
				return c.Update(r.Context(), cur.withID(id))
			}},
		{Method: "DELETE", Path: item, Op: "delete" + singular, Tag: plural, Summary: "Delete a " + strings.ToLower(singular),
			Access: write, Status: http.StatusNoContent,
			handle: func(r *Request) (any, error) {
				id, err := r.ID("id")
				if err != nil {
					return nil, err
				}
				return nil, c.Delete(r.Context(), id)
			}},
	}
}

// mergeJSON decodes the body over *cur: fields present replace, fields
// absent stay (a JSON merge of one level, which is what PATCH means here).
func mergeJSON[T any](r *Request, cur *T) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, r.maxBody))
	if err != nil {
		return BadField("", "", "cannot read the body: "+err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cur); err != nil {
		return decodeError(err)
	}
	return nil
}
