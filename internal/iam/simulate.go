package iam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
)

// IAM's policy simulator: SimulateCustomPolicy, SimulatePrincipalPolicy,
// GetContextKeysForCustomPolicy and GetContextKeysForPrincipalPolicy.
// Decisions come from the same policy engine that authorizes real
// requests; docs/explain.md describes the mapping of the simulator's
// parameters to the engine's request.

// ContextEntry is a condition key and its values for a simulation.
type ContextEntry struct {
	// Name is the condition key (aws:SourceIp, s3:prefix, …).
	Name string
	// Values are the key's values; several values make it multivalued.
	Values []string
	// Type is the ContextKeyType ("string", "stringList", "numeric", …).
	Type string
}

// SimulateInput is the input of SimulateCustomPolicy and
// SimulatePrincipalPolicy.
type SimulateInput struct {
	// PolicySourceARN is the user or role whose policies are simulated
	// (SimulatePrincipalPolicy only).
	PolicySourceARN string
	// PolicyInputList are identity-based policy documents: the whole set
	// for SimulateCustomPolicy, additional ones for SimulatePrincipalPolicy.
	PolicyInputList []string
	// PermissionsBoundaryPolicyInputList holds at most one permissions
	// boundary (replacing the principal's own in SimulatePrincipalPolicy).
	PermissionsBoundaryPolicyInputList []string
	ActionNames                        []string
	// ResourceArns default to "*".
	ResourceArns []string
	// ResourcePolicy is a resource-based policy applied to every resource;
	// for sts: actions on a role it is the role's trust policy.
	ResourcePolicy string
	// ResourceOwner is the account (an ID or an arn:…:iam::ACCOUNT:root)
	// that owns the resources; default: the account in the resource ARN,
	// else the caller's.
	ResourceOwner string
	// CallerArn is the caller; see docs/explain.md for the forms accepted.
	CallerArn              string
	ContextEntries         []ContextEntry
	ResourceHandlingOption string
	MaxItems               *int
	Marker                 string
}

// StatementRef is a statement that decided a simulated request.
type StatementRef struct {
	// SourcePolicyID names the policy: PolicyInputList.N,
	// PermissionsBoundaryPolicyInputList.1, ResourcePolicy, or the name of
	// the principal's inline or managed policy.
	SourcePolicyID string
	// SourcePolicyType is none, user, role, user-managed or resource.
	SourcePolicyType string
	Start, End       policy.Position
}

// ResourceResult is the decision for one resource.
type ResourceResult struct {
	ResourceName         string
	Decision             string
	MatchedStatements    []StatementRef
	MissingContextValues []string
	// AllowedByBoundary is set when a permissions boundary took part.
	AllowedByBoundary *bool
}

// EvaluationResult is the decision for one action on one resource.
type EvaluationResult struct {
	ActionName string
	ResourceResult
	// Explanation is the engine's full trace (not on the wire; `podid
	// explain` prints it).
	Explanation *policy.Explanation
	// Message is AWS's AccessDenied sentence for a denial.
	Message string
}

// SimulateOutput is the result of a simulation.
type SimulateOutput struct {
	EvaluationResults []EvaluationResult
	IsTruncated       bool
	Marker            string
}

// ContextKeysInput is the input of GetContextKeysFor*Policy.
type ContextKeysInput struct {
	// PolicySourceARN is the user or role (principal variant only).
	PolicySourceARN string
	PolicyInputList []string
}

// ContextKeysOutput lists the condition keys the policies use.
type ContextKeysOutput struct {
	ContextKeyNames []string
}

// Simulator limits (AWS's quotas for the simulator's lists).
const (
	simMaxPolicyLen = 131072
	simMaxActions   = 1000
	simMaxResources = 1000
	simMaxPolicies  = 100
	simMaxContext   = 100
)

var contextKeyTypes = []string{"string", "stringList", "numeric", "numericList", "boolean", "booleanList",
	"ip", "ipList", "binary", "binaryList", "date", "dateList"}

// simPolicy is one document of a simulation with its identity.
type simPolicy struct {
	id, typ string
	c       *policy.Compiled
}

// simSet is the policies of a simulation, as the engine's Set and with the
// source of each document.
type simSet struct {
	identity []simPolicy
	boundary *simPolicy
	resource *simPolicy
}

