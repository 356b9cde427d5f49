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

// route is one operation of the REST API: a net/http ServeMux pattern
// (method and path, {wildcards} for path parameters), the operation's name
// (as in the API model, for metrics) and its handler.
type route struct {
	pattern string
	name    string
	h       handler
}

// OpAssociationEvents names podid's association change feed
// (GET /podid/v1/clusters/{name}/association-events) in metrics.
const OpAssociationEvents = "AssociationEvents"

// ExtensionPrefix is where podid's own REST extensions live; they are
// served by the same ServeMux as the EKS API, signed as "eks".
const ExtensionPrefix = "/podid/v1/"

// Operations lists the operation names the EKS handler serves, sorted: the
// only values its request metrics may carry. Extensions added with
// HandleExtension are included.
func (s *Service) Operations() []string {
	s.muxMu.Lock()
	defer s.muxMu.Unlock()
	return slices.Sorted(maps.Keys(s.ops))
}

// routes is the EKS REST API (paths of the Smithy model) plus podid's own
// extensions under /podid/v1 that the EKS service implements.
func (s *Service) routes() []route {
	return []route{
		{"POST /clusters", "CreateCluster", s.hCreateCluster},
		{"GET /clusters", "ListClusters", s.hListClusters},
		{"GET /clusters/{name}", "DescribeCluster", s.hDescribeCluster},
		{"DELETE /clusters/{name}", "DeleteCluster", s.hDeleteCluster},
		{"POST /cluster-registrations", "RegisterCluster", s.hRegisterCluster},
		{"DELETE /cluster-registrations/{name}", "DeregisterCluster", s.hDeregisterCluster},
		{"PUT /cluster-registrations/{name}", "UpdateClusterRegistration", s.hUpdateRegistration},
		{"POST /clusters/{name}/pod-identity-associations", "CreatePodIdentityAssociation", s.hCreateAssociation},
		{"GET /clusters/{name}/pod-identity-associations", "ListPodIdentityAssociations", s.hListAssociations},
		{"GET /clusters/{name}/pod-identity-associations/{id}", "DescribePodIdentityAssociation", s.hDescribeAssociation},
		{"POST /clusters/{name}/pod-identity-associations/{id}", "UpdatePodIdentityAssociation", s.hUpdateAssociation},
		{"DELETE /clusters/{name}/pod-identity-associations/{id}", "DeletePodIdentityAssociation", s.hDeleteAssociation},
		{"POST /clusters/{name}/addons", "CreateAddon", s.hCreateAddon},
		{"GET /clusters/{name}/addons", "ListAddons", s.hListAddons},
		{"GET /clusters/{name}/addons/{addon}", "DescribeAddon", s.hDescribeAddon},
		{"DELETE /clusters/{name}/addons/{addon}", "DeleteAddon", s.hDeleteAddon},
		{"POST /clusters/{name}/addons/{addon}/update", "UpdateAddon", s.hUpdateAddon},
		{"GET /clusters/{name}/updates", "ListUpdates", s.hListUpdates},
		{"GET /clusters/{name}/updates/{id}", "DescribeUpdate", s.hDescribeUpdate},
		{"GET /addons/supported-versions", "DescribeAddonVersions", s.hDescribeAddonVersions},
		{"GET /addons/configuration-schemas", "DescribeAddonConfiguration", s.hDescribeAddonConfiguration},
		{"POST /podid/v1/clusters/{name}/tokens", "CreateClusterToken", s.hCreateToken},
	}
}

// buildMux registers the routes, the tag operations (whose ARN is one
// percent-encoded segment from the SDKs, or raw slashes from others), the
// association feed, and a catch-all that answers UnknownOperationException
// for every other method and path.
func (s *Service) buildMux() {
	s.mux = http.NewServeMux()
	s.ops = map[string]bool{}
	for _, rt := range s.routes() {
		s.ops[rt.name] = true
		s.mux.Handle(rt.pattern, s.operation(rt))
	}
	for _, op := range []string{"TagResource", "UntagResource", "ListTagsForResource"} {
		s.ops[op] = true
	}
	s.mux.HandleFunc("/tags/{arn...}", func(w http.ResponseWriter, r *http.Request) {
		s.serveTags(w, r, r.PathValue("arn"))
	})
	s.ops[OpAssociationEvents] = true
	s.mux.HandleFunc("GET /podid/v1/clusters/{name}/association-events", func(w http.ResponseWriter, r *http.Request) {
		awsproto.SetOperation(r.Context(), OpAssociationEvents)
		s.serveFeed(w, r, r.PathValue("name"))
	})
	unknown := func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, unknownOperation(r))
	}
	s.mux.HandleFunc("/", unknown)
	// Without it ServeMux would redirect /tags to /tags/ ({arn...}).
	s.mux.HandleFunc("/tags", unknown)
}

