package console

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/podid/podid/internal/eks"
	"github.com/podid/podid/internal/iam"
	"github.com/podid/podid/internal/store"
)

type rolesData struct {
	Filter     string
	Roles      []*store.Role
	NextMarker string
}

// roles lists roles (ListRoles, Marker paging), filtered by a name
// substring.
func (c *Console) roles(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	d := &rolesData{Filter: strings.TrimSpace(q.Get("filter"))}
	p := signedPage(r, "roles", "Roles", d)
	marker := q.Get("next")
	for len(d.Roles) < pageSize {
		max := 100
		out, err := c.cfg.IAM.ListRoles(r.ctx, &iam.ListRolesInput{Marker: marker, MaxItems: &max})
		if err != nil {
			p.Error = c.apiError(r.ctx, "ListRoles", err)
			break
		}
		for _, role := range out.Roles {
			if d.Filter == "" || strings.Contains(strings.ToLower(role.Name), strings.ToLower(d.Filter)) {
				d.Roles = append(d.Roles, role)
			}
		}
		marker = ""
		if out.IsTruncated {
			marker = out.Marker
		}
		if marker == "" {
			break
		}
	}
	d.NextMarker = marker
	c.render(w, r.Request, http.StatusOK, "roles", p)
}

// namedPolicy is a policy document with its name.
type namedPolicy struct {
	Name, ARN, Document string
	Error               *apiError
}

type roleData struct {
	Role              *store.Role
	TrustPolicy       string
	Inline            []namedPolicy
	Attached          []namedPolicy
	Boundary          *namedPolicy
	Associations      []eks.PodIdentityAssociationSummary
	AssociationsError *apiError
	// Scanned is how many associations were read looking for the role's;
	// Truncated says the scan stopped at maxRoleScan.
	Scanned   int
	Truncated bool
}

// maxRoleScan bounds the associations a role page reads.
const maxRoleScan = 20000

// role shows a role: GetRole (trust policy, boundary), ListRolePolicies
// and GetRolePolicy, ListAttachedRolePolicies and GetPolicy/
// GetPolicyVersion, and the associations whose role it is (read with
// ListClusters, ListPodIdentityAssociations and
// DescribePodIdentityAssociation, each authorized).
func (c *Console) role(w http.ResponseWriter, r *request) {
	name := r.PathValue("role")
	d := &roleData{}
	p := signedPage(r, "roles", "Role "+name, d)
	out, err := c.cfg.IAM.GetRole(r.ctx, &iam.GetRoleInput{RoleName: name})
	if err != nil {
		p.Error = c.apiError(r.ctx, "GetRole", err)
		c.render(w, r.Request, statusOf(err), "role", p)
		return
	}
	d.Role = out.Role
	d.TrustPolicy = prettyJSON(trustPolicyText(out.Role.AssumeRolePolicy))
	if names, err := c.cfg.IAM.ListRolePolicies(r.ctx, &iam.ListInlinePoliciesInput{Name: name}); err != nil {
		d.Inline = append(d.Inline, namedPolicy{Error: c.apiError(r.ctx, "ListRolePolicies", err)})
	} else {
		for _, pn := range names.PolicyNames {
			np := namedPolicy{Name: pn}
			if ip, err := c.cfg.IAM.GetRolePolicy(r.ctx, &iam.InlinePolicyInput{Name: name, PolicyName: pn}); err != nil {
				np.Error = c.apiError(r.ctx, "GetRolePolicy", err)
			} else {
				np.Document = prettyJSON(ip.Policy.Document)
			}
			d.Inline = append(d.Inline, np)
		}
	}
	if att, err := c.cfg.IAM.ListAttachedRolePolicies(r.ctx, &iam.ListAttachedPoliciesInput{Name: name}); err != nil {
		d.Attached = append(d.Attached, namedPolicy{Error: c.apiError(r.ctx, "ListAttachedRolePolicies", err)})
	} else {
		for _, ap := range att.AttachedPolicies {
			d.Attached = append(d.Attached, c.managedPolicy(r, ap.PolicyName, ap.PolicyARN))
		}
	}
	if b := d.Role.PermissionsBoundary; b != "" {
		np := c.managedPolicy(r, "", b)
		d.Boundary = &np
	}
	c.roleAssociations(r, d)
	c.render(w, r.Request, http.StatusOK, "role", p)
}

func (c *Console) managedPolicy(r *request, name, arn string) namedPolicy {
	np := namedPolicy{Name: name, ARN: arn}
	pol, err := c.cfg.IAM.GetPolicy(r.ctx, &iam.GetPolicyInput{PolicyARN: arn})
	if err != nil {
		np.Error = c.apiError(r.ctx, "GetPolicy", err)
		return np
	}
	if np.Name == "" {
		np.Name = pol.Policy.Name
	}
	v, err := c.cfg.IAM.GetPolicyVersion(r.ctx, &iam.GetPolicyVersionInput{PolicyARN: arn, VersionID: pol.Policy.DefaultVersionID})
	if err != nil {
		np.Error = c.apiError(r.ctx, "GetPolicyVersion", err)
		return np
	}
	np.Document = prettyJSON(v.PolicyVersion.Document)
	return np
}

// roleAssociations finds the associations whose role (or target role) is
// d.Role, through the API.
func (c *Console) roleAssociations(r *request, d *roleData) {
	var clusters []string
	token := ""
	for {
		var out eks.ListClustersOutput
		qv := url.Values{"maxResults": {"100"}}
		if token != "" {
			qv.Set("nextToken", token)
		}
		if err := c.rest(r.ctx, http.MethodGet, apiPath("clusters"), qv, nil, &out); err != nil {
			d.AssociationsError = c.apiError(r.ctx, "ListClusters", err)
			return
		}
		clusters = append(clusters, out.Clusters...)
		if token = out.NextToken; token == "" {
			break
		}
	}
	sort.Strings(clusters)
	for _, cl := range clusters {
		token := ""
		for {
			var out eks.ListPodIdentityAssociationsOutput
			qv := url.Values{"maxResults": {"100"}}
			if token != "" {
				qv.Set("nextToken", token)
			}
			if err := c.rest(r.ctx, http.MethodGet, apiPath("clusters", cl, "pod-identity-associations"), qv, nil, &out); err != nil {
				d.AssociationsError = c.apiError(r.ctx, "ListPodIdentityAssociations", err)
				return
			}
			for _, s := range out.Associations {
				if d.Scanned >= maxRoleScan {
					d.Truncated = true
					return
				}
				d.Scanned++
				var desc eks.DescribePodIdentityAssociationOutput
				if err := c.rest(r.ctx, http.MethodGet, apiPath("clusters", cl, "pod-identity-associations", s.AssociationID), nil, nil, &desc); err != nil {
					d.AssociationsError = c.apiError(r.ctx, "DescribePodIdentityAssociation", err)
					return
				}
				if a := desc.Association; a.RoleArn == d.Role.ARN || a.TargetRoleArn == d.Role.ARN {
					d.Associations = append(d.Associations, s)
				}
			}
			if token = out.NextToken; token == "" {
				break
			}
		}
	}
}