func (s *Service) compileSim(doc, id, typ string) (simPolicy, error) {
	if len(doc) > simMaxPolicyLen {
		return simPolicy{}, invalidInput("%s exceeds the maximum policy length of %d characters.", id, simMaxPolicyLen)
	}
	c, err := policy.Compile(doc)
	if err != nil {
		var ve *policy.ValidationError
		if errors.As(err, &ve) {
			return simPolicy{}, malformedPolicy(ve.Message)
		}
		return simPolicy{}, malformedPolicy("Syntax errors in policy.")
	}
	return simPolicy{id: id, typ: typ, c: c}, nil
}

func (s *Service) validateSim(in *SimulateInput, custom bool) error {
	var v violations
	if custom && in.PolicyInputList == nil {
		v.null("policyInputList")
	}
	if !custom && in.PolicySourceARN == "" {
		v.null("policySourceArn")
	}
	if in.ActionNames == nil {
		v.null("actionNames")
	}
	for i, a := range in.ActionNames {
		if len(a) < 3 || len(a) > 128 {
			v.add(a, "actionNames."+strconv.Itoa(i+1)+".member", "Member must have length between 3 and 128")
		}
	}
	for i, e := range in.ContextEntries {
		if e.Type != "" && !slices.Contains(contextKeyTypes, e.Type) {
			v.add(e.Type, "contextEntries."+strconv.Itoa(i+1)+".member.contextKeyType",
				"Member must satisfy enum value set: ["+strings.Join(contextKeyTypes, ", ")+"]")
		}
		if n := len(e.Name); n < 5 || n > 256 {
			v.add(e.Name, "contextEntries."+strconv.Itoa(i+1)+".member.contextKeyName", "Member must have length between 5 and 256")
		}
	}
	if in.MaxItems != nil && (*in.MaxItems < 1 || *in.MaxItems > 1000) {
		v.add(strconv.Itoa(*in.MaxItems), "maxItems", "Member must have value between 1 and 1000")
	}
	if err := v.err(); err != nil {
		return err
	}
	switch {
	case len(in.ActionNames) == 0:
		return invalidInput("ActionNames must contain at least one action.")
	case len(in.ActionNames) > simMaxActions || len(in.ResourceArns) > simMaxResources:
		return invalidInput("A simulation can include at most %d actions and %d resources.", simMaxActions, simMaxResources)
	case len(in.PolicyInputList) > simMaxPolicies || len(in.ContextEntries) > simMaxContext:
		return invalidInput("A simulation can include at most %d policies and %d context entries.", simMaxPolicies, simMaxContext)
	case len(in.PermissionsBoundaryPolicyInputList) > 1:
		return invalidInput("PermissionsBoundaryPolicyInputList can contain at most one policy.")
	case custom && in.ResourcePolicy != "" && in.CallerArn == "":
		return invalidInput("CallerArn is required when a ResourcePolicy is included in the simulation.")
	}
	for _, a := range in.ActionNames {
		if svc, name, ok := strings.Cut(a, ":"); !ok || svc == "" || name == "" || strings.Contains(name, ":") {
			return invalidInput("Action %s is not a valid action name: expected service:Action.", a)
		}
	}
	return nil
}

// SimulateCustomPolicy decides each action on each resource against the
// given documents, as IAM's SimulateCustomPolicy does.
func (s *Service) SimulateCustomPolicy(ctx context.Context, in *SimulateInput) (*SimulateOutput, error) {
	s = s.forCaller(ctx)
	if err := s.validateSim(in, true); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "iam:SimulateCustomPolicy", "*", nil); err != nil {
		return nil, err
	}
	var set simSet
	if err := s.addInputPolicies(&set, in.PolicyInputList); err != nil {
		return nil, err
	}
	caller := policy.Principal{Type: policy.PrincipalUser, AccountID: s.account}
	if in.CallerArn != "" {
		var err error
		if caller, err = s.parseCaller(ctx, in.CallerArn); err != nil {
			return nil, err
		}
	}
	return s.simulate(in, &set, caller)
}

