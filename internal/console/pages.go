package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/podid/podid/internal/awsproto"
	"github.com/podid/podid/internal/eks"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// clusterRow is one cluster of the clusters page.
type clusterRow struct {
	Name, Arn, Status, Issuer, Version string
	// Kind is hosted (podid issues its tokens) or registered.
	Kind string
	// Addon is the agent add-on's status ("" when not installed), Health
	// its issues; AddonError a failed read.
	Addon      string
	Health     []eks.AddonIssue
	AddonError *apiError
}

type clustersData struct {
	Filter    string
	Rows      []clusterRow
	NextToken string
}

// clusters lists clusters (ListClusters, then DescribeCluster and
// DescribeAddon of the agent add-on for each shown), filtered by a name
// substring, a page at a time.
func (c *Console) clusters(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	d := &clustersData{Filter: strings.TrimSpace(q.Get("filter"))}
	p := signedPage(r, "clusters", "Clusters", d)
	token := q.Get("next")
	// Read API pages until a page's worth of matches (or the end).
	for len(d.Rows) < pageSize {
		var out eks.ListClustersOutput
		qv := url.Values{"maxResults": {"100"}}
		if token != "" {
			qv.Set("nextToken", token)
		}
		if err := c.rest(r.ctx, http.MethodGet, apiPath("clusters"), qv, nil, &out); err != nil {
			p.Error = c.apiError(r.ctx, "ListClusters", err)
			break
		}
		for _, name := range out.Clusters {
			if d.Filter == "" || strings.Contains(strings.ToLower(name), strings.ToLower(d.Filter)) {
				d.Rows = append(d.Rows, c.clusterRow(r, name))
			}
		}
		token = out.NextToken
		if token == "" {
			break
		}
	}
	d.NextToken = token
	c.render(w, r.Request, http.StatusOK, "clusters", p)
}

func (c *Console) clusterRow(r *request, name string) clusterRow {
	row := clusterRow{Name: name}
	var out eks.ClusterOutput
	if err := c.rest(r.ctx, http.MethodGet, apiPath("clusters", name), nil, nil, &out); err != nil || out.Cluster == nil {
		row.Status = "unreadable"
		if err != nil {
			row.AddonError = c.apiError(r.ctx, "DescribeCluster", err)
		}
		return row
	}
	cl := out.Cluster
	row.Arn, row.Status, row.Version = cl.Arn, cl.Status, cl.Version
	if cl.Identity != nil && cl.Identity.OIDC != nil {
		row.Issuer = cl.Identity.OIDC.Issuer
	}
	row.Kind = "hosted"
	if cl.ConnectorConfig != nil {
		row.Kind = "registered"
	}
	var ad eks.AddonOutput
	err := c.rest(r.ctx, http.MethodGet, apiPath("clusters", name, "addons", eks.AgentAddonName), nil, nil, &ad)
	var ae *awsproto.Error
	switch {
	case err == nil && ad.Addon != nil:
		row.Addon, row.Health = ad.Addon.Status, ad.Addon.Health.Issues
	case errors.As(err, &ae) && ae.Code == "ResourceNotFoundException":
	case err != nil:
		row.AddonError = c.apiError(r.ctx, "DescribeAddon", err)
	}
	return row
}

// associationForm is the create and edit form's values.
type associationForm struct {
	Namespace, ServiceAccount, RoleArn, TargetRoleArn, Policy string
	DisableSessionTags                                        bool
}

type clusterData struct {
	Cluster      clusterRow
	Namespace    string
	SA           string
	Associations []eks.PodIdentityAssociationSummary
	// Token is this page's token, NextToken the next page's.
	Token, NextToken string
	// ListError is a failed ListPodIdentityAssociations (the list is then
	// not shown at all).
	ListError *apiError
	Form      associationForm
}

// cluster shows a cluster and a page of its associations
// (ListPodIdentityAssociations with the API's namespace and service
// account filters and its paging), and the create form.
func (c *Console) cluster(w http.ResponseWriter, r *request) {
	d := c.clusterPage(r, r.PathValue("cluster"))
	c.render(w, r.Request, http.StatusOK, "cluster", signedPage(r, "clusters", "Cluster "+d.Cluster.Name, d))
}

func (c *Console) clusterPage(r *request, name string) *clusterData {
	q := r.URL.Query()
	d := &clusterData{Cluster: c.clusterRow(r, name), Namespace: strings.TrimSpace(q.Get("namespace")), SA: strings.TrimSpace(q.Get("serviceAccount")), Token: q.Get("next")}
	qv := url.Values{"maxResults": {strconv.Itoa(pageSize)}}
	if d.Namespace != "" {
		qv.Set("namespace", d.Namespace)
	}
	if d.SA != "" {
		qv.Set("serviceAccount", d.SA)
	}
	if d.Token != "" {
		qv.Set("nextToken", d.Token)
	}
	var out eks.ListPodIdentityAssociationsOutput
	if err := c.rest(r.ctx, http.MethodGet, apiPath("clusters", name, "pod-identity-associations"), qv, nil, &out); err != nil {
		d.ListError = c.apiError(r.ctx, "ListPodIdentityAssociations", err)
		return d
	}
	d.Associations, d.NextToken = out.Associations, out.NextToken
	return d
}

