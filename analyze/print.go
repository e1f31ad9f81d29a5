package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report for a person: one block per finding with its
// fixes, then a summary line.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Name)
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %-7s %s: %s\n", f.Severity, f.Check, f.Message)
		for i, l := range f.Dockerfile {
			label := "          "
			if i == 0 {
				label = "    fix:  "
			}
			fmt.Fprintf(&b, "%s%s\n", label, l)
		}
		if f.Pack != "" {
			fmt.Fprintf(&b, "    pack: %s\n", f.Pack)
		}
	}
	errs, warns, infos := r.Count(Error), r.Count(Warning), r.Count(Info)
	if errs+warns+infos == 0 {
		fmt.Fprintf(&b, "  ok: no problems found\n")
	} else {
		fmt.Fprintf(&b, "  %s, %s, %s\n", plural(errs, "error"), plural(warns, "warning"), plural(infos, "note"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// WriteJSON prints reports as one JSON array.
func WriteJSON(w io.Writer, reports []Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}
