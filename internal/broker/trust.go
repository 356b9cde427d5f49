package broker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/policy"
)

// ServicePrincipal is the principal the local issuer assumes roles as.
const ServicePrincipal = eksauth.ServicePrincipal

// Principal is who a role's trust policy must admit: an AWS principal ARN
// (the broker's user or role, or a target role's first role) or a service
// principal (local mode).
type Principal struct {
	AWS     string `json:"aws,omitempty"`
	Service string `json:"service,omitempty"`
}

// String names the principal for messages.
func (p Principal) String() string {
	if p.Service != "" {
		return p.Service
	}
	return p.AWS
}

// Use is one association's use of a role: as its role (first hop) or as
// its target role (second hop, assumed from FirstRoleARN with ExternalID).
type Use struct {
	AssociationID  string
	ClusterARN     string
	Namespace      string
	ServiceAccount string
	// SessionTags is false when the association disables session tags.
	SessionTags  bool
	Target       bool
	FirstRoleARN string
	ExternalID   string
}

// Mode says which issuer a trust policy is for.
type Mode string

// Modes.
const (
	ModeLocal  Mode = IssuerLocal
	ModeBroker Mode = IssuerAWSSTS
)

// assumeReq is one AssumeRole as a trust policy sees it.
type assumeReq struct {
	caller         policy.Principal
	roleARN        string
	tags           []eksauth.Tag
	transitive     []string
	sourceIdentity string
	externalID     string
	sessionName    string
	sourceARN      string
	sourceAccount  string
	// principalTags are the caller session's tags (chained hop).
	principalTags []eksauth.Tag
}

// actions are the STS actions the request needs the trust policy to allow.
func (r *assumeReq) actions() []string {
	a := []string{"sts:AssumeRole"}
	if len(r.tags) > 0 {
		a = append(a, "sts:TagSession")
	}
	if r.sourceIdentity != "" {
		a = append(a, "sts:SetSourceIdentity")
	}
	return a
}

// Placeholders for the pod-specific parts of a simulated request.
const (
	probePodName = "podid-doctor-probe"
	probePodUID  = "00000000-0000-4000-8000-000000000000"
	probeSession = "eks-podid-doct-podid-doct-00000000-0000-4000-8000-000000000000"
)

// policyPrincipal turns an ARN into the caller the policy engine sees: a
// role ARN becomes a session of that role.
func policyPrincipal(p Principal) policy.Principal {
	if p.Service != "" {
		return policy.Principal{Type: policy.PrincipalService, ARN: p.Service}
	}
	a, err := arn.Parse(p.AWS)
	if err != nil {
		return policy.Principal{Type: policy.PrincipalUser, ARN: p.AWS}
	}
	acct := a.AccountID
	typ, _, name, _ := a.IAMResource()
	switch {
	case a.Resource == "root":
		return policy.Principal{Type: policy.PrincipalRoot, ARN: p.AWS, AccountID: acct, UserID: acct}
	case typ == "role":
		return policy.Principal{
			Type:      policy.PrincipalAssumedRole,
			ARN:       arn.AssumedRole(a.Partition, acct, name, probeSession).String(),
			AccountID: acct, RoleARN: p.AWS,
		}
	case typ == "assumed-role":
		pr := policy.Principal{Type: policy.PrincipalAssumedRole, ARN: p.AWS, AccountID: acct}
		if role, ok := a.AssumedRoleRole(); ok {
			pr.RoleARN = role.String()
		}
		return pr
	}
	return policy.Principal{Type: policy.PrincipalUser, ARN: p.AWS, AccountID: acct, UserName: name}
}

// sessionTagsFor are the six tags of a pod of u.
func sessionTagsFor(clusterARN, namespace, sa string) []eksauth.Tag {
	return []eksauth.Tag{
		{Key: tagClusterARN, Value: clusterARN},
		{Key: tagClusterName, Value: ClusterNameFromARN(clusterARN)},
		{Key: tagNamespace, Value: namespace},
		{Key: tagServiceAccount, Value: sa},
		{Key: tagPodName, Value: probePodName},
		{Key: tagPodUID, Value: probePodUID},
	}
}