func readAssociationForm(r *request) associationForm {
	f := r.PostForm
	return associationForm{Namespace: strings.TrimSpace(f.Get("namespace")), ServiceAccount: strings.TrimSpace(f.Get("serviceAccount")),
		RoleArn: strings.TrimSpace(f.Get("roleArn")), TargetRoleArn: strings.TrimSpace(f.Get("targetRoleArn")),
		Policy: strings.TrimSpace(f.Get("policy")), DisableSessionTags: f.Get("disableSessionTags") == "on"}
}

// createAssociation is CreatePodIdentityAssociation.
func (c *Console) createAssociation(w http.ResponseWriter, r *request) {
	name := r.PathValue("cluster")
	form := readAssociationForm(r)
	in := eks.CreatePodIdentityAssociationInput{Namespace: form.Namespace, ServiceAccount: form.ServiceAccount, RoleArn: form.RoleArn,
		TargetRoleArn: form.TargetRoleArn, Policy: form.Policy}
	if form.DisableSessionTags {
		t := true
		in.DisableSessionTags = &t
	}
	var out eks.CreatePodIdentityAssociationOutput
	if err := c.rest(r.ctx, http.MethodPost, apiPath("clusters", name, "pod-identity-associations"), nil, in, &out); err != nil {
		d := c.clusterPage(r, name)
		d.Form = form
		p := signedPage(r, "clusters", "Cluster "+name, d)
		p.Error = c.apiError(r.ctx, "CreatePodIdentityAssociation", err)
		c.render(w, r.Request, statusOf(err), "cluster", p)
		return
	}
	http.Redirect(w, r.Request, Prefix+"clusters/"+url.PathEscape(name)+"/associations/"+url.PathEscape(out.Association.AssociationID)+"?created=1", http.StatusSeeOther)
}

type associationData struct {
	Cluster string
	A       *eks.PodIdentityAssociation
	Form    associationForm
}

// association is DescribePodIdentityAssociation, with the edit and
// delete forms.
func (c *Console) association(w http.ResponseWriter, r *request) {
	name, id := r.PathValue("cluster"), r.PathValue("id")
	d := &associationData{Cluster: name}
	p := signedPage(r, "clusters", "Association "+id, d)
	var out eks.DescribePodIdentityAssociationOutput
	if err := c.rest(r.ctx, http.MethodGet, apiPath("clusters", name, "pod-identity-associations", id), nil, nil, &out); err != nil {
		p.Error = c.apiError(r.ctx, "DescribePodIdentityAssociation", err)
		c.render(w, r.Request, statusOf(err), "association", p)
		return
	}
	d.A = out.Association
	d.Form = associationForm{RoleArn: d.A.RoleArn, TargetRoleArn: d.A.TargetRoleArn, Policy: d.A.Policy, DisableSessionTags: d.A.DisableSessionTags}
	switch {
	case r.URL.Query().Get("created") != "":
		p.Notice = "Association created."
	case r.URL.Query().Get("updated") != "":
		p.Notice = "Association updated."
	}
	c.render(w, r.Request, http.StatusOK, "association", p)
}

// updateAssociation is UpdatePodIdentityAssociation.
func (c *Console) updateAssociation(w http.ResponseWriter, r *request) {
	name, id := r.PathValue("cluster"), r.PathValue("id")
	form := readAssociationForm(r)
	tags := form.DisableSessionTags
	in := eks.UpdatePodIdentityAssociationInput{RoleArn: &form.RoleArn, TargetRoleArn: &form.TargetRoleArn, Policy: &form.Policy, DisableSessionTags: &tags}
	var out eks.UpdatePodIdentityAssociationOutput
	if err := c.rest(r.ctx, http.MethodPost, apiPath("clusters", name, "pod-identity-associations", id), nil, in, &out); err != nil {
		d := &associationData{Cluster: name, Form: form}
		var desc eks.DescribePodIdentityAssociationOutput
		if c.rest(r.ctx, http.MethodGet, apiPath("clusters", name, "pod-identity-associations", id), nil, nil, &desc) == nil {
			d.A = desc.Association
		}
		p := signedPage(r, "clusters", "Association "+id, d)
		p.Error = c.apiError(r.ctx, "UpdatePodIdentityAssociation", err)
		c.render(w, r.Request, statusOf(err), "association", p)
		return
	}
	http.Redirect(w, r.Request, Prefix+"clusters/"+url.PathEscape(name)+"/associations/"+url.PathEscape(id)+"?updated=1", http.StatusSeeOther)
}

// deleteAssociation is DeletePodIdentityAssociation.
func (c *Console) deleteAssociation(w http.ResponseWriter, r *request) {
	name, id := r.PathValue("cluster"), r.PathValue("id")
	if err := c.rest(r.ctx, http.MethodDelete, apiPath("clusters", name, "pod-identity-associations", id), nil, nil, nil); err != nil {
		d := &associationData{Cluster: name}
		p := signedPage(r, "clusters", "Association "+id, d)
		p.Error = c.apiError(r.ctx, "DeletePodIdentityAssociation", err)
		c.render(w, r.Request, statusOf(err), "association", p)
		return
	}
	http.Redirect(w, r.Request, Prefix+"clusters/"+url.PathEscape(name)+"?deleted="+url.QueryEscape(id), http.StatusSeeOther)
}

// statusOf is the HTTP status a page answers for a failed call: the API's.
func statusOf(err error) int {
	var ae *awsproto.Error
	if errors.As(err, &ae) && ae.Status >= 400 {
		return ae.Status
	}
	return http.StatusInternalServerError
}
