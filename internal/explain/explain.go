package explain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/policy"
	"github.com/podid/podid/internal/store"
	"github.com/podid/podid/internal/webhook"
)

// Policies gathers a principal's policies and fills a request's global
// condition keys; *auth.Authorizer implements it, so explanations decide
// exactly as requests are decided.
type Policies interface {
	PolicySet(ctx context.Context, p *auth.Principal) (*auth.PrincipalSet, error)
	FillContext(ctx context.Context, pc *policy.Context, p *auth.Principal, set *auth.PrincipalSet)
}

// Config configures an Explainer.
type Config struct {
	Store     store.Store
	Policies  Policies
	AccountID string
	Region    string
	Partition string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Pods reads live pods for --pod (optional; nil: pods are not read).
	Pods Pods
}

// Explainer builds explanations.
type Explainer struct {
	cfg Config
}

// New returns an Explainer.
func New(cfg Config) (*Explainer, error) {
	if cfg.Store == nil || cfg.Policies == nil || cfg.AccountID == "" || cfg.Region == "" {
		return nil, errors.New("explain: Store, Policies, AccountID and Region are required")
	}
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Explainer{cfg: cfg}, nil
}

// Check is an action on a resource to decide for the pod's session.
type Check struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
}

// Request asks for the explanation of one pod identity.
type Request struct {
	Cluster        string  `json:"cluster"`
	Namespace      string  `json:"namespace"`
	ServiceAccount string  `json:"serviceAccount"`
	Pod            string  `json:"pod,omitempty"`
	Checks         []Check `json:"checks,omitempty"`
}

// Step statuses.
const (
	StatusOK      = "ok"
	StatusRefused = "refused"
	StatusInfo    = "info"
	StatusSkipped = "skipped"
)

// Step is one link of the chain, in the order a pod's credentials travel.
type Step struct {
	// Name is webhook, cluster, association, role, trust, target-role or
	// session.
	Name    string `json:"name"`
	Status  string `json:"status"`
	Summary string `json:"summary"`
	// Cause, Problem and Fix are set when the step refuses.
	Cause   Cause  `json:"cause,omitempty"`
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
	// Trace is the policy engine's per-statement explanation, when a
	// policy decided the step.
	Trace []string `json:"trace,omitempty"`
}

// Tag is a session tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Decision is the pod session's decision for one Check.
type Decision struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
	// Decision is allowed, explicitDeny or implicitDeny (the simulator's
	// words).
	Decision string `json:"decision"`
	// DecidedBy is the layer that decided (identity-based policy,
	// permissions boundary, session policy, …).
	DecidedBy string `json:"decidedBy,omitempty"`
	// Message is AWS's AccessDenied sentence for a denial.
	Message string `json:"message,omitempty"`
	// Statements are the matched statements that decided.
	Statements []string `json:"statements,omitempty"`
	Trace      []string `json:"trace"`
	Cause      Cause    `json:"cause,omitempty"`
	Fix        string   `json:"fix,omitempty"`
}

// Explanation is the chain for one pod identity.
type Explanation struct {
	Subject
	// OK reports that EKS Auth would issue credentials (as far as the
	// configuration shows: tokens are checked when a pod asks).
	OK bool `json:"ok"`
	// Cause is the first refusal in the chain ("" when OK).
	Cause       Cause      `json:"cause,omitempty"`
	Steps       []Step     `json:"steps"`
	SessionTags []Tag      `json:"sessionTags,omitempty"`
	Decisions   []Decision `json:"decisions,omitempty"`
}