// SimulatePrincipalPolicy decides each action on each resource against a
// user's or role's stored policies (plus any given ones).
func (s *Service) SimulatePrincipalPolicy(ctx context.Context, in *SimulateInput) (*SimulateOutput, error) {
	s = s.forCaller(ctx)
	if err := s.validateSim(in, false); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, "iam:SimulatePrincipalPolicy", in.PolicySourceARN, nil); err != nil {
		return nil, err
	}
	set, caller, err := s.principalSet(ctx, in.PolicySourceARN)
	if err != nil {
		return nil, err
	}
	if err := s.addInputPolicies(set, in.PolicyInputList); err != nil {
		return nil, err
	}
	if in.CallerArn != "" {
		if caller, err = s.parseCaller(ctx, in.CallerArn); err != nil {
			return nil, err
		}
	}
	return s.simulate(in, set, caller)
}

// denyAll stands in for a stored document that does not compile.
const denyAll = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`

// principalSet reads a user's or role's identity policies and boundary.
func (s *Service) principalSet(ctx context.Context, source string) (*simSet, policy.Principal, error) {
	a, ok := parseIAMARN(source)
	if !ok || (a.kind != "user" && a.kind != "role") {
		return nil, policy.Principal{}, invalidInput("Invalid ARN: %s is not the ARN of a user or role.", source)
	}
	if !s.local(a) {
		return nil, policy.Principal{}, noSuchEntity("The entity %s does not exist in this account.", source)
	}
	kind, typ := store.KindUser, "user"
	caller := policy.Principal{Type: policy.PrincipalUser, ARN: source, AccountID: s.account, UserName: a.name}
	if a.kind == "role" {
		kind, typ = store.KindRole, "role"
		caller = policy.Principal{Type: policy.PrincipalRole, ARN: source, AccountID: s.account, RoleARN: source}
	}
	type doc struct{ id, typ, text string }
	var docs []doc
	var boundary *doc
	err := s.view(ctx, func(tx store.Tx) error {
		var bound, arn string
		if kind == store.KindUser {
			u, err := tx.GetUser(s.account, a.name)
			if err != nil {
				return notFoundAs(err, noSuchUser(a.name))
			}
			bound, arn = u.PermissionsBoundary, u.ARN
		} else {
			r, err := tx.GetRole(s.account, a.name)
			if err != nil {
				return notFoundAs(err, noSuchRole(a.name))
			}
			bound, arn = r.PermissionsBoundary, r.ARN
		}
		if arn != source {
			return noSuchEntity("The entity %s does not exist in this account.", source)
		}
		attached, err := tx.ListAttachedPolicies(kind, s.account, a.name, store.Page{})
		if err != nil {
			return err
		}
		for _, pa := range attached {
			name, text, err := managedDocument(tx, pa)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			docs = append(docs, doc{name, "user-managed", text})
		}
		inline, err := tx.ListInlinePolicies(kind, s.account, a.name, store.Page{})
		if err != nil {
			return err
		}
		for _, ip := range inline {
			docs = append(docs, doc{ip.PolicyName, typ, ip.Document})
		}
		if bound != "" {
			name, text, err := managedDocument(tx, bound)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// A deleted boundary allows nothing, as the authorizer decides.
				boundary = &doc{bound, "user-managed", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"podid:NoAction","Resource":"arn:aws:podid:::none"}]}`}
			case err != nil:
				return err
			default:
				boundary = &doc{name, "user-managed", text}
			}
		}
		return nil
	})
	if err != nil {
		return nil, policy.Principal{}, err
	}
	// A stored document that no longer compiles makes every real request
	// of the principal fail; the simulation shows it as a Deny of
	// everything, attributed to that document.
	compileStored := func(d doc) (simPolicy, error) {
		sp, err := s.compileSim(d.text, d.id, d.typ)
		if err != nil {
			sp, err = s.compileSim(denyAll, d.id, d.typ)
		}
		return sp, err
	}
	set := &simSet{}
	for _, d := range docs {
		sp, err := compileStored(d)
		if err != nil {
			return nil, policy.Principal{}, serviceFailure(fmt.Errorf("iam: stored policy %s of %s: %w", d.id, source, err))
		}
		set.identity = append(set.identity, sp)
	}
	if boundary != nil {
		sp, err := compileStored(*boundary)
		if err != nil {
			return nil, policy.Principal{}, serviceFailure(fmt.Errorf("iam: stored boundary of %s: %w", source, err))
		}
		set.boundary = &sp
	}
	return set, caller, nil
}

