package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/podid/podid/internal/explain"
)

type simulateData struct {
	Cluster, Namespace, ServiceAccount, Action, Resource string
	// Clusters offers the cluster names (ListClusters; empty when the
	// caller may not list them).
	Clusters []string
	Result   *explain.Explanation
}

// simulate answers "what can this service account do": podid's explain
// extension (GET /podid/v1/explain, podid:Explain on the cluster) for one
// action on one resource: the whole Pod Identity chain, then the pod
// session's decision with the statements that decided (the policy
// simulator's engine).
func (c *Console) simulate(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	d := &simulateData{Cluster: strings.TrimSpace(q.Get("cluster")), Namespace: strings.TrimSpace(q.Get("namespace")),
		ServiceAccount: strings.TrimSpace(q.Get("serviceAccount")), Action: strings.TrimSpace(q.Get("action")), Resource: strings.TrimSpace(q.Get("resource"))}
	p := signedPage(r, "simulate", "What can this service account do?", d)
	var list struct {
		Clusters []string `json:"clusters"`
	}
	if c.rest(r.ctx, http.MethodGet, apiPath("clusters"), url.Values{"maxResults": {"100"}}, nil, &list) == nil {
		d.Clusters = list.Clusters
	}
	status := http.StatusOK
	if d.Cluster != "" || d.Namespace != "" || d.ServiceAccount != "" {
		qv := url.Values{"cluster": {d.Cluster}, "namespace": {d.Namespace}, "serviceAccount": {d.ServiceAccount}}
		if d.Action != "" || d.Resource != "" {
			res := d.Resource
			if res == "" {
				res = "*"
			}
			qv["action"], qv["resource"] = []string{d.Action}, []string{res}
		}
		var e explain.Explanation
		if err := c.rest(r.ctx, http.MethodGet, rawPath(explain.Path), qv, nil, &e); err != nil {
			p.Error = c.apiError(r.ctx, explain.Operation, err)
			status = statusOf(err)
		} else {
			d.Result = &e
		}
	}
	c.render(w, r.Request, status, "simulate", p)
}
