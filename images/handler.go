package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// HTTP paths served by Store.Handler, relative to the region's base URL.
const (
	// ManifestPath: GET → Manifest for ?rack=<id>. With If-None-Match set to
	// the current ETag and ?wait=<duration> (at most 5m) the request waits
	// for a change and answers 304 Not Modified when none came.
	ManifestPath = "/images/v1/manifest"
	// blobPrefix + <sha256>: GET/HEAD the bytes, with Range, If-Range and
	// ETag "<sha256>".
	blobPrefix = "/images/v1/blobs/"
	// InventoryPath: POST an Inventory (JSON); GET all last inventories by rack id.
	InventoryPath = "/images/v1/inventory"
	// UploadPrefix + <os>/<arch>/<subarch>/<release>/<flavour>/<version>/<name>:
	// PUT the file's bytes (streamed). Optional header X-Ironkit-SHA256.
	UploadPrefix = "/images/v1/uploads/"
	// CompletePrefix + <os>/<arch>/<subarch>/<release>/<flavour>/<version>:
	// POST marks an uploaded set complete.
	CompletePrefix = "/images/v1/complete/"
	// SetPrefix + <os>/<arch>/<subarch>/<release>/<flavour>/<version>:
	// GET the set, DELETE it (its bytes go at the next Store.GC).
	SetPrefix = "/images/v1/sets/"
	// MirrorRoot: the region's complete sets as a mirror (MirrorIndexPath
	// below it), for Store.Import on another region.
	MirrorRoot = "/images/v1"
)

// BlobPath is the URL path of the blob with the given digest.
func BlobPath(sha256 string) string { return blobPrefix + sha256 }

// proxiedHeader marks a blob request a region forwarded to a peer, so
// peers never forward in circles.
const proxiedHeader = "X-Ironkit-Images-Proxied"

// Handler serves the store over HTTP: blobs to racks and peers, manifests,
// inventories, uploads and the mirror view. It does no authentication: the
// caller mounts it behind the rack/API auth. Uploads stream for as long as
// they take; do not give the server a whole-request ReadTimeout.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ManifestPath, s.serveManifest)
	mux.HandleFunc("GET "+blobPrefix+"{sum}", s.serveBlob)
	mux.HandleFunc("HEAD "+blobPrefix+"{sum}", s.serveBlob)
	mux.HandleFunc("POST "+InventoryPath, s.serveInventory)
	mux.HandleFunc("GET "+InventoryPath, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Inventories()) })
	mux.HandleFunc("PUT "+UploadPrefix+"{os}/{arch}/{subarch}/{release}/{flavour}/{version}/{name}", s.serveUpload)
	mux.HandleFunc("POST "+CompletePrefix+"{os}/{arch}/{subarch}/{release}/{flavour}/{version}", s.serveComplete)
	mux.HandleFunc("GET "+SetPrefix+"{os}/{arch}/{subarch}/{release}/{flavour}/{version}", s.serveGetSet)
	mux.HandleFunc("DELETE "+SetPrefix+"{os}/{arch}/{subarch}/{release}/{flavour}/{version}", s.serveDeleteSet)
	mux.HandleFunc("GET "+MirrorRoot+"/"+MirrorIndexPath, s.serveMirrorIndex)
	return mux
}

