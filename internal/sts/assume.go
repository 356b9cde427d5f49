package sts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/store"
)

// AssumeRoleInput is the input of AssumeRole. Zero values are absent
// members.
type AssumeRoleInput struct {
	RoleArn           string
	RoleSessionName   string
	DurationSeconds   int
	Policy            string
	PolicyArns        []string
	Tags              []Tag
	TransitiveTagKeys []string
	ExternalID        string
	SourceIdentity    string
	SerialNumber      string
	TokenCode         string
}

// AssumeRoleOutput carries the new role session's credentials.
type AssumeRoleOutput struct {
	Credentials     Credentials
	AssumedRoleUser AssumedRoleUser
	// PackedPolicySize is set when session policies or tags were passed.
	PackedPolicySize *int
	SourceIdentity   string
}

// AssumeRole returns credentials for a role session. The caller must be
// allowed by the role's trust policy (and, where AWS's rules ask for it, by
// its own identity policies) to perform sts:AssumeRole, plus sts:TagSession
// when the session carries tags and sts:SetSourceIdentity when it carries a
// source identity.
func (s *Service) AssumeRole(ctx context.Context, in *AssumeRoleInput) (*AssumeRoleOutput, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v validation
	v.arn("roleArn", in.RoleArn, in.RoleArn != "", true)
	v.str("roleSessionName", in.RoleSessionName, in.RoleSessionName != "", true, 2, 64, reSessionName, patSessionName)
	v.intRange("durationSeconds", in.DurationSeconds, in.DurationSeconds != 0, roleMin, roleMax)
	v.policyText("policy", in.Policy, in.Policy != "", 0)
	v.str("externalId", in.ExternalID, in.ExternalID != "", false, 2, 1224, reExternalID, patExternalID)
	v.str("sourceIdentity", in.SourceIdentity, in.SourceIdentity != "", false, 2, 64, reSourceIdentity, patSourceIdentity)
	v.str("serialNumber", in.SerialNumber, in.SerialNumber != "", false, 9, 256, reSerialNumber, patSerialNumber)
	v.str("tokenCode", in.TokenCode, in.TokenCode != "", false, 6, 6, reTokenCode, patTokenCode)
	validatePolicyArns(&v, in.PolicyArns)
	validateTags(&v, in.Tags, in.TransitiveTagKeys)
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.TokenCode != "" || in.SerialNumber != "" {
		return nil, accessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	}
	res, err := s.assume(ctx, &assumeRequest{
		kind:           "sts:AssumeRole",
		caller:         p,
		action:         "sts:AssumeRole",
		roleARN:        in.RoleArn,
		sessionName:    in.RoleSessionName,
		duration:       in.DurationSeconds,
		policy:         in.Policy,
		policyArns:     in.PolicyArns,
		tags:           in.Tags,
		transitive:     in.TransitiveTagKeys,
		externalID:     in.ExternalID,
		sourceIdentity: in.SourceIdentity,
		sourceARN:      p.ARN,
	})
	if err != nil {
		return nil, err
	}
	return &AssumeRoleOutput{
		Credentials:      *res.creds,
		AssumedRoleUser:  res.user,
		PackedPolicySize: res.packed,
		SourceIdentity:   res.sourceIdentity,
	}, nil
}

// validatePolicyArns checks the PolicyArns member (at most 10 ARNs).
func validatePolicyArns(v *validation, arns []string) {
	if len(arns) > maxPolicyArns {
		s := fmt.Sprintf("%v", arns)
		v.add(&s, "policyArns", fmt.Sprintf("must have length less than or equal to %d", maxPolicyArns))
	}
	for i, a := range arns {
		v.arn("policyArns."+strconv.Itoa(i+1)+".member.arn", a, true, false)
	}
}

// assumeRequest is what every way of assuming a role has in common.
type assumeRequest struct {
	// kind names the operation in audit records.
	kind string
	// caller is the IAM principal asking (nil for a service principal or a
	// web identity).
	caller *auth.Principal
	// service is the service principal asking (e.g. pods.eks.amazonaws.com).
	service string
	// federated is the OIDC provider ARN of a web identity.
	federated string
	// action is sts:AssumeRole or sts:AssumeRoleWithWebIdentity.
	action      string
	roleARN     string
	sessionName string
	// duration in seconds; 0 for the default (one hour).
	duration int
	// bypassMax skips the role's MaxSessionDuration (service callers).
	bypassMax      bool
	policy         string
	policyArns     []string
	tags           []Tag
	transitive     []string
	externalID     string
	sourceIdentity string
	// extra condition keys (web identity claims, aws:SourceArn, …).
	extra map[string][]string
	// sourceARN is recorded in the session as the principal that made it.
	sourceARN string
	// deniedMessage overrides the AccessDenied sentence (web identity).
	deniedMessage string
}