// Explain walks the chain for req.
func (x *Explainer) Explain(ctx context.Context, req *Request) (*Explanation, error) {
	e := &Explanation{Subject: Subject{Cluster: req.Cluster, Namespace: req.Namespace, ServiceAccount: req.ServiceAccount, Pod: req.Pod, AccountID: x.cfg.AccountID}}
	var cluster *store.Cluster
	var assoc *store.Association
	err := x.cfg.Store.View(ctx, func(tx store.Tx) error {
		c, err := tx.GetCluster(req.Cluster)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		cluster = c
		if c == nil {
			return nil
		}
		a, err := tx.FindAssociation(req.Cluster, req.Namespace, req.ServiceAccount)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		assoc = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("explain: reading cluster %s: %w", req.Cluster, err)
	}

	// 1. The webhook's view, and the live pod when podid can read it.
	x.webhookStep(e, assoc)
	var podUID string
	if req.Pod != "" && x.cfg.Pods != nil && cluster != nil {
		pod, err := x.cfg.Pods.Pod(ctx, req.Cluster, req.Namespace, req.Pod)
		switch {
		case errors.Is(err, ErrNoAPI):
		case errors.Is(err, ErrNoPod):
			e.Steps = append(e.Steps, Step{Name: "pod", Status: StatusInfo, Summary: "pod " + req.Pod + " does not exist in namespace " + req.Namespace})
		case err != nil:
			e.Steps = append(e.Steps, Step{Name: "pod", Status: StatusInfo, Summary: "pod " + req.Pod + " could not be read: " + err.Error()})
		default:
			podUID = string(pod.UID)
			st := podStep(e, pod, assoc != nil)
			if st.Status == StatusRefused {
				e.refuse(st, st.Cause)
			} else {
				e.Steps = append(e.Steps, st)
			}
		}
	}
	// 2. The cluster.
	if cluster == nil {
		e.refuse(Step{Name: "cluster", Summary: "podid knows no cluster " + req.Cluster}, CauseNoCluster)
		return e, nil
	}
	e.Steps = append(e.Steps, Step{Name: "cluster", Status: StatusOK, Summary: fmt.Sprintf("cluster %s (%s, %s)", cluster.Name, cluster.Kind, cluster.ARN)})
	// 3. The association.
	if assoc == nil {
		e.refuse(Step{Name: "association", Summary: fmt.Sprintf("no Pod Identity association for %s/%s", req.Namespace, req.ServiceAccount)}, CauseNoAssociation)
		return e, nil
	}
	e.RoleARN, e.TargetRoleARN = assoc.RoleARN, assoc.TargetRoleARN
	sum := fmt.Sprintf("association %s: role %s", assoc.ID, assoc.RoleARN)
	if assoc.TargetRoleARN != "" {
		sum += ", target role " + assoc.TargetRoleARN
		if assoc.ExternalID != "" {
			sum += " with external ID " + assoc.ExternalID
		}
	}
	if assoc.DisableSessionTags {
		sum += ", session tags disabled"
	}
	if assoc.Policy != "" {
		sum += ", with a session policy"
	}
	e.Steps = append(e.Steps, Step{Name: "association", Status: StatusOK, Summary: sum})

	// 4. The role and its trust policy, decided for pods.eks.amazonaws.com.
	pod := req.Pod
	if pod == "" {
		pod = "POD-NAME"
	}
	if !assoc.DisableSessionTags {
		e.SessionTags = []Tag{
			{"eks-cluster-arn", cluster.ARN}, {"eks-cluster-name", cluster.Name},
			{"kubernetes-namespace", req.Namespace}, {"kubernetes-service-account", req.ServiceAccount},
			{"kubernetes-pod-name", pod}, {"kubernetes-pod-uid", orDefault(podUID, "POD-UID")},
		}
	}
	role, err := x.role(ctx, assoc.RoleARN)
	if err != nil {
		return nil, err
	}
	if role == nil {
		e.refuse(Step{Name: "role", Summary: "role " + assoc.RoleARN + " is not one of podid's roles"}, CauseRoleMissing)
		return e, nil
	}
	e.Steps = append(e.Steps, Step{Name: "role", Status: StatusOK, Summary: "role " + role.ARN + " exists"})
	sessionName := eksauth.SessionName(cluster.Name, pod, "00000000-0000-4000-8000-000000000000")
	if !x.trustStep(e, role, cluster, sessionName) {
		return e, nil
	}

	// 5. The target role.
	sessionRole := role
	sessionPolicy := assoc.Policy
	if assoc.TargetRoleARN != "" {
		target, err := x.role(ctx, assoc.TargetRoleARN)
		if err != nil {
			return nil, err
		}
		if target == nil {
			e.refuse(Step{Name: "target-role", Summary: "target role " + assoc.TargetRoleARN + " is not one of podid's roles"}, CauseTargetTrustDenied)
			return e, nil
		}
		if !x.targetStep(ctx, e, role, target, assoc, sessionName) {
			return e, nil
		}
		sessionRole = target
	}
	e.OK = e.Cause == ""
	sessionAccount := sessionRole.Account
	if sessionAccount == "" {
		sessionAccount = x.cfg.AccountID
	}
	sessionARN := arn.AssumedRole(x.cfg.Partition, sessionAccount, sessionRole.Name, sessionName).String()
	e.Steps = append(e.Steps, Step{Name: "session", Status: StatusOK, Summary: "EKS Auth would issue credentials for " + sessionARN})

	// 6. The pod session's decisions.
	if len(req.Checks) > 0 {
		p := &auth.Principal{
			Type: auth.AssumedRole, AccountID: sessionAccount, ARN: sessionARN, Name: sessionRole.Name,
			UserID: sessionRole.ID + ":" + sessionName,
			Session: &auth.Session{Account: sessionAccount, RoleARN: sessionRole.ARN, RoleID: sessionRole.ID, RoleName: sessionRole.Name, Type: auth.AssumedRole,
				SessionName: sessionName, Tags: map[string]string{}, Issued: x.cfg.Now()},
		}
		if sessionPolicy != "" {
			p.Session.Policies = []string{sessionPolicy}
		}
		for _, t := range e.SessionTags {
			p.Session.Tags[t.Key] = t.Value
		}
		set, err := x.cfg.Policies.PolicySet(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("explain: policies of %s: %w", sessionRole.ARN, err)
		}
		for _, c := range req.Checks {
			pc := policy.NewContext()
			x.cfg.Policies.FillContext(ctx, pc, p, set)
			preq := &policy.Request{Principal: auth.PolicyPrincipal(p), Action: c.Action, Resource: c.Resource, Context: pc}
			ex := policy.Explain(&set.Set, preq)
			d := Decision{Action: c.Action, Resource: c.Resource, Decision: simDecision(ex.Result), Trace: traceLines(ex)}
			if ex.By != policy.PolicyTypeNone {
				d.DecidedBy = ex.By.String()
			}
			d.Statements = decisive(ex)
			if !ex.Allowed() {
				d.Message = ex.DenialMessage(sessionARN, c.Action, c.Resource)
				if cause, ok := Classify("AccessDenied", d.Message); ok {
					d.Cause = cause
					s := e.Subject
					s.Action, s.Resource = c.Action, c.Resource
					s.RoleARN = sessionRole.ARN
					_, d.Fix = Fix(cause, s)
				}
			}
			e.Decisions = append(e.Decisions, d)
		}
	}
	return e, nil
}

func (e *Explanation) refuse(s Step, c Cause) {
	s.Status, s.Cause = StatusRefused, c
	s.Problem, s.Fix = Fix(c, e.Subject)
	e.Steps = append(e.Steps, s)
	if e.Cause == "" {
		e.Cause = c
	}
}

// webhookStep is the webhook's decision for a pod of the service account:
// the webhook mutates pods of associated service accounts, with the same
// pure function it runs on admission.
func (x *Explainer) webhookStep(e *Explanation, assoc *store.Association) {
	if assoc == nil {
		e.Steps = append(e.Steps, Step{Name: "webhook", Status: StatusInfo,
			Summary: "the webhook would not mutate pods of " + e.Namespace + "/" + e.ServiceAccount + ": the service account has no association"})
		return
	}
	name := e.Pod
	if name == "" {
		name = "pod"
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.Namespace},
		Spec: corev1.PodSpec{ServiceAccountName: e.ServiceAccount, Containers: []corev1.Container{{Name: "app"}}}}
	ops := webhook.Mutate(pod, webhook.Settings{Region: x.cfg.Region})
	if len(ops) == 0 {
		e.Steps = append(e.Steps, Step{Name: "webhook", Status: StatusInfo, Summary: "the webhook would leave the pod unchanged"})
		return
	}
	e.Steps = append(e.Steps, Step{Name: "webhook", Status: StatusOK,
		Summary: fmt.Sprintf("the webhook would mutate pods of %s/%s (%d patch operations: token volume %s, its mount, AWS_CONTAINER_CREDENTIALS_FULL_URI and the region variables; opt out with the label %s)",
			e.Namespace, e.ServiceAccount, len(ops), webhook.VolumeName, webhook.SkipLabel)})
}

