package explain

import (
	"fmt"
	"io"
	"strings"
)

// WriteText renders an explanation for people: the chain in order, each
// refusal with its fix, then the decisions for the actions asked about.
func WriteText(w io.Writer, e *Explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Pod identity %s/%s on cluster %s", e.Namespace, e.ServiceAccount, e.Cluster)
	if e.Pod != "" {
		fmt.Fprintf(&b, " (pod %s)", e.Pod)
	}
	b.WriteString("\n\n")
	for i, s := range e.Steps {
		mark := map[string]string{StatusOK: "ok", StatusRefused: "REFUSED", StatusInfo: "info", StatusSkipped: "skipped"}[s.Status]
		fmt.Fprintf(&b, "%d. %-11s [%s] %s\n", i+1, s.Name, mark, s.Summary)
		for _, t := range s.Trace {
			fmt.Fprintf(&b, "       %s\n", t)
		}
		if s.Status == StatusRefused {
			fmt.Fprintf(&b, "   cause: %s (%s)\n   fix:   %s\n", s.Problem, s.Cause, s.Fix)
		}
		if s.Name == "trust" && s.Status == StatusOK && len(e.SessionTags) > 0 {
			b.WriteString("   session tags EKS Auth sends (all transitive):\n")
			for _, t := range e.SessionTags {
				fmt.Fprintf(&b, "       %s=%s\n", t.Key, t.Value)
			}
		}
	}
	if len(e.Decisions) > 0 {
		b.WriteString("\nDecisions for the pod's session:\n")
		for _, d := range e.Decisions {
			fmt.Fprintf(&b, "  %s on %s: %s", d.Action, d.Resource, d.Decision)
			if d.DecidedBy != "" {
				fmt.Fprintf(&b, " (%s)", d.DecidedBy)
			}
			b.WriteByte('\n')
			for _, s := range d.Statements {
				fmt.Fprintf(&b, "    by %s\n", s)
			}
			if d.Message != "" {
				fmt.Fprintf(&b, "    AWS says: %s\n", d.Message)
			}
			if d.Fix != "" {
				fmt.Fprintf(&b, "    fix: %s\n", d.Fix)
			}
			for _, t := range d.Trace {
				fmt.Fprintf(&b, "      %s\n", t)
			}
		}
	}
	if e.OK {
		b.WriteString("\nResult: pods of this service account get credentials.\n")
	} else {
		fmt.Fprintf(&b, "\nResult: pods of this service account get no credentials (%s).\n", e.Cause)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