var transitiveKeys = []string{tagClusterARN, tagClusterName, tagNamespace, tagServiceAccount, tagPodName, tagPodUID}

// requestFor simulates the AssumeRole of a pod of u on roleARN, made by p
// (the broker or the service) or, for a target role, by u's first role.
func requestFor(mode Mode, p Principal, roleARN string, u Use) *assumeReq {
	r := &assumeReq{roleARN: roleARN, sessionName: probeSession}
	var tags []eksauth.Tag
	if u.SessionTags {
		tags = sessionTagsFor(u.ClusterARN, u.Namespace, u.ServiceAccount)
	}
	si := ""
	if mode == ModeBroker {
		si = SourceIdentity(Subject{Cluster: ClusterNameFromARN(u.ClusterARN), Namespace: u.Namespace, ServiceAccount: u.ServiceAccount})
		if !u.SessionTags {
			si = "" // the broker knows the workload only from the tags
		}
	}
	if !u.Target {
		r.caller = policyPrincipal(p)
		r.tags, r.transitive, r.sourceIdentity = tags, nil, si
		if len(tags) > 0 {
			r.transitive = transitiveKeys
		}
		if mode == ModeLocal {
			r.sourceARN = u.ClusterARN
			if c, err := arn.Parse(u.ClusterARN); err == nil {
				r.sourceAccount = c.AccountID
			}
		}
		return r
	}
	r.caller = policyPrincipal(Principal{AWS: u.FirstRoleARN})
	// Inherited transitive tags are request tags of the chained call too.
	r.tags, r.principalTags = tags, tags
	if len(tags) > 0 {
		r.transitive = transitiveKeys
	}
	r.sourceIdentity = si
	r.externalID = u.ExternalID
	return r
}

// context builds the condition keys of r.
func (r *assumeReq) context(now time.Time) *policy.Context {
	pc := policy.NewContext()
	pc.SetPrincipalKeys(&r.caller)
	pc.Set("aws:CurrentTime", now.UTC().Format(time.RFC3339))
	pc.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	pc.Set("aws:SecureTransport", "true")
	if r.caller.Type == policy.PrincipalService {
		pc.Set("aws:PrincipalServiceName", r.caller.ARN)
		pc.Set("aws:PrincipalIsAWSService", "true")
	} else {
		pc.Set("aws:PrincipalIsAWSService", "false")
	}
	pc.Set("sts:RoleSessionName", r.sessionName)
	var keys []string
	for _, t := range r.tags {
		pc.Set("aws:RequestTag/"+t.Key, t.Value)
		keys = append(keys, t.Key)
	}
	if len(keys) > 0 {
		pc.Set("aws:TagKeys", keys...)
	}
	if len(r.transitive) > 0 {
		pc.Set("sts:TransitiveTagKeys", r.transitive...)
	}
	for _, t := range r.principalTags {
		pc.Set("aws:PrincipalTag/"+t.Key, t.Value)
	}
	if r.sourceIdentity != "" {
		pc.Set("sts:SourceIdentity", r.sourceIdentity)
		if len(r.principalTags) > 0 || r.externalID != "" {
			pc.Set("aws:SourceIdentity", r.sourceIdentity)
		}
	}
	if r.externalID != "" {
		pc.Set("sts:ExternalId", r.externalID)
	}
	if r.sourceARN != "" {
		pc.Set("aws:SourceArn", r.sourceARN)
	}
	if r.sourceAccount != "" {
		pc.Set("aws:SourceAccount", r.sourceAccount)
	}
	return pc
}

