package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// ClusterTag is the cluster tag that chooses a cluster's credential
// issuer ("local" or "aws-sts"), overriding the server-wide default.
const ClusterTag = "podid:credential-issuer"

// ClusterTags reads a cluster's tags.
type ClusterTags interface {
	ClusterTags(ctx context.Context, cluster string) (map[string]string, error)
}

// Dispatch is EKS Auth's issuer when podid can issue both ways: it sends
// each request to the local issuer or the broker by the cluster's
// ClusterTag, else by Default. A cluster can ask for the broker only when
// the server runs one (Broker non-nil): podid never calls AWS unless the
// operator turned broker mode on.
type Dispatch struct {
	Local  eksauth.CredentialIssuer
	Broker *Broker
	// Default is IssuerLocal or IssuerAWSSTS.
	Default  string
	Clusters ClusterTags
}

var _ eksauth.CredentialIssuer = (*Dispatch)(nil)

// ValidIssuer reports whether name is an issuer name.
func ValidIssuer(name string) bool { return name == IssuerLocal || name == IssuerAWSSTS }

// IssuerFor returns the issuer name of a cluster.
func (d *Dispatch) IssuerFor(ctx context.Context, cluster string) (string, error) {
	name := d.Default
	if name == "" {
		name = IssuerLocal
	}
	if d.Clusters != nil && cluster != "" {
		tags, err := d.Clusters.ClusterTags(ctx, cluster)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("reading the tags of cluster %s: %w", cluster, err)
		}
		if v, ok := tags[ClusterTag]; ok {
			if !ValidIssuer(v) {
				return "", awsproto.Errorf(http.StatusBadRequest, "InvalidParameterValue", "Cluster %s has the tag %s=%q; its value must be %s or %s.", cluster, ClusterTag, v, IssuerLocal, IssuerAWSSTS)
			}
			name = v
		}
	}
	if name == IssuerAWSSTS && d.Broker == nil {
		return "", awsproto.Errorf(http.StatusForbidden, "AccessDenied", "Cluster %s uses the aws-sts credential issuer, but this podid server runs without a broker (start it with --credential-issuer=aws-sts).", cluster)
	}
	return name, nil
}

func (d *Dispatch) pick(ctx context.Context, in *eksauth.AssumeInput) (eksauth.CredentialIssuer, error) {
	name, err := d.IssuerFor(ctx, ClusterNameFromARN(in.SourceARN))
	if err != nil {
		return nil, err
	}
	if name == IssuerAWSSTS {
		return d.Broker, nil
	}
	if d.Local == nil {
		return nil, errors.New("broker: no local issuer")
	}
	return d.Local, nil
}

// AssumeAsService implements eksauth.CredentialIssuer.
func (d *Dispatch) AssumeAsService(ctx context.Context, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	iss, err := d.pick(ctx, in)
	if err != nil {
		return nil, err
	}
	return iss.AssumeAsService(ctx, in)
}

// AssumeFromSession implements eksauth.CredentialIssuer. EKS Auth passes the same
// cluster (SourceARN) for both hops, so both go to the same issuer.
func (d *Dispatch) AssumeFromSession(ctx context.Context, from *eksauth.Credentials, in *eksauth.AssumeInput) (*eksauth.Credentials, error) {
	iss, err := d.pick(ctx, in)
	if err != nil {
		return nil, err
	}
	return iss.AssumeFromSession(ctx, from, in)
}

// ExternalRoles reports whether a cluster's roles live in AWS rather
// than in podid's IAM (the cluster uses the broker). EKS then accepts role
// ARNs of any account and asks ValidateRole instead of its own checks.
func (d *Dispatch) ExternalRoles(ctx context.Context, cluster string) bool {
	name, err := d.IssuerFor(ctx, cluster)
	return err == nil && name == IssuerAWSSTS
}

// ValidateRole checks an association's role for a broker cluster (see
// Broker.CheckRole). A non-nil error's message is meant for the EKS
// caller (InvalidParameterException).
func (d *Dispatch) ValidateRole(ctx context.Context, cluster, roleARN string) error {
	if d.Broker == nil {
		return nil
	}
	return d.Broker.CheckRole(ctx, roleARN)
}

// RoleError is a role the broker found unusable; its message is meant
// for the user creating the association.
type RoleError struct{ Message string }

// Error implements error.
func (e *RoleError) Error() string { return e.Message }

// CheckRole is the broker's best-effort check of an association's role:
// when the role is in the broker's account and the broker may read it,
// the role must exist and its trust policy must let the broker's principal
// perform sts:AssumeRole (conditions aside: they depend on the pod). Roles
// of other accounts, and roles IAM does not let the broker read, pass.
func (b *Broker) CheckRole(ctx context.Context, roleARN string) error {
	role, err := b.GetRole(ctx, roleARN)
	if errors.Is(err, ErrRoleNotFound) || (err == nil && role.ARN != roleARN) {
		_, acct, _, _ := roleParts(roleARN)
		return &RoleError{Message: fmt.Sprintf("Role provided in the request does not exist in AWS account %s (the broker looked it up with iam:GetRole).", acct)}
	}
	if err != nil {
		if !errors.Is(err, ErrOtherAccount) {
			b.cfg.Logger.InfoContext(ctx, "broker: could not read role to validate it; accepting it", "role", roleARN, "err", err)
		}
		return nil
	}
	id, err := b.Identity(ctx)
	if err != nil {
		return nil
	}
	c, err := policy.Compile(role.TrustPolicy)
	if err != nil {
		return &RoleError{Message: "Trust policy of the role provided cannot be parsed."}
	}
	if !admits(c, roleARN, Principal{AWS: id.PrincipalARN}) {
		return &RoleError{Message: fmt.Sprintf("Trust policy of the role provided does not allow the broker's principal %s to perform sts:AssumeRole; `podid trust-policy --role %s` prints the trust policy it needs.", id.PrincipalARN, roleARN)}
	}
	return nil
}

// admits reports whether some Allow statement of a trust policy names p
// for sts:AssumeRole, whatever its conditions.
func admits(trust *policy.Compiled, roleARN string, p Principal) bool {
	r := &assumeReq{caller: policyPrincipal(p), roleARN: roleARN, sessionName: probeSession}
	_, acct, _, _ := roleParts(roleARN)
	set := &policy.Set{Resource: trust, ResourceIsTrust: true, Identity: []*policy.Compiled{allowAll()}}
	req := &policy.Request{Principal: r.caller, Action: "sts:AssumeRole", Resource: roleARN, ResourceAccount: acct, Context: r.context(time.Now())}
	for _, st := range policy.Explain(set, req).Statements {
		if st.Layer == policy.PolicyTypeTrust && st.Effect == policy.EffectAllow && (st.Matched || st.Mismatch == "Condition") {
			return true
		}
	}
	return false
}

// StoreClusters reads cluster tags from podid's store, keeping each for
// a couple of seconds so the issuing path reads the store rarely.
func StoreClusters(st store.Store, now func() time.Time) ClusterTags {
	return storeClusters{store.NewClusterCache(st, 2*time.Second, now)}
}

type storeClusters struct{ cache *store.ClusterCache }

// ClusterTags implements ClusterTags.
func (s storeClusters) ClusterTags(ctx context.Context, cluster string) (map[string]string, error) {
	c, err := s.cache.Get(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return c.Tags, nil
}
