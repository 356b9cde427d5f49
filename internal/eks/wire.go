package eks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/podid/podid/internal/awsproto"
)

// maxBodyBytes bounds EKS request bodies (the largest, a create with 50
// tags and a 2 KB policy, is a few KB).
const maxBodyBytes = 1 << 20

// handler is one route: it decodes the request, calls the service and
// returns the value to encode (nil: an empty JSON object).
type handler func(ctx context.Context, r *http.Request, p []string, body []byte) (any, error)

// route maps a path shape to handlers by method. A shape is a list of
// literal segments, with "*" matching any one segment.
type route struct {
	shape   []string
	methods map[string]op
}

// op is one operation: its name (as in the API model, for metrics) and its
// handler.
type op struct {
	name string
	h    handler
}

// OpAssociationEvents names podid's association change feed
// (GET /podid/v1/clusters/{name}/association-events) in metrics.
const OpAssociationEvents = "AssociationEvents"

// Operations lists the operation names the EKS handler serves, sorted: the
// only values its request metrics may carry.
func (s *Service) Operations() []string {
	seen := map[string]bool{OpAssociationEvents: true, "TagResource": true, "UntagResource": true, "ListTagsForResource": true}
	for _, rt := range s.table {
		for _, o := range rt.methods {
			seen[o.name] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// routes is the EKS REST API (paths of the Smithy model) plus podid's
// extensions under /podid/v1.
func (s *Service) routes() []route {
	return []route{
		{[]string{"clusters"}, map[string]op{"POST": op{"CreateCluster", s.hCreateCluster}, "GET": op{"ListClusters", s.hListClusters}}},
		{[]string{"clusters", "*"}, map[string]op{"GET": op{"DescribeCluster", s.hDescribeCluster}, "DELETE": op{"DeleteCluster", s.hDeleteCluster}}},
		{[]string{"cluster-registrations"}, map[string]op{"POST": op{"RegisterCluster", s.hRegisterCluster}}},
		{[]string{"cluster-registrations", "*"}, map[string]op{"DELETE": op{"DeregisterCluster", s.hDeregisterCluster}, "PUT": op{"UpdateClusterRegistration", s.hUpdateRegistration}}},
		{[]string{"clusters", "*", "pod-identity-associations"}, map[string]op{"POST": op{"CreatePodIdentityAssociation", s.hCreateAssociation}, "GET": op{"ListPodIdentityAssociations", s.hListAssociations}}},
		{[]string{"clusters", "*", "pod-identity-associations", "*"}, map[string]op{"GET": op{"DescribePodIdentityAssociation", s.hDescribeAssociation}, "POST": op{"UpdatePodIdentityAssociation", s.hUpdateAssociation}, "DELETE": op{"DeletePodIdentityAssociation", s.hDeleteAssociation}}},
		{[]string{"clusters", "*", "addons"}, map[string]op{"POST": op{"CreateAddon", s.hCreateAddon}, "GET": op{"ListAddons", s.hListAddons}}},
		{[]string{"clusters", "*", "addons", "*"}, map[string]op{"GET": op{"DescribeAddon", s.hDescribeAddon}, "DELETE": op{"DeleteAddon", s.hDeleteAddon}}},
		{[]string{"clusters", "*", "addons", "*", "update"}, map[string]op{"POST": op{"UpdateAddon", s.hUpdateAddon}}},
		{[]string{"addons", "supported-versions"}, map[string]op{"GET": op{"DescribeAddonVersions", s.hDescribeAddonVersions}}},
		{[]string{"addons", "configuration-schemas"}, map[string]op{"GET": op{"DescribeAddonConfiguration", s.hDescribeAddonConfiguration}}},
		{[]string{"podid", "v1", "clusters", "*", "tokens"}, map[string]op{"POST": op{"CreateClusterToken", s.hCreateToken}}},
	}
}

func match(shape, segs []string) bool {
	if len(shape) != len(segs) {
		return false
	}
	for i, p := range shape {
		if p != "*" && p != segs[i] {
			return false
		}
	}
	return true
}

// ServeHTTP serves the EKS API. It routes on the raw, percent-encoded path
// (a resource ARN in /tags/{resourceArn} keeps its %2F) and answers every
// failure, including unknown routes, with a restJson1 error.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segs, ok := awsproto.PathSegments(r)
	if !ok {
		s.writeError(w, r, unknownOperation(r))
		return
	}
	// Public issuer documents of hosted clusters (normally served by the
	// edge before authentication; answered here too for completeness).
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && s.issuer.IsPublicPath(r.URL.Path) {
		s.issuer.ServeHTTP(w, r)
		return
	}
	if len(segs) >= 2 && segs[0] == "tags" {
		// The ARN is one percent-encoded segment from the SDKs; a client
		// that sent its slashes raw gets the same result.
		s.serveTags(w, r, strings.Join(segs[1:], "/"))
		return
	}
	if len(segs) == 5 && segs[0] == "podid" && segs[1] == "v1" && segs[2] == "clusters" && segs[4] == "association-events" {
		if r.Method != http.MethodGet {
			s.writeError(w, r, unknownOperation(r))
			return
		}
		awsproto.SetOperation(r.Context(), OpAssociationEvents)
		s.serveFeed(w, r, segs[3])
		return
	}
	for _, rt := range s.table {
		if !match(rt.shape, segs) {
			continue
		}
		o, ok := rt.methods[r.Method]
		if !ok {
			break
		}
		awsproto.SetOperation(r.Context(), o.name)
		body, err := readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out, err := o.h(r.Context(), r, segs, body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, out)
		return
	}
	s.writeError(w, r, unknownOperation(r))
}

func unknownOperation(r *http.Request) error {
	return &Error{AWS: awsproto.Errorf(http.StatusNotFound, "UnknownOperationException", "No operation matches %s %s", r.Method, truncate(r.URL.EscapedPath(), 200))}
}

func requestID(r *http.Request) string {
	if id := awsproto.RequestIDFrom(r.Context()); id != "" {
		return id
	}
	return awsproto.NewRequestID()
}

func (s *Service) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	if v == nil {
		v = struct{}{}
	}
	awsproto.WriteJSON(w, http.StatusOK, requestID(r), v)
}

// writeError writes an EKS error: x-amzn-ErrorType and a body with
// __type, message and EKS's extra members.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae, cluster, addon := asAWS(err)
	id := requestID(r)
	if ae.Status >= 500 {
		s.log.ErrorContext(r.Context(), "eks request failed", "requestId", id, "method", truncate(r.Method, 32), "path", truncate(r.URL.EscapedPath(), 256), "code", ae.Code, "err", ae.Cause)
	}
	body := map[string]string{"__type": ae.Code, "message": ae.Message}
	if cluster != "" {
		body["clusterName"] = cluster
	}
	if addon != "" {
		body["addonName"] = addon
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", id)
	w.Header().Set("x-amzn-ErrorType", ae.Code)
	w.WriteHeader(ae.Status)
	json.NewEncoder(w).Encode(body)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{AWS: awsproto.Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "The request body is larger than %d bytes.", maxBodyBytes)}
		}
		return nil, &Error{AWS: awsproto.Errorf(http.StatusBadRequest, CodeInvalidRequest, "The request body could not be read.")}
	}
	return b, nil
}