func notFoundAs(err error, nf error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nf
	}
	return err
}

// managedDocument returns a managed policy's name and default document.
func managedDocument(tx store.Tx, arn string) (name, text string, err error) {
	mp, doc, err := auth.DefaultPolicyDocument(tx, arn)
	if err != nil {
		return "", "", err
	}
	return mp.Name, doc, nil
}

// parseCaller turns a CallerArn into the engine's principal. Besides the
// ARNs of users, roles, sessions, federated users and the root user,
// podid accepts a service principal name (pods.eks.amazonaws.com), a web
// identity provider (an oidc-provider or saml-provider ARN, or a name such
// as accounts.google.com) and "anonymous".
func (s *Service) parseCaller(ctx context.Context, c string) (policy.Principal, error) {
	bad := invalidInput("CallerArn %s is not a valid caller: use the ARN of a user, role, role session, federated user or root user.", c)
	if c == "anonymous" {
		return policy.Principal{Type: policy.PrincipalAnonymous, ARN: c}, nil
	}
	if !strings.HasPrefix(c, "arn:") {
		if !strings.Contains(c, ".") || strings.ContainsAny(c, " /:") {
			return policy.Principal{}, bad
		}
		if strings.HasSuffix(c, ".amazonaws.com") || strings.HasSuffix(c, ".amazonaws.com.cn") {
			return policy.Principal{Type: policy.PrincipalService, ARN: c}, nil
		}
		return policy.Principal{Type: policy.PrincipalWebIdentity, ARN: c}, nil
	}
	a, err := arn.Parse(c)
	if err != nil || a.Region != "" || !arn.IsValidAccountID(a.AccountID) {
		return policy.Principal{}, bad
	}
	part, svc, acct, res := a.Partition, a.Service, a.AccountID, a.Resource
	typ, rest, _ := strings.Cut(res, "/")
	switch {
	case svc == "iam" && res == "root":
		return policy.Principal{Type: policy.PrincipalRoot, ARN: c, AccountID: acct, UserID: acct}, nil
	case svc == "iam" && typ == "user" && rest != "":
		return policy.Principal{Type: policy.PrincipalUser, ARN: c, AccountID: acct, UserName: rest[strings.LastIndexByte(rest, '/')+1:]}, nil
	case svc == "iam" && typ == "role" && rest != "":
		return policy.Principal{Type: policy.PrincipalRole, ARN: c, AccountID: acct, RoleARN: c}, nil
	case svc == "iam" && (typ == "oidc-provider" || typ == "saml-provider") && rest != "":
		return policy.Principal{Type: policy.PrincipalWebIdentity, ARN: c}, nil
	case svc == "sts" && typ == "assumed-role":
		role, session, ok := strings.Cut(rest, "/")
		if !ok || role == "" || session == "" || strings.Contains(session, "/") {
			return policy.Principal{}, bad
		}
		roleARN := arn.Role(part, acct, "/", role).String()
		if acct == s.account && part == s.partition {
			// The role's path comes from the store when the role is ours.
			_ = s.view(ctx, func(tx store.Tx) error {
				if r, err := tx.GetRole(s.account, role); err == nil {
					roleARN = r.ARN
				}
				return nil
			})
		}
		return policy.Principal{Type: policy.PrincipalAssumedRole, ARN: c, AccountID: acct, RoleARN: roleARN}, nil
	case svc == "sts" && typ == "federated-user" && rest != "" && !strings.Contains(rest, "/"):
		return policy.Principal{Type: policy.PrincipalFederatedUser, ARN: c, AccountID: acct}, nil
	}
	return policy.Principal{}, bad
}

// ownerAccount is the ResourceOwner's account: a 12-digit ID or the
// account of an ARN (arn:aws:iam::ACCOUNT:root).
func ownerAccount(owner string) (string, error) {
	if arn.IsValidAccountID(owner) {
		return owner, nil
	}
	if a, err := arn.Parse(owner); err == nil && arn.IsValidAccountID(a.AccountID) {
		return a.AccountID, nil
	}
	return "", invalidInput("ResourceOwner %s is not a valid account ARN.", owner)
}

// isRoleARN reports whether r is an IAM role ARN.
func isRoleARN(r string) bool {
	a, err := arn.Parse(r)
	return err == nil && a.Service == "iam" && strings.HasPrefix(a.Resource, "role/")
}

