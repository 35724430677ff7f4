package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/ironkit/ironkit/internal/region/auth"
)

// Route is one entry of the route table. The table is data: the mux, the
// authorization middleware and the OpenAPI document are all built from it.
type Route struct {
	// Method and Path form a net/http pattern ("GET /api/v1/machines/{id}").
	Method string
	Path   string
	// Op is the OpenAPI operationId; unique.
	Op string
	// Tag groups operations in the document (machines, fabrics, …).
	Tag     string
	Summary string
	// Access is what the caller must be; see auth.Decide.
	Access auth.Access
	// Query documents the query parameters.
	Query []Param
	// Body is a value of the request body type (nil: no body).
	Body any
	// Reply is a value of the response body type (nil: no body).
	Reply any
	// Status is the success status (default 200).
	Status int
	// ContentType of the reply when it is not JSON (raw routes).
	ContentType string

	handle handlerFunc
	raw    rawFunc
}

// Param is a documented query parameter.
type Param struct {
	Name        string
	Type        string // string, integer, boolean
	Description string
}

// Pattern is the net/http mux pattern of the route.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// PathParams returns the {names} of the route's path, in order.
func (r Route) PathParams() []string {
	var out []string
	for _, seg := range strings.Split(r.Path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

type handlerFunc func(r *Request) (any, error)
type rawFunc func(w http.ResponseWriter, r *Request) error

// Request is what a handler receives: the HTTP request and its caller.
type Request struct {
	*http.Request
	Principal auth.Principal
	route     *Route
	maxBody   int64
}

// ID parses the path parameter name as a positive integer id.
func (r *Request) ID(name string) (int64, error) {
	v := r.PathValue(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, BadField(name, v, "use a positive integer id")
	}
	return n, nil
}

// Decode reads the JSON body into v, rejecting unknown fields and naming the
// field of a type mismatch.
func (r *Request) Decode(v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, r.maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return BadField(te.Field, te.Value, fmt.Sprintf("expected %s", te.Type))
	case errors.As(err, &se):
		return BadField("", "", fmt.Sprintf("body is not valid JSON at byte %d: %v", se.Offset, err))
	case errors.Is(err, io.EOF):
		return BadField("", "", "the request needs a JSON body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return BadField(f, "", "unknown field; see /api/v1/openapi.json for the accepted fields")
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return BadField("", "", "cannot read the body: "+err.Error())
}

// SystemID returns the {system_id} path parameter, checked.
func (r *Request) SystemID() (string, error) {
	v := r.PathValue("system_id")
	if !systemIDRE.MatchString(v) {
		return "", BadField("system_id", v, "use a machine's system_id as shown by the machine list")
	}
	return v, nil
}

var systemIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// QueryInt parses an integer query parameter; def when absent.
func (r *Request) QueryInt(name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, BadField(name, v, "use an integer")
	}
	return n, nil
}
