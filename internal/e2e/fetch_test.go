package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ironkit/ironkit/internal/testenv"
)

// TestFetchImageFallback runs the ephemeral environment's fetch_image
// (scripts/ephemeral/lib.sh) under busybox against two HTTP servers on
// loopback standing in for the rack's image cache and the region: the
// image comes from the rack when the rack has it with the right SHA-256,
// else from the region's image_url, and the log says which. (The VM test
// covers the rack path end to end; this is the cheap check of the
// fallback.) It needs only busybox, not root.
func TestFetchImageFallback(t *testing.T) {
	testenv.RequireBinaries(t, "busybox")
	bb, err := exec.LookPath("busybox")
	must(t, err)
	// Only busybox applets on PATH, as in the initramfs.
	bin := t.TempDir()
	for _, a := range []string{"sh", "nc", "head", "cut", "tr", "sed", "tee", "sha256sum", "mkfifo", "sleep", "kill", "rm", "cat"} {
		must(t, os.Symlink(bb, filepath.Join(bin, a)))
	}
	lib, err := filepath.Abs("../../scripts/ephemeral/lib.sh")
	must(t, err)

	image := bytes.Repeat([]byte("ironkit image "), 10000)
	sum := sha256.Sum256(image)
	want := hex.EncodeToString(sum[:])
	const path = "ironkit/amd64/generic/e2e/generic/root.img"
	var rackBody atomic.Pointer[[]byte] // nil: the rack does not have it (404)
	var rackHits, regionHits atomic.Int32
	rack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rackHits.Add(1)
		b := rackBody.Load()
		if r.URL.Path != "/"+path || b == nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(*b)
	}))
	defer rack.Close()
	region := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		regionHits.Add(1)
		if r.URL.Path != "/images/blobs/"+want {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(image)
	}))
	defer region.Close()
	regionURL := region.URL + "/images/blobs/" + want

	for _, tc := range []struct {
		name     string
		rackURL  string
		rackBody []byte
		url      string
		from     string // "rack", "region" or "" (failure)
		log      string
		rackReqs int32
	}{
		{"rack has it", rack.URL, image, regionURL, "rack", "image from the rack: " + rack.URL + "/" + path, 1},
		{"rack lacks it", rack.URL, nil, regionURL, "region", "the rack does not have the image", 1},
		{"rack has another version", rack.URL, []byte("an older image"), regionURL, "region", "the rack's " + rack.URL + "/" + path + " has sha256 ", 1},
		{"no rack URL on the command line", "", image, regionURL, "region", "image from the region: " + regionURL, 0},
		{"neither has it", rack.URL, nil, region.URL + "/images/blobs/0000", "", "the rack does not have the image", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rackBody.Store(nil)
			if tc.rackBody != nil {
				rackBody.Store(&tc.rackBody)
			}
			rackHits.Store(0)
			regionHits.Store(0)
			dir := t.TempDir()
			dest := filepath.Join(dir, "disk")
			must(t, os.WriteFile(dest, nil, 0o644))
			cmd := exec.Command(bb, "sh", "-c", `. "$0"; fetch_image "$@"; echo "rc=$? from=$FETCHED_FROM"`,
				lib, tc.rackURL, path, tc.url, want, dest)
			cmd.Env = []string{"PATH=" + bin, "IRONKIT_LIB_HOST=1", "IRONKIT_TMP=" + dir, "LOG_TAG=ironkit-ephemeral"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("busybox sh: %v\n%s%s", err, out, stderr.String())
			}
			got, _ := os.ReadFile(dest)
			res := strings.TrimSpace(string(out))
			switch tc.from {
			case "rack":
				if res != "rc=0 from="+rack.URL+"/"+path || !bytes.Equal(got, image) || regionHits.Load() != 0 {
					t.Errorf("%s; %d bytes written; region requests %d; want the image from the rack only\n%s", res, len(got), regionHits.Load(), stderr.String())
				}
			case "region":
				if res != "rc=0 from="+regionURL || !bytes.Equal(got, image) || regionHits.Load() != 1 {
					t.Errorf("%s; %d bytes written; region requests %d; want the image from the region\n%s", res, len(got), regionHits.Load(), stderr.String())
				}
			default:
				if !strings.HasPrefix(res, "rc=1 ") {
					t.Errorf("%s; want a failure\n%s", res, stderr.String())
				}
			}
			if rackHits.Load() != tc.rackReqs {
				t.Errorf("rack requests %d, want %d", rackHits.Load(), tc.rackReqs)
			}
			if !strings.Contains(stderr.String(), "ironkit-ephemeral: "+tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, stderr.String())
			}
		})
	}
}
