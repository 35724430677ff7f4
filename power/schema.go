package power

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FieldType is the type of a driver parameter.
type FieldType string

// Parameter types. Every value arrives as a string (from an API, a CLI flag
// or a database column) and is parsed according to its type.
const (
	TypeString   FieldType = "string"
	TypeInt      FieldType = "int"
	TypeBool     FieldType = "bool"
	TypeDuration FieldType = "duration" // Go syntax: "500ms", "10s"
	TypeChoice   FieldType = "choice"   // one of Field.Choices
	TypeIntList  FieldType = "int-list" // comma separated: "17,3"
	TypeHost     FieldType = "host"     // host name or IP address, no port
	TypeURL      FieldType = "url"      // absolute http or https URL
	TypeHex      FieldType = "hex"      // hexadecimal bytes, e.g. an IPMI K_g
)

// Field describes one driver parameter.
type Field struct {
	Name        string    `json:"name"`
	Type        FieldType `json:"type"`
	Required    bool      `json:"required"`
	Secret      bool      `json:"secret"` // never echoed in errors, logs or API reads
	Default     string    `json:"default,omitempty"`
	Choices     []string  `json:"choices,omitempty"`
	Description string    `json:"description"`
	// Min and Max bound TypeInt values and the byte length of TypeHex values
	// when Max > 0.
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
}

// Schema is a driver's parameter list, in display order.
type Schema []Field

// Field returns the named field.
func (s Schema) Field(name string) (Field, bool) {
	for _, f := range s {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// RedactedValue replaces secret values in [Schema.Redact].
const RedactedValue = "********"

// Redact returns a copy of raw with the values of secret fields (and of
// unknown fields, which may be misspelt secrets) replaced by RedactedValue,
// for API reads and logs.
func (s Schema) Redact(raw map[string]string) map[string]string {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if f, ok := s.Field(k); ok && !f.Secret {
			out[k] = v
			continue
		}
		if v != "" {
			v = RedactedValue
		}
		out[k] = v
	}
	return out
}

// Params are validated, typed parameter values. Accessors return the zero
// value for a parameter that is absent and has no default.
type Params struct {
	driver string
	values map[string]any
}

// String returns a string-like parameter (string, choice, host, url).
func (p Params) String(name string) string { v, _ := p.values[name].(string); return v }

// Int returns an int parameter.
func (p Params) Int(name string) int { v, _ := p.values[name].(int); return v }

// Bool returns a bool parameter.
func (p Params) Bool(name string) bool { v, _ := p.values[name].(bool); return v }

// Duration returns a duration parameter.
func (p Params) Duration(name string) time.Duration {
	v, _ := p.values[name].(time.Duration)
	return v
}

// IntList returns an int-list parameter.
func (p Params) IntList(name string) []int { v, _ := p.values[name].([]int); return slices.Clone(v) }

// Bytes returns a hex parameter, decoded.
func (p Params) Bytes(name string) []byte { v, _ := p.values[name].([]byte); return slices.Clone(v) }

// Has reports whether the parameter was given or has a default.
func (p Params) Has(name string) bool { _, ok := p.values[name]; return ok }

// Validate parses raw against the schema. It rejects unknown names, missing
// required values and values that do not parse; every error names the
// driver, the field, the value (unless the field is secret) and the fix.
// driver is used in messages only.
func (s Schema) Validate(driver string, raw map[string]string) (Params, error) {
	p := Params{driver: driver, values: make(map[string]any, len(s))}
	var unknown []string
	for k := range raw {
		if _, ok := s.Field(k); !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, len(s))
		for i, f := range s {
			names[i] = f.Name
		}
		return p, fmt.Errorf("%w: %s driver: unknown parameter(s) %s; known parameters are %s",
			ErrConfig, driver, strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	for _, f := range s {
		v, given := raw[f.Name]
		if !given || v == "" {
			if f.Default == "" {
				if f.Required {
					return p, fmt.Errorf("%w: %s driver: parameter %q is required (%s)", ErrConfig, driver, f.Name, f.Description)
				}
				continue
			}
			v = f.Default
		}
		val, err := f.parse(v)
		if err != nil {
			shown := strconv.Quote(v)
			if f.Secret {
				shown = "(secret value)"
			}
			return p, fmt.Errorf("%w: %s driver: parameter %q = %s: %v", ErrConfig, driver, f.Name, shown, err)
		}
		p.values[f.Name] = val
	}
	return p, nil
}

func (f Field) parse(v string) (any, error) {
	switch f.Type {
	case TypeString:
		return v, nil
	case TypeInt:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("want a whole number")
		}
		if f.Max > 0 && (n < f.Min || n > f.Max) {
			return nil, fmt.Errorf("want a number from %d to %d", f.Min, f.Max)
		}
		return n, nil
	case TypeBool:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("want true or false")
		}
		return b, nil
	case TypeDuration:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("want a duration such as 500ms or 10s")
		}
		return d, nil
	case TypeChoice:
		if !slices.Contains(f.Choices, v) {
			return nil, fmt.Errorf("want one of %s", strings.Join(f.Choices, ", "))
		}
		return v, nil
	case TypeIntList:
		var out []int
		for part := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return nil, fmt.Errorf("want comma-separated whole numbers such as 17,3")
			}
			if f.Max > 0 && (n < f.Min || n > f.Max) {
				return nil, fmt.Errorf("each number must be from %d to %d", f.Min, f.Max)
			}
			out = append(out, n)
		}
		return out, nil
	case TypeHost:
		h := strings.TrimSpace(v)
		if h == "" || strings.ContainsAny(h, "/ ") {
			return nil, fmt.Errorf("want a host name or IP address without scheme or path")
		}
		if strings.Contains(h, ":") && net.ParseIP(h) == nil {
			return nil, fmt.Errorf("want a host name or IP address without a port; give the port in the port parameter")
		}
		return h, nil
	case TypeURL:
		u, err := url.Parse(strings.TrimSpace(v))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("want an absolute http:// or https:// URL")
		}
		return strings.TrimSpace(v), nil
	case TypeHex:
		s := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), "0x")
		if len(s)%2 != 0 {
			return nil, fmt.Errorf("want an even number of hexadecimal digits")
		}
		b := make([]byte, len(s)/2)
		for i := range b {
			n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("want hexadecimal digits 0-9, a-f")
			}
			b[i] = byte(n)
		}
		if f.Max > 0 && len(b) > f.Max {
			return nil, fmt.Errorf("at most %d bytes (%d hex digits)", f.Max, 2*f.Max)
		}
		return b, nil
	}
	return nil, fmt.Errorf("schema error: field type %q unknown", f.Type)
}
