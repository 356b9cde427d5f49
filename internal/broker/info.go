package broker

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/podid/podid/internal/auth"
	"github.com/podid/podid/internal/awsproto"
)

// InfoPath is podid's extension that tells clients (podid trust-policy,
// podid doctor) which issuer a cluster uses and which principal its
// roles must trust. It is signed with SigV4 (service "eks") like the
// other /podid/v1 extensions.
const InfoPath = "/podid/v1/credential-issuer"

// InfoAction is the IAM action that guards InfoPath.
const InfoAction = "podid:DescribeCredentialIssuer"

// Info is InfoPath's answer.
type Info struct {
	// CredentialIssuer is the cluster's issuer (the default without
	// ?cluster=): "local" or "aws-sts".
	CredentialIssuer string `json:"credentialIssuer"`
	// Default is the server-wide issuer.
	Default string `json:"default"`
	Cluster string `json:"cluster,omitempty"`
	// Principal is what the cluster's roles must trust.
	Principal Principal `json:"principal"`
	// CallerARN and Account describe the broker's AWS identity (aws-sts).
	CallerARN   string `json:"callerArn,omitempty"`
	Account     string `json:"account,omitempty"`
	Region      string `json:"region,omitempty"`
	STSEndpoint string `json:"stsEndpoint,omitempty"`
}

// Authorizer decides whether a caller may read the issuer information.
type Authorizer interface {
	Authorize(ctx context.Context, p *auth.Principal, action, resource string, extra map[string][]string) error
}

// InfoHandler serves InfoPath.
type InfoHandler struct {
	Dispatch   *Dispatch
	Authorizer Authorizer
}

var clusterParamRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$`)

// Describe returns the issuer information of cluster ("" for the default).
func (h *InfoHandler) Describe(ctx context.Context, cluster string) (*Info, error) {
	d := h.Dispatch
	info := &Info{Default: d.Default, Cluster: cluster}
	if info.Default == "" {
		info.Default = IssuerLocal
	}
	name, err := d.IssuerFor(ctx, cluster)
	if err != nil {
		var ae *awsproto.Error
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, awsproto.Internal("InternalFailure", err)
	}
	info.CredentialIssuer = name
	if name == IssuerLocal {
		info.Principal = Principal{Service: ServicePrincipal}
		return info, nil
	}
	id, err := d.Broker.Identity(ctx)
	if err != nil {
		code := "unreachable"
		if ae, ok := errorInfo(err); ok {
			code = ae.code
		}
		return nil, &awsproto.Error{Code: "ServiceUnavailableException", Status: http.StatusServiceUnavailable,
			Message: "The broker could not determine its AWS identity: sts:GetCallerIdentity failed (" + code + ").", Cause: err}
	}
	info.Principal = Principal{AWS: id.PrincipalARN}
	info.CallerARN, info.Account = id.CallerARN, id.Account
	info.Region, info.STSEndpoint = d.Broker.Region(), d.Broker.STSEndpoint()
	return info, nil
}

// ServeHTTP answers GET InfoPath[?cluster=NAME] in restJson1.
func (h *InfoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.RequestIDFrom(r.Context())
	if r.Method != http.MethodGet {
		awsproto.WriteJSONError(w, reqID, awsproto.Errorf(http.StatusMethodNotAllowed, "UnknownOperationException", "%s requires GET.", InfoPath))
		return
	}
	p := auth.PrincipalFrom(r.Context())
	if p == nil {
		awsproto.WriteJSONError(w, reqID, awsproto.Errorf(http.StatusForbidden, "AccessDeniedException", "Request is missing Authentication Token"))
		return
	}
	if err := h.Authorizer.Authorize(r.Context(), p, InfoAction, "*", nil); err != nil {
		var d *auth.DeniedError
		if errors.As(err, &d) {
			awsproto.WriteJSONError(w, reqID, awsproto.Errorf(http.StatusForbidden, "AccessDeniedException", "%s", d.Message))
			return
		}
		awsproto.WriteJSONError(w, reqID, awsproto.Internal("InternalFailure", err))
		return
	}
	cluster := r.URL.Query().Get("cluster")
	if cluster != "" && !clusterParamRE.MatchString(cluster) {
		awsproto.WriteJSONError(w, reqID, awsproto.Errorf(http.StatusBadRequest, "InvalidParameterException", "The cluster name is not valid."))
		return
	}
	info, err := h.Describe(r.Context(), cluster)
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = awsproto.Internal("InternalFailure", err)
		}
		awsproto.WriteJSONError(w, reqID, ae)
		return
	}
	awsproto.WriteJSON(w, http.StatusOK, reqID, info)
}

// InfoOperation names InfoPath's operation in request metrics.
const InfoOperation = "GetCredentialIssuer"
