package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/podid/podid/internal/broker"
)

// doctorResult is the check of one role of one association.
type doctorResult struct {
	Cluster        string           `json:"cluster"`
	Namespace      string           `json:"namespace"`
	ServiceAccount string           `json:"serviceAccount"`
	AssociationID  string           `json:"associationId"`
	RoleARN        string           `json:"roleArn"`
	Target         bool             `json:"target,omitempty"`
	Issuer         string           `json:"credentialIssuer"`
	Principal      string           `json:"principal"`
	Status         string           `json:"status"` // ok, refuses, too-open, error
	Findings       []broker.Finding `json:"findings,omitempty"`
	Error          string           `json:"error,omitempty"`
}

// Doctor statuses beyond the finding severities.
const (
	doctorOK    = "ok"
	doctorError = "error"
)

// roleReader reads a role's trust policy.
type roleReader interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
}

func newDoctorCommand() *cobra.Command {
	var (
		conn                               podidConnFlags
		cluster, output                    string
		awsProfile, awsEndpoint, awsRegion string
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check every association's role against the trust policy it needs",
		Long: `Reads every pod identity association from podid's server and checks the
trust policy of its role (and target role) against what its cluster's
credential issuer needs (see podid trust-policy). It reports roles that
would refuse the issuer (missing principal, sts:TagSession,
sts:SetSourceIdentity, or unmet conditions) and roles that are too open
(they admit other principals, or pods of other clusters, namespaces or
service accounts). It exits non-zero when it finds a problem.

Roles of broker-mode clusters are read from AWS IAM with the SDK's default
credentials (or --aws-profile) at --aws-iam-endpoint (default: AWS's; the
generic AWS_ENDPOINT_URL names podid and is not used for AWS); roles of
local clusters are read from podid's IAM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			api, err := newPodidAPI(ctx, conn)
			if err != nil {
				return err
			}
			clusters, err := api.clusters(ctx, cluster)
			if err != nil {
				return err
			}
			assocs, err := api.associations(ctx, clusters)
			if err != nil {
				return err
			}
			podidIAM := iam.NewFromConfig(api.cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(api.endpoint) })
			var awsIAM roleReader
			awsReader := func() (roleReader, error) {
				if awsIAM != nil {
					return awsIAM, nil
				}
				podidKey, err := api.cfg.Credentials.Retrieve(ctx)
				if err != nil {
					return nil, fmt.Errorf("podid credentials: %w", err)
				}
				c, err := awsIAMClient(ctx, awsProfile, awsEndpoint, awsRegion, podidKey.AccessKeyID)
				if err != nil {
					return nil, err
				}
				awsIAM = c
				return c, nil
			}
			ic := &issuerCache{api: api}
			results := doctor(ctx, assocs, ic, func(mode broker.Mode) (roleReader, error) {
				if mode == broker.ModeLocal {
					return podidIAM, nil
				}
				return awsReader()
			}, time.Now())
			if err := writeDoctor(cmd.OutOrStdout(), output, results); err != nil {
				return err
			}
			bad := 0
			for _, r := range results {
				if r.Status != doctorOK {
					bad++
				}
			}
			if bad > 0 {
				return fmt.Errorf("doctor: %d of %d roles checked have problems", bad, len(results))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cluster, "cluster", "", "check only this cluster")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fl.StringVar(&awsProfile, "aws-profile", "", "AWS profile for reading roles in AWS (default: the SDK's default chain)")
	fl.StringVar(&awsEndpoint, "aws-iam-endpoint", "", "AWS IAM endpoint URL (default: AWS's, or $AWS_ENDPOINT_URL_IAM)")
	fl.StringVar(&awsRegion, "aws-region", "", "AWS region for the IAM client (default: the SDK's region)")
	conn.register(cmd)
	return cmd
}

// errPodidKeyForAWS is the hint for AWS credentials that are podid's own
// key (dev.env exports podid's root key as AWS_ACCESS_KEY_ID).
const errPodidKeyForAWS = "the AWS credentials are podid's own key %s (a sourced dev.env exports it as AWS_ACCESS_KEY_ID), so AWS would refuse them: read roles in AWS with --aws-profile PROFILE (an AWS profile), or run doctor in a shell without dev.env"

// awsIAMClient is an IAM client for AWS itself: the generic
// AWS_ENDPOINT_URL (podid's URL for this command) is ignored. It refuses
// to send podid's own access key (podidKeyID) to AWS.
func awsIAMClient(ctx context.Context, profile, endpoint, region, podidKeyID string) (*iam.Client, error) {
	var opts []func(*config.LoadOptions) error
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS SDK configuration for AWS: %w", err)
	}
	cfg.BaseEndpoint = nil
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if podidKeyID != "" && cfg.Credentials != nil {
		if k, err := cfg.Credentials.Retrieve(ctx); err == nil && k.AccessKeyID == podidKeyID {
			return nil, fmt.Errorf(errPodidKeyForAWS, podidKeyID)
		}
	}
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// doctor checks every role of every association.
func doctor(ctx context.Context, assocs []broker.AssociationInfo, ic *issuerCache, reader func(broker.Mode) (roleReader, error), now time.Time) []doctorResult {
	sort.Slice(assocs, func(i, j int) bool {
		a, b := assocs[i], assocs[j]
		return a.ClusterName+"\x00"+a.Namespace+"\x00"+a.ServiceAccount < b.ClusterName+"\x00"+b.Namespace+"\x00"+b.ServiceAccount
	})
	trusts := map[string]struct {
		doc string
		err error
	}{}
	var out []doctorResult
	for _, a := range assocs {
		for _, u := range broker.UsesOf(a.RoleARN, []broker.AssociationInfo{a}) {
			out = append(out, doctorCheck(ctx, a, a.RoleARN, u, ic, reader, trusts, now))
		}
		if a.TargetRoleARN != "" {
			for _, u := range broker.UsesOf(a.TargetRoleARN, []broker.AssociationInfo{a}) {
				if u.Target {
					out = append(out, doctorCheck(ctx, a, a.TargetRoleARN, u, ic, reader, trusts, now))
				}
			}
		}
	}
	return out
}

func doctorCheck(ctx context.Context, a broker.AssociationInfo, roleARN string, u broker.Use, ic *issuerCache, reader func(broker.Mode) (roleReader, error),
	trusts map[string]struct {
		doc string
		err error
	}, now time.Time) doctorResult {
	r := doctorResult{Cluster: a.ClusterName, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount, AssociationID: a.AssociationID, RoleARN: roleARN, Target: u.Target}
	mode, p, err := ic.get(ctx, a.ClusterName)
	if err != nil {
		r.Status, r.Error = doctorError, err.Error()
		return r
	}
	r.Issuer, r.Principal = string(mode), p.String()
	if u.Target {
		r.Principal = u.FirstRoleARN
	}
	key := string(mode) + "\x00" + roleARN
	t, ok := trusts[key]
	if !ok {
		t.doc, t.err = readTrust(ctx, mode, roleARN, reader)
		trusts[key] = t
	}
	if t.err != nil {
		if errors.Is(t.err, broker.ErrRoleNotFound) {
			r.Status = broker.SeverityRefuses
			r.Findings = []broker.Finding{{Severity: broker.SeverityRefuses, Message: "the role does not exist"}}
			return r
		}
		r.Status, r.Error = doctorError, t.err.Error()
		return r
	}
	r.Findings = broker.CheckTrust(t.doc, roleARN, mode, p, u, now)
	r.Status = doctorOK
	for _, f := range r.Findings {
		if f.Severity == broker.SeverityRefuses || r.Status == doctorOK {
			r.Status = f.Severity
		}
	}
	return r
}

func readTrust(ctx context.Context, mode broker.Mode, roleARN string, reader func(broker.Mode) (roleReader, error)) (string, error) {
	rr, err := reader(mode)
	if err != nil {
		return "", err
	}
	i := strings.LastIndexByte(roleARN, '/')
	if i < 0 {
		return "", fmt.Errorf("%s is not a role ARN", roleARN)
	}
	out, err := rr.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(roleARN[i+1:])})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchEntity" {
		return "", broker.ErrRoleNotFound
	}
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidClientTokenId" {
		return "", fmt.Errorf("reading the role: %w (the credentials used for this role's account are not valid there: give --aws-profile with that account's credentials)", err)
	}
	if err != nil {
		return "", fmt.Errorf("reading the role: %w", err)
	}
	if got := aws.ToString(out.Role.Arn); got != roleARN {
		return "", fmt.Errorf("iam:GetRole found %s, not %s: read roles of that account with its credentials (--aws-profile)", got, roleARN)
	}
	return broker.DecodePolicyDocument(aws.ToString(out.Role.AssumeRolePolicyDocument)), nil
}

func writeDoctor(w io.Writer, format string, results []doctorResult) error {
	switch format {
	case "json":
		if results == nil {
			results = []doctorResult{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"results": results})
	case "text":
	default:
		return fmt.Errorf("--output must be text or json, not %q", format)
	}
	if len(results) == 0 {
		_, err := fmt.Fprintln(w, "no pod identity associations")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCLUSTER\tNAMESPACE/SERVICE-ACCOUNT\tROLE\tISSUER")
	for _, r := range results {
		role := r.RoleARN
		if r.Target {
			role += " (target)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\n", strings.ToUpper(r.Status), r.Cluster, r.Namespace, r.ServiceAccount, role, r.Issuer)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		for _, f := range r.Findings {
			fmt.Fprintf(w, "%s/%s/%s %s: %s: %s\n", r.Cluster, r.Namespace, r.ServiceAccount, r.RoleARN, f.Severity, f.Message)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "%s/%s/%s %s: error: %s\n", r.Cluster, r.Namespace, r.ServiceAccount, r.RoleARN, r.Error)
		}
	}
	return nil
}