// allowAll stands for the caller's identity policies, which a trust check
// cannot see: a trust policy naming only the account delegates to them.
var allowAll = sync.OnceValue(func() *policy.Compiled {
	c, err := policy.Compile(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	if err != nil {
		return nil
	}
	return c
})

// refusal is why a trust policy refuses a request.
type refusal struct {
	action string
	reason string
}

// evaluate decides r against the compiled trust policy. It returns nil
// when every action r needs is allowed.
func evaluate(trust *policy.Compiled, r *assumeReq, now time.Time) *refusal {
	set := &policy.Set{Resource: trust, ResourceIsTrust: true}
	if r.caller.Type != policy.PrincipalService {
		set.Identity = []*policy.Compiled{allowAll()}
	}
	roleAcct := ""
	if r.caller.Type != policy.PrincipalService {
		// Services are not of an account: only the trust policy decides.
		_, roleAcct, _, _ = roleParts(r.roleARN)
	}
	pc := r.context(now)
	for _, action := range r.actions() {
		req := &policy.Request{Principal: r.caller, Action: action, Resource: r.roleARN, ResourceAccount: roleAcct, Context: pc}
		if policy.Evaluate(set, req).Allowed() {
			continue
		}
		return &refusal{action: action, reason: explainRefusal(set, req, callerName(r.caller))}
	}
	return nil
}

// callerName is how messages name the caller: the role for a session.
func callerName(p policy.Principal) string {
	if p.Type == policy.PrincipalAssumedRole && p.RoleARN != "" {
		return p.RoleARN
	}
	return p.ARN
}

// explainRefusal says in one clause why set refuses req.
func explainRefusal(set *policy.Set, req *policy.Request, who string) string {
	ex := policy.Explain(set, req)
	var cond, action *policy.StatementTrace
	for i := range ex.Statements {
		st := &ex.Statements[i]
		if st.Layer != policy.PolicyTypeTrust {
			continue
		}
		if st.Effect == policy.EffectDeny && st.Matched {
			return fmt.Sprintf("a Deny statement%s of its trust policy refuses %s to %s", sidText(st.Sid), who, req.Action)
		}
		if st.Effect != policy.EffectAllow {
			continue
		}
		switch st.Mismatch {
		case "Condition":
			if cond == nil {
				cond = st
			}
		case "Action", "Resource":
			if action == nil {
				action = st
			}
		}
	}
	switch {
	case cond != nil:
		have := "does not carry it"
		if cond.RequestValues != nil {
			have = "carries " + quoteList(cond.RequestValues)
		}
		return fmt.Sprintf("its trust policy allows %s to perform %s only under the condition %s on %s, and this request %s",
			who, req.Action, cond.ConditionOperator, cond.ConditionKey, have)
	case action != nil:
		return fmt.Sprintf("its trust policy does not allow %s to perform %s", who, req.Action)
	}
	return fmt.Sprintf("its trust policy does not name %s as a principal", who)
}

func sidText(sid string) string {
	if sid == "" {
		return ""
	}
	return " (" + strconv.Quote(sid) + ")"
}

func quoteList(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// Severity of a Finding.
const (
	// SeverityRefuses: AWS would refuse the broker (or service) for this
	// association.
	SeverityRefuses = "refuses"
	// SeverityTooOpen: the role admits more than this association.
	SeverityTooOpen = "too-open"
)

// Finding is one problem of a role's trust policy.
type Finding struct {
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// CheckTrust checks a role's trust policy (JSON) for use u in mode, with p
// the broker's principal (ModeBroker) or the service (ModeLocal). It
// reports whether the role would refuse the association and, if not,
// whether it is too open: whether it also admits other principals or,
// through missing conditions on the session tags (or the external ID of a
// target role), other clusters, namespaces or service accounts.
func CheckTrust(trust, roleARN string, mode Mode, p Principal, u Use, now time.Time) []Finding {
	c, err := policy.Compile(trust)
	if err != nil {
		return []Finding{{SeverityRefuses, "its trust policy cannot be parsed: " + err.Error()}}
	}
	req := requestFor(mode, p, roleARN, u)
	if ref := evaluate(c, req, now); ref != nil {
		return []Finding{{SeverityRefuses, ref.reason + actionHint(ref.action, u)}}
	}
	var out []Finding
	// Other principals.
	if u.Target || p.Service == "" {
		acct := ""
		if c, err := arn.Parse(req.caller.ARN); err == nil {
			acct = c.AccountID
		}
		foreign := *req
		foreign.caller = policyPrincipal(Principal{AWS: arn.User("aws", otherAccount(acct), "/", "podid-doctor-probe").String()})
		same := *req
		same.caller = policyPrincipal(Principal{AWS: arn.User("aws", acct, "/", "podid-doctor-probe").String()})
		switch {
		case evaluate(c, &foreign, now) == nil:
			out = append(out, Finding{SeverityTooOpen, "it admits principals of any account, not only " + callerName(req.caller)})
		case evaluate(c, &same, now) == nil:
			out = append(out, Finding{SeverityTooOpen, "it admits other principals of account " + acct + " (its Principal names the account or a wildcard), not only " + callerName(req.caller)})
		}
	} else {
		other := *req
		other.caller = policy.Principal{Type: policy.PrincipalService, ARN: "ec2.amazonaws.com"}
		if evaluate(c, &other, now) == nil {
			out = append(out, Finding{SeverityTooOpen, "it admits other services than " + p.Service})
		}
	}
	// Other workloads.
	if u.Target && u.ExternalID != "" {
		wrong := *req
		wrong.externalID = "podid-doctor-probe"
		if evaluate(c, &wrong, now) != nil {
			return out // the external ID pins the association
		}
	}
	if !u.SessionTags && mode == ModeBroker {
		return append(out, Finding{SeverityTooOpen, "session tags are disabled, so its trust policy cannot tell this association from any other the broker serves" + targetHint(u)})
	}
	var open []string
	probe := func(name string, v Use) {
		r := requestFor(mode, p, roleARN, v)
		r.caller = req.caller
		if evaluate(c, r, now) == nil {
			open = append(open, name)
		}
	}
	otherCluster := u
	otherCluster.ClusterARN = otherClusterARN(u.ClusterARN)
	probe("cluster", otherCluster)
	if u.SessionTags {
		// Without tags nothing in the request names the namespace or the
		// service account: the cluster is all a trust policy can pin.
		otherNS := u
		otherNS.Namespace = "podid-doctor-probe"
		probe("namespace", otherNS)
		otherSA := u
		otherSA.ServiceAccount = "podid-doctor-probe"
		probe("service account", otherSA)
	}
	if len(open) > 0 {
		keys := map[string]string{"cluster": "aws:RequestTag/eks-cluster-arn", "namespace": "aws:RequestTag/kubernetes-namespace", "service account": "aws:RequestTag/kubernetes-service-account"}
		var ks []string
		for _, o := range open {
			ks = append(ks, keys[o])
		}
		if !u.SessionTags {
			ks = []string{"aws:SourceArn"}
		}
		out = append(out, Finding{SeverityTooOpen, fmt.Sprintf("pods of any %s can assume it: it has no condition on %s%s", strings.Join(open, ", any "), strings.Join(ks, ", "), targetHint(u))})
	}
	return out
}

func targetHint(u Use) string {
	if u.Target {
		return " (or on sts:ExternalId)"
	}
	return ""
}

// actionHint adds what to change for a refused action.
func actionHint(action string, u Use) string {
	switch action {
	case "sts:TagSession":
		return " (session tags need sts:TagSession; allow it, or set disableSessionTags on the association)"
	case "sts:SetSourceIdentity":
		return " (the broker sets a source identity on every session; allow sts:SetSourceIdentity)"
	}
	return ""
}

func otherAccount(a string) string {
	if a == "999999999999" {
		return "888888888888"
	}
	return "999999999999"
}

func otherClusterARN(a string) string {
	i := strings.LastIndex(a, "cluster/")
	if i < 0 {
		return a + "-podid-doctor-probe"
	}
	return a[:i] + "cluster/podid-doctor-probe"
}

// trustDoc is a trust policy in IAM's usual key order.
type trustDoc struct {
	Version   string      `json:"Version"`
	Statement []trustStmt `json:"Statement"`
}

type trustStmt struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal"`
	Action    []string                     `json:"Action"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// TrustPolicy renders the trust policy a role needs for uses: one
// statement per use, admitting p (or, for a target role, the first role)
// to the actions the sessions need, on condition of the association's
// cluster ARN, namespace and service account (aws:RequestTag/…) and, for
// a target role, its external ID. Without session tags, a local-mode
// statement is conditioned on aws:SourceArn (the cluster) instead and a
// broker-mode one has no workload condition (CheckTrust reports it).
func TrustPolicy(mode Mode, p Principal, roleARN string, uses []Use) ([]byte, error) {
	if len(uses) == 0 {
		return nil, fmt.Errorf("no association uses %s", roleARN)
	}
	doc := trustDoc{Version: "2012-10-17"}
	for i, u := range uses {
		req := requestFor(mode, p, roleARN, u)
		st := trustStmt{Effect: "Allow", Action: req.actions()}
		switch {
		case u.Target:
			st.Principal = map[string]string{"AWS": u.FirstRoleARN}
		case p.Service != "":
			st.Principal = map[string]string{"Service": p.Service}
		case p.AWS != "":
			st.Principal = map[string]string{"AWS": p.AWS}
		default:
			return nil, fmt.Errorf("no principal to trust")
		}
		cond := map[string]string{}
		if u.SessionTags {
			cond["aws:RequestTag/"+tagClusterARN] = u.ClusterARN
			cond["aws:RequestTag/"+tagNamespace] = u.Namespace
			cond["aws:RequestTag/"+tagServiceAccount] = u.ServiceAccount
		} else if mode == ModeLocal && !u.Target {
			cond["aws:SourceArn"] = u.ClusterARN
		}
		if u.Target && u.ExternalID != "" {
			cond["sts:ExternalId"] = u.ExternalID
		}
		if len(cond) > 0 {
			st.Condition = map[string]map[string]string{"StringEquals": cond}
		}
		st.Sid = sid(mode, u, i, len(uses))
		doc.Statement = append(doc.Statement, st)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sid names a statement: PodidBroker, PodidBrokerTarget, or with a number
// when there are several.
func sid(mode Mode, u Use, i, n int) string {
	s := "EksPodIdentity"
	if mode == ModeBroker {
		s = "PodidBroker"
	}
	if u.Target {
		s += "TargetRole"
	}
	if n > 1 {
		s += strconv.Itoa(i + 1)
	}
	return s
}

// UsesOf collects the uses of roleARN among associations: as role and as
// target role, in a stable order.
func UsesOf(roleARN string, assocs []AssociationInfo) []Use {
	var out []Use
	for _, a := range assocs {
		base := Use{AssociationID: a.AssociationID, ClusterARN: a.ClusterARN, Namespace: a.Namespace, ServiceAccount: a.ServiceAccount, SessionTags: !a.DisableSessionTags}
		if a.RoleARN == roleARN {
			out = append(out, base)
		}
		if a.TargetRoleARN == roleARN {
			t := base
			t.Target, t.FirstRoleARN, t.ExternalID = true, a.RoleARN, a.ExternalID
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(x, y Use) int {
		return strings.Compare(x.ClusterARN+"\x00"+x.Namespace+"\x00"+x.ServiceAccount, y.ClusterARN+"\x00"+y.Namespace+"\x00"+y.ServiceAccount)
	})
	return out
}

// AssociationInfo is what trust checks need of an association.
type AssociationInfo struct {
	AssociationID      string
	ClusterName        string
	ClusterARN         string
	Namespace          string
	ServiceAccount     string
	RoleARN            string
	TargetRoleARN      string
	ExternalID         string
	DisableSessionTags bool
}