// decode parses a JSON request body into v; an empty body is {}.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &Error{AWS: awsproto.Errorf(http.StatusBadRequest, "SerializationException", "The value of %s has the wrong type: expected %s.", truncate(te.Field, 100), te.Type.String())}
		}
		return &Error{AWS: awsproto.Errorf(http.StatusBadRequest, "SerializationException", "The request body is not a valid JSON object.")}
	}
	if dec.More() {
		return &Error{AWS: awsproto.Errorf(http.StatusBadRequest, "SerializationException", "The request body is not a valid JSON object.")}
	}
	return nil
}

// queryInt parses an optional integer query parameter.
func queryInt(q url.Values, name, cluster string) (*int, error) {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return nil, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return nil, invalidParam(cluster, "The parameter %s must be an integer.", name)
	}
	return &n, nil
}

// queryBool parses an optional boolean query parameter.
func queryBool(q url.Values, name, cluster string) (bool, error) {
	v := q.Get(name)
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, invalidParam(cluster, "The parameter %s must be true or false.", name)
}

// Handlers: decode, call, return.

func (s *Service) hCreateCluster(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in CreateClusterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.CreateCluster(ctx, &in)
}

func (s *Service) hListClusters(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	q := r.URL.Query()
	n, err := queryInt(q, "maxResults", "")
	if err != nil {
		return nil, err
	}
	return s.ListClusters(ctx, &ListClustersInput{MaxResults: n, NextToken: q.Get("nextToken"), Include: q["include"]})
}

func (s *Service) hDescribeCluster(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	return s.DescribeCluster(ctx, &DescribeClusterInput{Name: p[1]})
}

func (s *Service) hDeleteCluster(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	return s.DeleteCluster(ctx, &DeleteClusterInput{Name: p[1]})
}

func (s *Service) hRegisterCluster(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in RegisterClusterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return s.RegisterCluster(ctx, &in)
}

func (s *Service) hUpdateRegistration(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in RegisterClusterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name != "" && in.Name != p[1] {
		return nil, invalidParam(p[1], "The parameter name must be the cluster's name in the path, or absent.")
	}
	in.Name = p[1]
	return s.UpdateClusterRegistration(ctx, &in)
}

