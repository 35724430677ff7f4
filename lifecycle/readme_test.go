package lifecycle

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's generated table")

const (
	tableBegin = "<!-- BEGIN GENERATED TABLE (go test ./lifecycle -run TestREADMETable -update) -->\n"
	tableEnd   = "<!-- END GENERATED TABLE -->\n"
)

// renderTable writes the default table as Markdown, one line per status.
func renderTable() string {
	t := DefaultTable()
	var b strings.Builder
	b.WriteString("| status | user actions → target | internal events → target | deadline |\n|---|---|---|---|\n")
	deadlines := DefaultDeadlines()
	for _, s := range Statuses() {
		var user, internal []string
		for _, a := range Actions() {
			r, ok := t.Rules[s][a]
			if !ok {
				continue
			}
			target := string(r.To)
			switch {
			case r.Lock == LockSet:
				target = "locked"
			case r.Lock == LockClear:
				continue // unlock: every status
			case r.Restore && len(r.RestoreOnly) == 0:
				target = "previous, else " + target
			case r.Restore:
				target = fmt.Sprintf("previous if %s, else %s", joinStatuses(r.RestoreOnly), target)
			}
			if r.EraseTo != "" {
				target += " (" + string(r.EraseTo) + " with erase)"
			}
			if r.Remember {
				target += " ⟲"
			}
			name := string(a)
			if info := t.Actions[a]; info.Admin {
				name += "*"
			}
			entry := name + " → " + target
			if t.Actions[a].Internal {
				internal = append(internal, entry)
			} else {
				user = append(user, entry)
			}
		}
		d := ""
		if dur, ok := deadlines.For(s); ok {
			d = dur.String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", s, strings.Join(user, "<br>"), strings.Join(internal, "<br>"), d)
	}
	return b.String()
}

func joinStatuses(ss []Status) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	slices.Sort(names)
	return strings.Join(names, "/")
}

// TestREADMETable keeps the table in README.md in step with DefaultTable.
func TestREADMETable(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, tableBegin), strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the generated-table markers")
	}
	want := doc[:i+len(tableBegin)] + renderTable() + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile("README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's table is out of date: run go test ./lifecycle -run TestREADMETable -update")
}