// operation adapts a route's handler: body read under the limit, JSON
// answer or EKS's error shape.
func (s *Service) operation(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		awsproto.SetOperation(r.Context(), rt.name)
		segs, _ := awsproto.PathSegments(r)
		body, err := readBody(w, r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out, err := rt.h(r.Context(), r, segs, body)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, r, out)
	})
}

// HandleExtension serves one more podid REST extension from the same
// ServeMux as the EKS API: pattern is a ServeMux pattern under /podid/v1/,
// with its method ("GET /podid/v1/x") or without (the handler answers
// every method), operation its name in metrics. The edge has verified SigV4 (service "eks") and put the
// caller in the context; the handler authorizes it. It panics on a
// pattern outside /podid/v1/ or one that conflicts with another, like
// http.ServeMux.Handle, so a wiring mistake stops the server at start.
func (s *Service) HandleExtension(pattern, operation string, h http.Handler) {
	path := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		path = p
	}
	if !strings.HasPrefix(path, ExtensionPrefix) || operation == "" {
		panic("eks: extension pattern " + pattern + " must be \"[METHOD ]/podid/v1/...\" with an operation name")
	}
	s.muxMu.Lock()
	defer s.muxMu.Unlock()
	s.ops[operation] = true
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		awsproto.SetOperation(r.Context(), operation)
		h.ServeHTTP(w, r)
	}))
}

// ServeHTTP serves the EKS API and podid's extensions. It routes on the
// raw, percent-encoded path (a resource ARN in /tags/{resourceArn} keeps
// its %2F) with a net/http ServeMux, and answers every failure, including
// unknown routes, with a restJson1 error.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := awsproto.PathSegments(r); !ok {
		s.writeError(w, r, unknownOperation(r))
		return
	}
	// Public issuer documents of hosted clusters (normally served by the
	// edge before authentication; answered here too for completeness).
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && s.issuer.IsPublicPath(r.URL.Path) {
		s.issuer.ServeHTTP(w, r)
		return
	}
	// ServeMux lets GET patterns answer HEAD; EKS has no HEAD operation.
	if r.Method == http.MethodHead {
		s.writeError(w, r, unknownOperation(r))
		return
	}
	// Leading and trailing slashes do not change the route (as they never
	// did); empty and dot segments, which ServeMux would redirect, match
	// no operation.
	raw := r.URL.EscapedPath()
	canon := "/" + strings.Trim(raw, "/")
	if strings.Contains(canon, "//") || hasDotSegment(canon) {
		s.writeError(w, r, unknownOperation(r))
		return
	}
	if canon != raw {
		r2 := *r
		u := *r.URL
		u.RawPath = canon
		u.Path, _ = url.PathUnescape(canon)
		r2.URL = &u
		r = &r2
	}
	s.mux.ServeHTTP(w, r)
}

func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
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

func (s *Service) hListUpdates(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	q := r.URL.Query()
	n, err := queryInt(q, "maxResults", p[1])
	if err != nil {
		return nil, err
	}
	return s.ListUpdates(ctx, &ListUpdatesInput{ClusterName: p[1], AddonName: q.Get("addonName"), NodegroupName: q.Get("nodegroupName"), MaxResults: n, NextToken: q.Get("nextToken")})
}

func (s *Service) hDescribeUpdate(ctx context.Context, r *http.Request, p []string, body []byte) (any, error) {
	q := r.URL.Query()
	return s.DescribeUpdate(ctx, &DescribeUpdateInput{ClusterName: p[1], UpdateID: p[3], AddonName: q.Get("addonName"), NodegroupName: q.Get("nodegroupName")})
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

// Descriptor registers EKS with the edge: restJson1, signed as "eks",
// regional, and the fallback for unsigned requests to any other path.
// podid's /podid/v1 extensions are EKS routes (see HandleExtension).
func (s *Service) Descriptor() awsproto.Service {
	return awsproto.Service{SigningName: "eks", Protocol: awsproto.ProtocolRestJSON,
		Handler: s, Operations: s.Operations(), UnsignedPaths: []string{"/"}}
}