// role reads a role of one of podid's accounts by ARN (nil when it is not one).
func (x *Explainer) role(ctx context.Context, arn string) (*store.Role, error) {
	name := arn[strings.LastIndexByte(arn, '/')+1:]
	account := accountOf(arn, x.cfg.AccountID)
	var role *store.Role
	err := x.cfg.Store.View(ctx, func(tx store.Tx) error {
		r, err := tx.GetRole(account, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.ARN == arn {
			role = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("explain: reading role %s: %w", arn, err)
	}
	return role, nil
}

// trustStep decides the role's trust policy for pods.eks.amazonaws.com:
// sts:AssumeRole, and sts:TagSession with the six tags, with the keys STS
// sets for a service principal.
func (x *Explainer) trustStep(e *Explanation, role *store.Role, cluster *store.Cluster, sessionName string) bool {
	trust, err := policy.Compile(role.AssumeRolePolicy)
	if err != nil {
		e.refuse(Step{Name: "trust", Summary: "the trust policy of " + role.ARN + " does not parse"}, CauseTrustDenied)
		return false
	}
	pc := policy.NewContext()
	now := x.cfg.Now().UTC()
	pc.Set("aws:CurrentTime", now.Format(time.RFC3339))
	pc.Set("aws:SecureTransport", "true")
	pc.Set("aws:PrincipalServiceName", eksauth.ServicePrincipal)
	pc.Set("aws:PrincipalIsAWSService", "true")
	pc.Set("aws:SourceArn", cluster.ARN)
	pc.Set("aws:SourceAccount", x.cfg.AccountID)
	pc.Set("sts:RoleSessionName", sessionName)
	actions := []string{"sts:AssumeRole"}
	if len(e.SessionTags) > 0 {
		actions = append(actions, "sts:TagSession")
		for _, t := range e.SessionTags {
			pc.Set("aws:RequestTag/"+t.Key, t.Value)
			pc.Add("aws:TagKeys", t.Key)
		}
		pc.Set("sts:TransitiveTagKeys", eksauth.SessionTagKeys...)
	}
	set := &policy.Set{Resource: trust, ResourceIsTrust: true}
	var trace []string
	for _, a := range actions {
		req := &policy.Request{Principal: policy.Principal{Type: policy.PrincipalService, ARN: eksauth.ServicePrincipal}, Action: a, Resource: role.ARN, Context: pc}
		ex := policy.Explain(set, req)
		trace = append(trace, a+": "+ex.Result.String())
		trace = append(trace, traceLines(ex)...)
		if !ex.Allowed() {
			e.refuse(Step{Name: "trust", Summary: fmt.Sprintf("the trust policy of %s does not allow %s %s", role.ARN, eksauth.ServicePrincipal, a), Trace: trace}, CauseTrustDenied)
			return false
		}
	}
	e.Steps = append(e.Steps, Step{Name: "trust", Status: StatusOK,
		Summary: fmt.Sprintf("the trust policy of %s allows %s %s", role.ARN, eksauth.ServicePrincipal, strings.Join(actions, " and ")), Trace: trace})
	return true
}

// targetStep decides the target role's trust policy for the first role's
// session (role chaining with the transitive tags and the external ID).
func (x *Explainer) targetStep(ctx context.Context, e *Explanation, first, target *store.Role, assoc *store.Association, sessionName string) bool {
	p := &auth.Principal{
		Type: auth.AssumedRole, AccountID: x.cfg.AccountID, Name: first.Name,
		ARN:     arn.AssumedRole(x.cfg.Partition, x.cfg.AccountID, first.Name, sessionName).String(),
		Session: &auth.Session{RoleARN: first.ARN, RoleID: first.ID, RoleName: first.Name, Type: auth.AssumedRole, SessionName: sessionName, Tags: map[string]string{}},
	}
	for _, t := range e.SessionTags {
		p.Session.Tags[t.Key] = t.Value
	}
	trust, err := policy.Compile(target.AssumeRolePolicy)
	if err != nil {
		e.refuse(Step{Name: "target-role", Summary: "the trust policy of " + target.ARN + " does not parse"}, CauseTargetTrustDenied)
		return false
	}
	ps, err := x.cfg.Policies.PolicySet(ctx, p)
	if err != nil {
		e.refuse(Step{Name: "target-role", Summary: "the policies of " + first.ARN + " could not be read: " + err.Error()}, CauseTargetTrustDenied)
		return false
	}
	set := ps.Set
	set.Resource, set.ResourceIsTrust = trust, true
	pc := policy.NewContext()
	x.cfg.Policies.FillContext(ctx, pc, p, ps)
	pc.Set("sts:RoleSessionName", sessionName)
	if assoc.ExternalID != "" {
		pc.Set("sts:ExternalId", assoc.ExternalID)
	}
	var trace []string
	for _, a := range []string{"sts:AssumeRole"} {
		req := &policy.Request{Principal: auth.PolicyPrincipal(p), Action: a, Resource: target.ARN, Context: pc,
			// A target role of another account: its trust policy and the
			// first role's identity policies must both allow.
			ResourceAccount: target.Account}
		ex := policy.Explain(&set, req)
		trace = append(trace, a+": "+ex.Result.String())
		trace = append(trace, traceLines(ex)...)
		if !ex.Allowed() {
			e.refuse(Step{Name: "target-role", Summary: ex.DenialMessage(p.ARN, a, target.ARN), Trace: trace}, CauseTargetTrustDenied)
			return false
		}
	}
	sum := fmt.Sprintf("the session of %s may assume the target role %s", first.ARN, target.ARN)
	if assoc.ExternalID != "" {
		sum += " with external ID " + assoc.ExternalID
	}
	e.Steps = append(e.Steps, Step{Name: "target-role", Status: StatusOK, Summary: sum, Trace: trace})
	return true
}

func simDecision(r policy.Result) string {
	switch r {
	case policy.Allow:
		return "allowed"
	case policy.ExplicitDeny:
		return "explicitDeny"
	}
	return "implicitDeny"
}

// traceLines is the engine's explanation without its first line (the
// result, reported separately).
func traceLines(ex *policy.Explanation) []string {
	lines := strings.Split(strings.TrimRight(ex.String(), "\n"), "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines[1:] {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// decisive names the matched statements that decided, with their lines.
func decisive(ex *policy.Explanation) []string {
	var out []string
	for _, t := range ex.Statements {
		if !t.Matched {
			continue
		}
		want := policy.EffectAllow
		if ex.Result == policy.ExplicitDeny {
			want = policy.EffectDeny
		}
		if ex.Result == policy.ImplicitDeny || t.Effect != want {
			continue
		}
		s := fmt.Sprintf("%s #%d statement %d", t.Layer, t.Policy, t.Statement)
		if t.Sid != "" {
			s += fmt.Sprintf(" %q", t.Sid)
		}
		s += fmt.Sprintf(" %s (line %d, column %d)", t.Effect, t.Start.Line, t.Start.Column)
		out = append(out, s)
	}
	return out
}

// accountOf is the account in ARN s, fallback when s has none.
func accountOf(s, fallback string) string {
	if p, err := arn.Parse(s); err == nil && p.AccountID != "" {
		return p.AccountID
	}
	return fallback
}