func (s *Service) hDeregisterCluster(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	return s.DeregisterCluster(ctx, &DeleteClusterInput{Name: p[1]})
}

func (s *Service) hCreateAssociation(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in CreatePodIdentityAssociationInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	in.ClusterName = p[1]
	return s.CreatePodIdentityAssociation(ctx, &in)
}

func (s *Service) hListAssociations(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	q := r.URL.Query()
	n, err := queryInt(q, "maxResults", p[1])
	if err != nil {
		return nil, err
	}
	return s.ListPodIdentityAssociations(ctx, &ListPodIdentityAssociationsInput{
		ClusterName: p[1], Namespace: q.Get("namespace"), ServiceAccount: q.Get("serviceAccount"),
		MaxResults: n, NextToken: q.Get("nextToken"),
	})
}

func (s *Service) hDescribeAssociation(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	return s.DescribePodIdentityAssociation(ctx, &DescribePodIdentityAssociationInput{ClusterName: p[1], AssociationID: p[3]})
}

func (s *Service) hUpdateAssociation(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in UpdatePodIdentityAssociationInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	in.ClusterName, in.AssociationID = p[1], p[3]
	return s.UpdatePodIdentityAssociation(ctx, &in)
}

func (s *Service) hDeleteAssociation(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	return s.DeletePodIdentityAssociation(ctx, &DeletePodIdentityAssociationInput{ClusterName: p[1], AssociationID: p[3]})
}

func (s *Service) hCreateAddon(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in CreateAddonInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	in.ClusterName = p[1]
	return s.CreateAddon(ctx, &in)
}

func (s *Service) hListAddons(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	q := r.URL.Query()
	n, err := queryInt(q, "maxResults", p[1])
	if err != nil {
		return nil, err
	}
	return s.ListAddons(ctx, &ListAddonsInput{ClusterName: p[1], MaxResults: n, NextToken: q.Get("nextToken")})
}

func (s *Service) hDescribeAddon(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	return s.DescribeAddon(ctx, &DescribeAddonInput{ClusterName: p[1], AddonName: p[3]})
}

func (s *Service) hDeleteAddon(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	preserve, err := queryBool(r.URL.Query(), "preserve", p[1])
	if err != nil {
		return nil, err
	}
	return s.DeleteAddon(ctx, &DeleteAddonInput{ClusterName: p[1], AddonName: p[3], Preserve: preserve})
}

func (s *Service) hUpdateAddon(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in UpdateAddonInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	in.ClusterName, in.AddonName = p[1], p[3]
	return s.UpdateAddon(ctx, &in)
}

func (s *Service) hDescribeAddonVersions(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	q := r.URL.Query()
	n, err := queryInt(q, "maxResults", "")
	if err != nil {
		return nil, err
	}
	return s.DescribeAddonVersions(ctx, &DescribeAddonVersionsInput{
		KubernetesVersion: q.Get("kubernetesVersion"), MaxResults: n, NextToken: q.Get("nextToken"),
		AddonName: q.Get("addonName"), Types: q["types"], Publishers: q["publishers"], Owners: q["owners"],
	})
}

func (s *Service) hDescribeAddonConfiguration(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	q := r.URL.Query()
	return s.DescribeAddonConfiguration(ctx, &DescribeAddonConfigurationInput{AddonName: q.Get("addonName"), AddonVersion: q.Get("addonVersion")})
}

func (s *Service) hCreateToken(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	var in CreateServiceAccountTokenInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	in.ClusterName = p[3]
	return s.CreateServiceAccountToken(ctx, &in)
}

// serveTags serves TagResource, UntagResource and ListTagsForResource.
func (s *Service) serveTags(w http.ResponseWriter, r *http.Request, arn string) {
	ctx := r.Context()
	var out any
	var err error
	switch r.Method {
	case http.MethodPost:
		awsproto.SetOperation(ctx, "TagResource")
		var body []byte
		if body, err = readBody(w, r); err == nil {
			var in TagResourceInput
			if err = decode(body, &in); err == nil {
				in.ResourceArn = arn
				err = s.TagResource(ctx, &in)
			}
		}
	case http.MethodDelete:
		awsproto.SetOperation(ctx, "UntagResource")
		err = s.UntagResource(ctx, &UntagResourceInput{ResourceArn: arn, TagKeys: r.URL.Query()["tagKeys"]})
	case http.MethodGet:
		awsproto.SetOperation(ctx, "ListTagsForResource")
		out, err = s.ListTagsForResource(ctx, &ListTagsForResourceInput{ResourceArn: arn})
	default:
		err = unknownOperation(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, out)
}
