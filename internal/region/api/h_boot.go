package api

import (
	"net/http"
	"strconv"
)

func (s *Server) images(w http.ResponseWriter, r *Request) error {
	s.cfg.Backend.Images.ServeHTTP(w, r.Request)
	return nil
}

func (s *Server) uploadBootResource(w http.ResponseWriter, r *Request) error {
	u := BootUpload{OS: r.PathValue("os"), Release: r.PathValue("release"), Arch: r.PathValue("arch"),
		Subarch: r.PathValue("subarch"), Flavour: r.PathValue("flavour"), Version: r.PathValue("version"),
		Name: r.PathValue("name"), Size: r.ContentLength, SHA256: r.URL.Query().Get("sha256")}
	if c := r.URL.Query().Get("complete"); c != "" {
		b, err := strconv.ParseBool(c)
		if err != nil {
			return BadField("complete", c, "use true or false")
		}
		u.Complete = b
	}
	res, err := s.cfg.Backend.BootResources.UploadBootResource(r.Context(), u, r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *Server) startImport(r *Request) (any, error) {
	var req ImportRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	if req.Source == "" {
		return nil, BadField("source", "", "name the mirror: a directory on the region or an http(s):// URL")
	}
	return s.cfg.Backend.BootResources.StartImport(r.Context(), req.Source)
}
