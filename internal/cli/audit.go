package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/audit"
)

// auditFlags are `podid audit`'s flags.
type auditFlags struct {
	conn                               podidConnFlags
	since, until                       string
	cluster, namespace, serviceAccount string
	decision, kind                     string
	follow                             bool
	interval                           time.Duration
}

func newAuditCommand() *cobra.Command {
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Export audit records (EKS Auth issuances and refusals, gateway decisions) as JSON lines",
		Long: `Reads podid's audit records through the REST extension GET ` + audit.Path + `
(authorized as ` + audit.Action + `) and writes them to standard output as JSON
lines, oldest first: EKS Auth's issuances and refusals (kind
eks-auth:AssumeRoleForPodIdentity) and the gateway's decisions (gateway:dynamodb,
gateway:s3). Repeated identical refusals are one record with count and
lastTime. --follow keeps reading and prints new records as they are written.

--since and --until take an RFC 3339 time or a duration before now (1h, 30m).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "earliest record time: RFC 3339 or a duration before now (e.g. 24h)")
	fl.StringVar(&f.until, "until", "", "records before this time: RFC 3339 or a duration before now")
	fl.StringVar(&f.cluster, "cluster", "", "only records of this cluster")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "only records of this namespace")
	fl.StringVarP(&f.serviceAccount, "service-account", "s", "", "only records of this service account")
	fl.StringVar(&f.decision, "decision", "", "only this decision: "+strings.Join(audit.Decisions, ", "))
	fl.StringVar(&f.kind, "kind", "", "only this kind (eks-auth:AssumeRoleForPodIdentity, gateway:dynamodb, gateway:s3; gateway: for both)")
	fl.BoolVarP(&f.follow, "follow", "f", false, "keep printing new records as they are written (Ctrl-C stops)")
	fl.DurationVar(&f.interval, "interval", time.Second, "with --follow, how often to ask for new records")
	f.conn.register(cmd)
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(flag, v string, now time.Time) (string, error) {
	if v == "" {
		return "", nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return "", fmt.Errorf("--%s %q: give an RFC 3339 time (2026-12-06T08:00:00Z) or a duration before now (1h)", flag, v)
	}
	return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
}

// query builds the request's query from the flags (without the token).
func (f *auditFlags) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	since, err := parseWhen("since", f.since, now)
	if err != nil {
		return nil, err
	}
	until, err := parseWhen("until", f.until, now)
	if err != nil {
		return nil, err
	}
	if f.follow && until != "" {
		return nil, fmt.Errorf("--follow and --until do not go together")
	}
	for k, v := range map[string]string{"since": since, "until": until, "cluster": f.cluster, "namespace": f.namespace,
		"serviceAccount": f.serviceAccount, "decision": f.decision, "kind": f.kind} {
		if v != "" {
			q.Set(k, v)
		}
	}
	// Checked here too, so that a bad flag fails before any call.
	if _, _, _, err := audit.ParseQuery(q); err != nil {
		return nil, err
	}
	return q, nil
}

func (f *auditFlags) run(ctx context.Context, out io.Writer) error {
	if f.interval <= 0 {
		return fmt.Errorf("--interval must be positive")
	}
	q, err := f.query(time.Now())
	if err != nil {
		return err
	}
	api, err := newPodidAPI(ctx, f.conn)
	if err != nil {
		return err
	}
	token := ""
	for {
		page := url.Values{}
		for k, v := range q {
			page[k] = v
		}
		if token != "" {
			page.Set("nextToken", token)
		}
		var resp struct {
			Records   []json.RawMessage `json:"records"`
			NextToken string            `json:"nextToken"`
			More      bool              `json:"more"`
		}
		if err := api.client.Do(ctx, http.MethodGet, audit.Path+"?"+page.Encode(), nil, &resp); err != nil {
			if ctx.Err() != nil && f.follow {
				return nil
			}
			return fmt.Errorf("reading audit records: %w", err)
		}
		for _, r := range resp.Records {
			if _, err := out.Write(append(compactJSON(r), '\n')); err != nil {
				return err
			}
		}
		if resp.NextToken != "" {
			token = resp.NextToken
		}
		if resp.More {
			continue
		}
		if !f.follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(f.interval):
		}
	}
}

// compactJSON returns raw JSON on one line.
func compactJSON(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}