// assumeResult is the outcome of a successful assumption.
type assumeResult struct {
	creds          *Credentials
	user           AssumedRoleUser
	packed         *int
	sourceIdentity string
	session        *auth.Session
	role           *store.Role
}

// principalName is how a denial message names the caller.
func (r *assumeRequest) principalName() string {
	switch {
	case r.caller != nil:
		return r.caller.ARN
	case r.service != "":
		return r.service
	}
	return r.federated
}

// denied is the AccessDenied of this request for action.
func (r *assumeRequest) denied(action string) *awsproto.Error {
	if r.deniedMessage != "" {
		return accessDenied(r.deniedMessage)
	}
	return accessDenied(fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", r.principalName(), action, r.roleARN))
}

// roleFromARN returns the account and role name of a role ARN in this
// partition. ok is false for any other ARN; hosted is false for a role
// ARN of an account this server does not host.
func (s *Service) roleFromARN(a string) (account, name string, hosted, ok bool) {
	p, err := arn.Parse(a)
	if err != nil || p.Partition != s.partition || p.Region != "" || p.Service != "iam" {
		return "", "", false, false
	}
	name, ok = p.RoleName()
	if !ok {
		return "", "", false, false
	}
	return p.AccountID, name, s.hosted[p.AccountID], true
}

// sessionAccount is what a session records as its account: nothing for
// the primary account (the default, so that replicas of a version without
// accounts keep accepting its sessions), else the account, which such
// replicas refuse (a critical field of the session token).
func (s *Service) sessionAccount(account string) string {
	if account == s.account {
		return ""
	}
	return account
}

// notHosted is the refusal of a role in an account this podid does not
// host: AWS's AccessDenied sentence for a role that does not exist, and
// why.
func (r *assumeRequest) notHosted(account string) *awsproto.Error {
	e := r.denied(r.action)
	if r.deniedMessage == "" {
		e.Message += " (account " + account + " is not hosted by this podid: start the server with --account " + account + " to host it)"
	}
	return e
}

// assume runs the checks common to every assumption and mints the session.
func (s *Service) assume(ctx context.Context, r *assumeRequest) (res *assumeResult, err error) {
	defer func() {
		if err != nil {
			s.auditRefusal(ctx, r, err)
		}
	}()
	if !strings.HasPrefix(r.roleARN, "arn:") {
		return nil, validationError("Request ARN is invalid")
	}
	account, name, hosted, ok := s.roleFromARN(r.roleARN)
	if !ok {
		return nil, r.denied(r.action)
	}
	if !hosted {
		return nil, r.notHosted(account)
	}

	// Inherited from a role-chaining caller.
	var inhTags map[string]string
	var inhTrans []string
	inhSI := ""
	chained := false
	if r.caller != nil && r.caller.Session != nil && r.caller.Type == auth.AssumedRole {
		chained = true
		inhTags = r.caller.Session.Tags
		inhTrans = r.caller.Session.TransitiveTagKeys
		inhSI = r.caller.Session.SourceIdentity
	}
	tags, err := mergeTags(r.tags, r.transitive, inhTags, inhTrans)
	if err != nil {
		return nil, err
	}
	si := r.sourceIdentity
	if inhSI != "" {
		if si != "" && si != inhSI {
			return nil, accessDenied("The source identity of a role session cannot be changed: the calling session's source identity is kept through role chaining.")
		}
		si = inhSI
	}

	var (
		role     *store.Role
		managed  []string
		notFound string
	)
	if len(r.policyArns) == 0 && s.roles != nil {
		// The credential exchange's path: the role alone, from the cache.
		role, err = s.roles.get(ctx, s.store, account, name)
	} else {
		err = s.viewRoleAndPolicies(ctx, account, name, r.policyArns, &role, &managed, &notFound)
	}
	if err != nil {
		return nil, storeErr(err)
	}
	if role == nil || !strings.EqualFold(role.ARN, r.roleARN) {
		return nil, r.denied(r.action)
	}
	if notFound != "" {
		return nil, awsproto.Errorf(http.StatusBadRequest, "MalformedPolicyDocument", "Policy %s does not exist or is not attachable.", notFound)
	}
	if r.policy != "" {
		if err := s.validateSessionPolicy(r.policy); err != nil {
			return nil, err
		}
	}

	// Authorization: the trust policy, and the caller's own policies where
	// AWS asks for them.
	actions := []string{r.action}
	if len(tags.Request) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	if si != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	if err := s.checkTrust(ctx, r, role, actions, tags, si); err != nil {
		return nil, err
	}

	// Duration.
	d := int(roleDefault / time.Second)
	if r.duration != 0 {
		d = r.duration
	}
	if !r.bypassMax && role.MaxSessionDuration > 0 && d > role.MaxSessionDuration {
		return nil, validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	if chained && time.Duration(d)*time.Second > chainMax {
		return nil, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}

	// Session policies and packed size.
	var policies []string
	if r.policy != "" {
		policies = append(policies, r.policy)
	}
	policies = append(policies, managed...)
	var packed *int
	if len(policies) > 0 || len(r.tags) > 0 || len(tags.Tags) > 0 {
		pct := packedPercent(policies, tagList(tags))
		if pct > 100 {
			return nil, errPackedTooLarge(pct)
		}
		packed = &pct
	}

	now := s.clock()
	sess := &auth.Session{
		Account:           s.sessionAccount(role.Account),
		RoleARN:           role.ARN,
		RoleID:            role.ID,
		RoleName:          role.Name,
		Type:              auth.AssumedRole,
		SessionName:       r.sessionName,
		Tags:              tags.Tags,
		TransitiveTagKeys: tags.Transitive,
		Policies:          policies,
		SourceIdentity:    si,
		Issued:            now,
		Expires:           now.Add(time.Duration(d) * time.Second),
		Chained:           chained,
		SourceARN:         r.sourceARN,
	}
	creds, err := s.mint(sess)
	if err != nil {
		return nil, err
	}
	s.touchRole(ctx, role, now)
	res = &assumeResult{
		creds: creds,
		user: AssumedRoleUser{
			Arn:           auth.AssumedRoleARN(s.partition, role.Account, role.Name, r.sessionName),
			AssumedRoleID: auth.AssumedRoleID(role.ID, r.sessionName),
		},
		packed:         packed,
		sourceIdentity: si,
		session:        sess,
		role:           role,
	}
	s.auditIssued(ctx, r, res)
	return res, nil
}

// tagList returns the session's tags in a stable order for packing.
func tagList(t *sessionTags) []Tag {
	if len(t.Request) > 0 {
		return t.Request
	}
	return nil
}

// Role last-used tracking. AWS reports a role's last use within a few
// hours, not to the second; podid writes it at most once per
// lastUsedGranularity per role so that issuing credentials stays a
// read-only path.
const lastUsedGranularity = time.Hour

func (s *Service) touchRole(ctx context.Context, role *store.Role, now time.Time) {
	region := auth.RequestInfoFrom(ctx).Region
	if now.Sub(role.LastUsedAt) < lastUsedGranularity && (region == "" || region == role.LastUsedRegion) {
		return
	}
	// Best effort: a failure to record last use never fails the request.
	_ = s.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.GetRole(role.Account, role.Name)
		if err != nil {
			return err
		}
		if cur.ID != role.ID || now.Sub(cur.LastUsedAt) < lastUsedGranularity && (region == "" || region == cur.LastUsedRegion) {
			return nil
		}
		cur.LastUsedAt = now
		if region != "" {
			cur.LastUsedRegion = region
		}
		return tx.UpdateRole(cur)
	})
	if s.roles != nil {
		// The cached copy's last use is now behind the store's.
		s.roles.forget(role.Account, role.Name)
	}
}

