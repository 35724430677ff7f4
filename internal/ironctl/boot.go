package ironctl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// importStatus is the part of the region's ImportStatus the CLI shows.
type importStatus struct {
	Running bool   `json:"running"`
	Source  string `json:"source"`
	Done    int64  `json:"done_bytes"`
	Total   int64  `json:"total_bytes"`
	Sets    int    `json:"sets"`
	Files   int    `json:"files"`
	Error   string `json:"error"`
}

// progressBar renders done/total as a 30-character bar with a percentage.
func progressBar(done, total int64) string {
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	frac = min(max(frac, 0), 1)
	n := int(frac * width)
	return fmt.Sprintf("[%s%s] %5.1f%% %s/%s", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, bytesText(done), bytesText(total))
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (c *cli) bootResources(ctx context.Context, rest []string) error {
	if len(rest) == 0 {
		return fmt.Errorf("%w: boot-resources list|import SOURCE|upload OS/ARCH/SUBARCH/RELEASE/FLAVOUR/VERSION FILE", ErrUsage)
	}
	switch rest[0] {
	case "list":
		return c.call(ctx, "boot-resources", "GET", "/api/v1/boot-resources", nil)
	case "import":
		if len(rest) != 2 {
			return fmt.Errorf("%w: boot-resources import SOURCE (a mirror directory on the region or an http(s) URL)", ErrUsage)
		}
		return c.importWithProgress(ctx, rest[1], 500*time.Millisecond)
	case "upload":
		if len(rest) != 3 {
			return fmt.Errorf("%w: boot-resources upload OS/ARCH/SUBARCH/RELEASE/FLAVOUR/VERSION FILE", ErrUsage)
		}
		return c.upload(ctx, rest[1], rest[2])
	}
	return fmt.Errorf("%w: unknown boot-resources command %q", ErrUsage, rest[0])
}

// importWithProgress starts an import and redraws a progress bar on stderr
// until the region reports it finished.
func (c *cli) importWithProgress(ctx context.Context, source string, every time.Duration) error {
	var st importStatus
	if err := c.client.Do(ctx, "POST", "/api/v1/boot-resources/import", map[string]string{"source": source}, &st); err != nil {
		return err
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for st.Running {
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.env.Stderr)
			return fmt.Errorf("stopped watching; the import goes on in the region: %w", ctx.Err())
		case <-t.C:
		}
		st = importStatus{}
		if err := c.client.Do(ctx, "GET", "/api/v1/boot-resources/import", nil, &st); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stderr, "\rimporting %s", progressBar(st.Done, st.Total))
	}
	fmt.Fprintln(c.env.Stderr)
	if st.Error != "" {
		return fmt.Errorf("import from %s: %s", source, st.Error)
	}
	fmt.Fprintf(c.env.Stdout, "imported %d set(s), %d file(s) from %s\n", st.Sets, st.Files, source)
	return nil
}

// upload sends one file of a custom boot resource, with its SHA-256 so the
// region verifies it, and marks the set complete.
func (c *cli) upload(ctx context.Context, key, path string) error {
	parts := strings.Split(strings.Trim(key, "/"), "/")
	if len(parts) != 6 {
		return fmt.Errorf("%w: %q: use OS/ARCH/SUBARCH/RELEASE/FLAVOUR/VERSION, e.g. custom/amd64/generic/myimage/generic/1", ErrUsage, key)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	for i := range parts {
		parts[i] = url.PathEscape(parts[i])
	}
	u := strings.TrimRight(c.client.URL, "/") + "/api/v1/boot-resources/" + strings.Join(parts, "/") + "/" +
		url.PathEscape(filepath.Base(path)) + "?complete=true&sha256=" + hex.EncodeToString(h.Sum(nil))
	req, err := http.NewRequestWithContext(ctx, "PUT", u, f)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+c.client.APIKey)
	hc := c.client.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("upload: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(c.env.Stdout, "uploaded %s (%s) as %s\n", path, bytesText(size), key)
	return nil
}
