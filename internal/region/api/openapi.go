package api

import (
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OpenAPI returns the OpenAPI 3.0 document describing routes. Schemas are
// derived from the Go types of Route.Body and Route.Reply by reflection, so
// the document cannot drift from what the handlers encode.
func OpenAPI(routes []Route, version string) map[string]any {
	g := &schemaGen{components: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		op := map[string]any{
			"operationId": rt.Op,
			"tags":        []string{rt.Tag},
			"summary":     rt.Summary,
			"x-access":    string(rt.Access),
		}
		if rt.Access != "public" {
			op["security"] = []map[string][]string{{"bearer": {}}}
		} else {
			op["security"] = []map[string][]string{}
		}
		var params []map[string]any
		for _, p := range rt.PathParams() {
			typ := "string"
			if p == "id" || strings.HasSuffix(p, "_id") && p != "system_id" {
				typ = "integer"
			}
			params = append(params, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": typ}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description,
				"schema": map[string]any{"type": q.Type}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Body))}}}
		}
		status := rt.success()
		resp := map[string]any{"description": http.StatusText(status)}
		if rt.Reply != nil {
			ct := rt.ContentType
			if ct == "" {
				ct = "application/json"
			}
			var s any = g.schema(reflect.TypeOf(rt.Reply))
			if ct != "application/json" {
				s = map[string]any{"type": "string"}
			}
			resp["content"] = map[string]any{ct: map[string]any{"schema": s}}
		}
		responses := map[string]any{itoa(status): resp}
		for _, code := range rt.errorStatuses() {
			responses[itoa(code)] = map[string]any{"description": http.StatusText(code), "content": map[string]any{
				"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
		}
		op["responses"] = responses
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	g.schema(reflect.TypeOf(Error{}))
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "ironkit region API",
			"version":     version,
			"description": "REST API of ironkit's region controller (regiond). Authenticate with `Authorization: Bearer <api key>`.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
			},
		},
	}
}

func (rt Route) success() int {
	if rt.Status != 0 {
		return rt.Status
	}
	return http.StatusOK
}

// errorStatuses lists the error statuses a route may answer with.
func (rt Route) errorStatuses() []int {
	var out []int
	if rt.Body != nil || len(rt.Query) > 0 || len(rt.PathParams()) > 0 {
		out = append(out, http.StatusBadRequest)
	}
	if rt.Access != "public" {
		out = append(out, http.StatusUnauthorized, http.StatusForbidden)
	}
	if len(rt.PathParams()) > 0 {
		out = append(out, http.StatusNotFound)
	}
	if rt.Method != http.MethodGet {
		out = append(out, http.StatusConflict)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

type schemaGen struct {
	components map[string]any
}

var (
	timeType      = reflect.TypeOf(time.Time{})
	rawType       = reflect.TypeOf(json.RawMessage{})
	textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"type": "object", "additionalProperties": true}
	case t.Kind() != reflect.Struct && t.Implements(textMarshaler), t.Kind() == reflect.Struct && t.Implements(textMarshaler):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if _, done := g.components[name]; done {
			return ref
		}
		g.components[name] = map[string]any{} // placeholder against recursion
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			jname, opts, _ := strings.Cut(tag, ",")
			if jname == "" {
				jname = f.Name
			}
			s := g.schema(f.Type)
			if d := f.Tag.Get("doc"); d != "" {
				s = withDesc(s, d)
			}
			if f.Tag.Get("writeonly") == "true" {
				s = withKey(s, "writeOnly", true)
			}
			props[jname] = s
			if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
				required = append(required, jname)
			}
		}
		sort.Strings(required)
		obj := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			obj["required"] = required
		}
		g.components[name] = obj
		return ref
	}
	return map[string]any{}
}

func withDesc(s map[string]any, d string) map[string]any { return withKey(s, "description", d) }

func withKey(s map[string]any, k string, v any) map[string]any {
	if _, isRef := s["$ref"]; isRef {
		return map[string]any{"allOf": []any{s}, k: v}
	}
	out := map[string]any{}
	for kk, vv := range s {
		out[kk] = vv
	}
	out[k] = v
	return out
}
