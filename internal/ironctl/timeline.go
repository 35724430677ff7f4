package ironctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// timeline is the part of the region's Timeline the CLI shows.
type timeline struct {
	SystemID string  `json:"system_id"`
	Hostname string  `json:"hostname"`
	Status   string  `json:"status"`
	Total    float64 `json:"total_seconds"`
	Phases   []struct {
		Status   string     `json:"status"`
		Start    time.Time  `json:"start"`
		End      *time.Time `json:"end"`
		Duration float64    `json:"duration_seconds"`
		Steps    []struct {
			Type    string  `json:"type"`
			Offset  float64 `json:"offset_seconds"`
			Actor   string  `json:"actor"`
			Message string  `json:"message"`
		} `json:"steps"`
	} `json:"phases"`
}

// machineTimeline shows GET /api/v1/machines/{id}/timeline: one line per
// status phase with its duration, and its events indented below.
func (c *cli) machineTimeline(ctx context.Context, sid string) error {
	if c.format == "json" {
		return c.call(ctx, "timeline", "GET", "/api/v1/machines/"+sid+"/timeline", nil)
	}
	var t timeline
	if err := c.client.Do(ctx, "GET", "/api/v1/machines/"+sid+"/timeline", nil, &t); err != nil {
		return err
	}
	return renderTimeline(c.env.Stdout, t)
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

func renderTimeline(w io.Writer, t timeline) error {
	fmt.Fprintf(w, "%s (%s): %s, %s since the first event\n", t.Hostname, t.SystemID, t.Status, seconds(t.Total))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tSTART\tDURATION\tEVENTS")
	for _, p := range t.Phases {
		d := seconds(p.Duration)
		if p.End == nil {
			d += " (current)"
		}
		var steps []string
		for _, s := range p.Steps {
			steps = append(steps, fmt.Sprintf("+%s %s", seconds(s.Offset), s.Type))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Status, p.Start.UTC().Format(time.RFC3339), d, strings.Join(steps, ", "))
	}
	return tw.Flush()
}
