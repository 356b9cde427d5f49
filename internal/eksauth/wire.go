package eksauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/podid/podid/internal/awsproto"
)

// maxBodyBytes bounds the request body: the token (at most
// k8s.MaxTokenBytes) and its JSON framing.
const maxBodyBytes = 64 << 10

// Operation is the one operation EKS Auth serves, as its request metrics
// name it.
const Operation = "AssumeRoleForPodIdentity"

// ServeHTTP serves POST /clusters/{clusterName}/assume-role-for-pod-identity
// (restJson1). The edge has verified SigV4 and put the caller in the
// context.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := awsproto.RequestIDFrom(r.Context())
	segs, ok := awsproto.PathSegments(r)
	if ok && len(segs) == 5 && segs[0] == "podid" && segs[1] == "v1" && segs[2] == "clusters" && segs[4] == "assume-role-for-agent" {
		s.serveAgent(w, r, segs[3])
		return
	}
	if !ok || len(segs) != 3 || segs[0] != "clusters" || segs[2] != "assume-role-for-pod-identity" {
		awsproto.WriteJSONError(w, reqID, errf(http.StatusNotFound, "UnknownOperationException", "The requested operation is not supported by EKS Auth."))
		return
	}
	awsproto.SetOperation(r.Context(), Operation)
	if r.Method != http.MethodPost {
		awsproto.WriteJSONError(w, reqID, errf(http.StatusMethodNotAllowed, "UnknownOperationException", "AssumeRoleForPodIdentity requires POST."))
		return
	}
	in, aerr := decodeInput(r.Body, r.ContentLength, segs[1])
	if aerr != nil {
		s.auditRequestRefusal(r.Context(), segs[1], aerr)
		awsproto.WriteJSONError(w, reqID, aerr)
		return
	}
	out, err := s.AssumeRoleForPodIdentity(r.Context(), in)
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = awsproto.Internal("InternalServerException", err)
		}
		if ae.Status >= 500 {
			s.cfg.Logger.ErrorContext(r.Context(), "AssumeRoleForPodIdentity failed", "requestId", reqID, "cluster", truncate(segs[1], 100), "code", ae.Code, "err", ae.Cause)
		}
		awsproto.WriteJSONError(w, reqID, ae)
		return
	}
	awsproto.WriteJSON(w, http.StatusOK, reqID, out)
}

// decodeInput reads the JSON body {"token": "..."}. Unknown members are
// ignored, as AWS services do. size is the Content-Length (-1: unknown).
func decodeInput(body io.Reader, size int64, cluster string) (*Input, *awsproto.Error) {
	if size < 0 || size > maxBodyBytes {
		size = 0
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(body, maxBodyBytes+1)); err != nil {
		return nil, invalidParameter("The request body could not be read.")
	}
	b := buf.Bytes()
	if len(b) > maxBodyBytes {
		return nil, invalidParameter("The request body is larger than %d bytes.", maxBodyBytes)
	}
	if tok, ok := fastToken(b); ok {
		return &Input{ClusterName: cluster, Token: tok}, nil
	}
	var req struct {
		Token *string `json:"token"`
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, invalidParameter("The request body must be a JSON object whose token member is a string.")
		}
	}
	if req.Token == nil {
		return nil, invalidParameter("The token parameter is required.")
	}
	return &Input{ClusterName: cluster, Token: *req.Token}, nil
}

// fastToken reads the body every SDK sends, {"token":"<JWS>"} with
// optional whitespace, without encoding/json, which scans a 1 KB string
// twice byte by byte. It accepts only a token of base64url characters,
// '.' and '=' (no escapes), for which the JSON string is the token itself;
// anything else (other members, escapes, duplicates) is left to
// encoding/json. FuzzFastToken checks that both agree.
func fastToken(b []byte) (string, bool) {
	i := skipSpace(b, 0)
	const key = `"token"`
	if i >= len(b) || b[i] != '{' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if len(b)-i < len(key) || string(b[i:i+len(key)]) != key {
		return "", false
	}
	i = skipSpace(b, i+len(key))
	if i >= len(b) || b[i] != ':' {
		return "", false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '"' {
		return "", false
	}
	start := i + 1
	j := start
	for j < len(b) && isTokenByte(b[j]) {
		j++
	}
	if j >= len(b) || b[j] != '"' {
		return "", false
	}
	end := j
	k := skipSpace(b, j+1)
	if k >= len(b) || b[k] != '}' || skipSpace(b, k+1) != len(b) {
		return "", false
	}
	return string(b[start:end]), true
}

func isTokenByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '='
}

// skipSpace skips JSON whitespace from i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Descriptor registers EKS Auth with the edge: restJson1, signed as
// "eks-auth", regional; unsigned requests to AssumeRoleForPodIdentity's
// path get its refusal, and the agent exchange (AgentPathPattern) is
// answered unsigned: its token authenticates it.
func (s *Service) Descriptor() awsproto.Service {
	return awsproto.Service{SigningName: "eks-auth", Protocol: awsproto.ProtocolRestJSON,
		Handler: s, Operations: []string{Operation, AgentOperation},
		UnsignedPaths:  []string{"/clusters/{name}/assume-role-for-pod-identity", AgentPathPattern},
		AnonymousPaths: []string{AgentPathPattern}}
}