// Audit records.

func (s *Service) auditIssued(ctx context.Context, r *assumeRequest, res *assumeResult) {
	if s.audit == nil {
		return
	}
	s.recordAudit(ctx, r.kind, "issued", "", auditFields(map[string]any{
		"caller":         r.principalName(),
		"role":           res.role.ARN,
		"session":        r.sessionName,
		"accessKeyId":    res.creds.AccessKeyID,
		"expiration":     res.creds.Expiration.Format(time.RFC3339),
		"sourceIdentity": res.sourceIdentity,
	}))
}

func (s *Service) auditRefusal(ctx context.Context, r *assumeRequest, err error) {
	if s.audit == nil {
		return
	}
	code := "InternalFailure"
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		code = ae.Code
	}
	s.recordAudit(ctx, r.kind, "refused", code, auditFields(map[string]any{
		"caller":  r.principalName(),
		"role":    r.roleARN,
		"session": r.sessionName,
	}))
}

func auditFields(m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// viewRoleAndPolicies reads account's role and the managed session
// policies named by arns in one transaction; a missing policy's ARN goes to
// notFound.
func (s *Service) viewRoleAndPolicies(ctx context.Context, account, name string, arns []string, role **store.Role, managed *[]string, notFound *string) error {
	return s.store.View(ctx, func(tx store.Tx) error {
		var err error
		*role, err = tx.GetRole(account, name)
		if errors.Is(err, store.ErrNotFound) {
			*role = nil
			return nil
		}
		if err != nil {
			return err
		}
		for _, a := range arns {
			_, doc, err := auth.DefaultPolicyDocument(tx, a)
			if errors.Is(err, store.ErrNotFound) {
				*notFound = a
				return nil
			}
			if err != nil {
				return err
			}
			*managed = append(*managed, doc)
		}
		return nil
	})
}