func (s *Service) simulate(in *SimulateInput, set *simSet, caller policy.Principal) (*SimulateOutput, error) {
	for i, doc := range in.PermissionsBoundaryPolicyInputList {
		sp, err := s.compileSim(doc, "PermissionsBoundaryPolicyInputList."+strconv.Itoa(i+1), "none")
		if err != nil {
			return nil, err
		}
		set.boundary = &sp
	}
	if in.ResourcePolicy != "" {
		sp, err := s.compileSim(in.ResourcePolicy, "ResourcePolicy", "resource")
		if err != nil {
			return nil, err
		}
		set.resource = &sp
	}
	owner := ""
	if in.ResourceOwner != "" {
		var err error
		if owner, err = ownerAccount(in.ResourceOwner); err != nil {
			return nil, err
		}
	}
	pc := policy.NewContext()
	for _, e := range in.ContextEntries {
		pc.Add(e.Name, e.Values...)
	}
	resources := in.ResourceArns
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	// Pages are cut before deciding: only the requested page is evaluated.
	type pair struct{ action, resource string }
	all := make([]pair, 0, len(in.ActionNames)*len(resources))
	for _, a := range in.ActionNames {
		for _, r := range resources {
			all = append(all, pair{a, r})
		}
	}
	page, next, err := slicePage(all, in.Marker, pageSize(in.MaxItems))
	if err != nil {
		return nil, err
	}
	out := &SimulateOutput{IsTruncated: next != "", Marker: next}
	for _, p := range page {
		out.EvaluationResults = append(out.EvaluationResults, s.decide(set, caller, pc, owner, p.action, p.resource))
	}
	return out, nil
}

// decide evaluates one action on one resource.
func (s *Service) decide(set *simSet, caller policy.Principal, pc *policy.Context, owner, action, resource string) EvaluationResult {
	ps := &policy.Set{}
	for _, sp := range set.identity {
		ps.Identity = append(ps.Identity, sp.c)
	}
	if set.boundary != nil {
		ps.Boundary = set.boundary.c
	}
	if set.resource != nil {
		ps.Resource = set.resource.c
		ps.ResourceIsTrust = strings.HasPrefix(strings.ToLower(action), "sts:") && isRoleARN(resource)
	}
	acct := owner
	if acct == "" && caller.AccountID != "" {
		if a, err := arn.Parse(resource); err == nil && a.AccountID != "" {
			acct = a.AccountID
		}
	}
	req := &policy.Request{Principal: caller, Action: action, Resource: resource, ResourceAccount: acct, Context: pc}
	e := policy.Explain(ps, req)
	r := EvaluationResult{ActionName: action, Explanation: e}
	r.ResourceName = resource
	switch e.Result {
	case policy.Allow:
		r.Decision = "allowed"
	case policy.ExplicitDeny:
		r.Decision = "explicitDeny"
	default:
		r.Decision = "implicitDeny"
	}
	who := caller.ARN
	if who == "" {
		who = "the simulated caller"
	}
	r.Message = e.DenialMessage(who, action, resource)
	source := func(t *policy.StatementTrace) *simPolicy {
		switch t.Layer {
		case policy.PolicyTypeIdentity:
			return &set.identity[t.Policy]
		case policy.PolicyTypeBoundary:
			return set.boundary
		case policy.PolicyTypeResource, policy.PolicyTypeTrust:
			return set.resource
		}
		return nil
	}
	boundaryAllow, boundaryDeny := false, false
	missing := map[string]bool{}
	for i := range e.Statements {
		t := &e.Statements[i]
		sp := source(t)
		if sp == nil {
			continue
		}
		if t.Matched || t.Mismatch == "Condition" {
			for _, c := range sp.c.Policy().Statements[t.Statement].Conditions {
				if _, ok := pc.Get(c.Key); !ok && !missing[strings.ToLower(c.Key)] {
					missing[strings.ToLower(c.Key)] = true
					r.MissingContextValues = append(r.MissingContextValues, c.Key)
				}
			}
		}
		if !t.Matched {
			continue
		}
		if t.Layer == policy.PolicyTypeBoundary {
			if t.Effect == policy.EffectDeny {
				boundaryDeny = true
			} else {
				boundaryAllow = true
			}
		}
		want := policy.EffectAllow
		if e.Result == policy.ExplicitDeny {
			want = policy.EffectDeny
		}
		if t.Layer == policy.PolicyTypeBoundary && t.Effect == policy.EffectAllow {
			continue // reported by PermissionsBoundaryDecisionDetail
		}
		if e.Result != policy.ImplicitDeny && t.Effect == want {
			r.MatchedStatements = append(r.MatchedStatements, StatementRef{SourcePolicyID: sp.id, SourcePolicyType: sp.typ, Start: t.Start, End: t.End})
		}
	}
	if set.boundary != nil {
		ok := boundaryAllow && !boundaryDeny
		r.AllowedByBoundary = &ok
	}
	return r
}