func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, ErrChecksum):
		code = http.StatusUnprocessableEntity
	case errors.Is(err, ErrComplete), errors.Is(err, ErrIncomplete):
		code = http.StatusConflict
	case errors.Is(err, ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	}
	http.Error(w, err.Error(), code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Store) serveManifest(w http.ResponseWriter, r *http.Request) {
	rack := r.URL.Query().Get("rack")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			httpError(w, fmt.Errorf("%w: wait=%q; use a Go duration such as 30s", ErrInvalid, v))
			return
		}
		wait = min(d, 5*time.Minute)
	}
	have := r.Header.Get("If-None-Match")
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	// Changes made by other regions in a shared catalog are not signalled
	// here unless internal calls Changed, so re-read every few seconds.
	recheck := time.NewTicker(5 * time.Second)
	defer recheck.Stop()
	for {
		ch := s.changes()
		m, err := s.Manifest(r.Context(), rack)
		if err != nil {
			httpError(w, err)
			return
		}
		etag := strconv.Quote(m.ETag)
		if have == "" || have != etag {
			w.Header().Set("ETag", etag)
			writeJSON(w, m)
			return
		}
		select {
		case <-ch:
		case <-recheck.C:
		case <-deadline.C:
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Store) serveBlob(w http.ResponseWriter, r *http.Request) {
	sum := r.PathValue("sum")
	if err := ValidDigest(sum); err != nil {
		httpError(w, err)
		return
	}
	f, err := s.blobs.open(sum)
	if errors.Is(err, ErrNotFound) && r.Header.Get(proxiedHeader) == "" && len(s.cfg.Peers) > 0 {
		s.proxyBlob(w, r, sum)
		return
	}
	if err != nil {
		httpError(w, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		httpError(w, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(sum))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	// Range, If-Range, HEAD; sendfile for ordinary files.
	http.ServeContent(w, r, "", st.ModTime(), servable(f, st))
}

// proxyBlob forwards a blob request to the first peer that has the blob,
// so any region can serve any complete resource while Run replicates.
func (s *Store) proxyBlob(w http.ResponseWriter, r *http.Request, sum string) {
	for _, p := range s.cfg.Peers {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, p+blobPrefix+sum, nil)
		req.Header.Set(proxiedHeader, "1")
		resp, err := s.cfg.HTTPClient.Do(req)
		cancel()
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		target, err := url.Parse(p)
		if err != nil {
			continue
		}
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Header.Set(proxiedHeader, "1")
			},
			Transport: s.cfg.HTTPClient.Transport,
		}
		s.log.Debug("proxying blob to peer region", "sha256", sum, "peer", p)
		rp.ServeHTTP(w, r)
		select {
		case s.kick <- struct{}{}: // and replicate it here
		default:
		}
		return
	}
	httpError(w, fmt.Errorf("%w: blob %s is on no region", ErrNotFound, sum))
}

func (s *Store) serveInventory(w http.ResponseWriter, r *http.Request) {
	var inv Inventory
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&inv); err != nil {
		httpError(w, fmt.Errorf("%w: inventory body: %v", ErrInvalid, err))
		return
	}
	if inv.Rack == "" {
		httpError(w, fmt.Errorf("%w: inventory without rack id; set CacheConfig.RackID", ErrInvalid))
		return
	}
	s.recordInventory(inv)
	w.WriteHeader(http.StatusNoContent)
}

func keyFromPath(r *http.Request) Key {
	return Key{OS: r.PathValue("os"), Arch: r.PathValue("arch"), Subarch: r.PathValue("subarch"),
		Release: r.PathValue("release"), Flavour: r.PathValue("flavour")}
}

func (s *Store) serveUpload(w http.ResponseWriter, r *http.Request) {
	// ContentLength is -1 for a chunked body: size unknown.
	spec := UploadSpec{SHA256: r.Header.Get("X-Ironkit-SHA256"), Size: r.ContentLength}
	f, err := s.Upload(r.Context(), keyFromPath(r), r.PathValue("version"), r.PathValue("name"), r.Body, spec)
	if err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, f)
}

func (s *Store) serveComplete(w http.ResponseWriter, r *http.Request) {
	key, version := keyFromPath(r), r.PathValue("version")
	if err := s.Complete(r.Context(), key, version); err != nil {
		httpError(w, err)
		return
	}
	set, err := s.cat.GetSet(r.Context(), key, version)
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, set)
}

func (s *Store) serveGetSet(w http.ResponseWriter, r *http.Request) {
	set, err := s.cat.GetSet(r.Context(), keyFromPath(r), r.PathValue("version"))
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, set)
}

func (s *Store) serveDeleteSet(w http.ResponseWriter, r *http.Request) {
	if err := s.Delete(r.Context(), keyFromPath(r), r.PathValue("version")); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Store) serveMirrorIndex(w http.ResponseWriter, r *http.Request) {
	all, err := s.cat.ListSets(r.Context())
	if err != nil {
		httpError(w, err)
		return
	}
	var done []Set
	for _, set := range all {
		if set.Complete {
			done = append(done, set)
		}
	}
	writeJSON(w, mirrorFromSets(done, s.cfg.Now(), func(f File) string { return "blobs/" + f.SHA256 }))
}
