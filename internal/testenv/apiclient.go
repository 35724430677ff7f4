package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// APIClient is a JSON-over-HTTP client for tests that drive the region's
// public API as ironctl does: bodies go out as JSON, a bearer key is sent
// when set, and a 2xx reply is decoded into out.
type APIClient struct {
	T    testing.TB
	Base string // e.g. "http://127.0.0.1:5240/api/v1"
	Key  string
	HTTP *http.Client // nil: http.DefaultClient
}

// Do sends one request and returns the status and the raw reply; it fails
// T on a transport error or a 2xx reply that does not decode into out.
func (c APIClient) Do(method, path string, body, out any) (int, []byte) {
	c.T.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.T.Fatalf("%s %s: encode body: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		c.T.Fatalf("%s %s: %v", method, path, err)
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.T.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, data
}