// GetContextKeysForCustomPolicy lists the condition keys the documents
// use (in conditions and in policy variables).
func (s *Service) GetContextKeysForCustomPolicy(ctx context.Context, in *ContextKeysInput) (*ContextKeysOutput, error) {
	s = s.forCaller(ctx)
	if in.PolicyInputList == nil {
		var v violations
		v.null("policyInputList")
		return nil, v.err()
	}
	if err := s.authorize(ctx, "iam:GetContextKeysForCustomPolicy", "*", nil); err != nil {
		return nil, err
	}
	var set simSet
	if err := s.addInputPolicies(&set, in.PolicyInputList); err != nil {
		return nil, err
	}
	return &ContextKeysOutput{ContextKeyNames: contextKeys(&set)}, nil
}

// GetContextKeysForPrincipalPolicy lists the condition keys of a user's or
// role's policies and of the documents given.
func (s *Service) GetContextKeysForPrincipalPolicy(ctx context.Context, in *ContextKeysInput) (*ContextKeysOutput, error) {
	s = s.forCaller(ctx)
	if in.PolicySourceARN == "" {
		var v violations
		v.null("policySourceArn")
		return nil, v.err()
	}
	if err := s.authorize(ctx, "iam:GetContextKeysForPrincipalPolicy", in.PolicySourceARN, nil); err != nil {
		return nil, err
	}
	set, _, err := s.principalSet(ctx, in.PolicySourceARN)
	if err != nil {
		return nil, err
	}
	if err := s.addInputPolicies(set, in.PolicyInputList); err != nil {
		return nil, err
	}
	return &ContextKeysOutput{ContextKeyNames: contextKeys(set)}, nil
}

// contextKeys collects condition keys and policy-variable keys, each once
// (case-insensitively), in document order.
func contextKeys(set *simSet) []string {
	var out []string
	seen := map[string]bool{}
	add := func(k string) {
		if lk := strings.ToLower(k); !seen[lk] {
			seen[lk] = true
			out = append(out, k)
		}
	}
	docs := make([]*policy.Compiled, 0, len(set.identity)+2)
	for _, sp := range set.identity {
		docs = append(docs, sp.c)
	}
	if set.boundary != nil {
		docs = append(docs, set.boundary.c)
	}
	for _, c := range docs {
		p := c.Policy()
		for _, st := range p.Statements {
			for _, cond := range st.Conditions {
				add(cond.Key)
			}
			if !p.VariablesEnabled() {
				continue
			}
			for _, r := range st.Resource {
				variableKeys(r, add)
			}
			for _, cond := range st.Conditions {
				for _, v := range cond.Values {
					variableKeys(v, add)
				}
			}
		}
	}
	return out
}

// variableKeys calls add with the key of each ${key} or ${key, 'default'}
// in s (not ${*}, ${?}, ${$}).
func variableKeys(s string, add func(string)) {
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return
		}
		s = s[i+2:]
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return
		}
		name, _, _ := strings.Cut(s[:j], ",")
		name = strings.TrimSpace(name)
		if strings.Contains(name, ":") && !strings.ContainsAny(name, " ${") {
			add(name)
		}
		s = s[j+1:]
	}
}

// addInputPolicies compiles the PolicyInputList documents and adds them to
// set's identity policies.
func (s *Service) addInputPolicies(set *simSet, docs []string) error {
	for i, doc := range docs {
		sp, err := s.compileSim(doc, "PolicyInputList."+strconv.Itoa(i+1), "none")
		if err != nil {
			return err
		}
		set.identity = append(set.identity, sp)
	}
	return nil
}
