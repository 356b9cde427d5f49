package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fakeEKSAuth answers AssumeRoleForPodIdentity for any token after a
// configurable delay, and counts calls. It does not check signatures.
type fakeEKSAuth struct {
	url   string
	srv   *http.Server
	calls atomic.Int64
	delay atomic.Int64 // nanoseconds

	mu        sync.Mutex
	durations []time.Duration
}

func newFakeEKSAuth() *fakeEKSAuth {
	f := &fakeEKSAuth{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	f.url = "http://" + ln.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve)}
	go f.srv.Serve(ln)
	return f
}

func (f *fakeEKSAuth) close() { f.srv.Close() }

func (f *fakeEKSAuth) setDelay(d time.Duration) { f.delay.Store(int64(d)) }

// takeDurations returns and clears the recorded call durations.
func (f *fakeEKSAuth) takeDurations() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.durations
	f.durations = nil
	return d
}

func (f *fakeEKSAuth) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	f.calls.Add(1)
	var in struct {
		Token string `json:"token"`
	}
	body, _ := io.ReadAll(r.Body)
	if json.Unmarshal(body, &in) != nil {
		http.Error(w, `{"message":"bad body"}`, 400)
		return
	}
	ns, sa, uid := claimsOf(in.Token)
	if d := time.Duration(f.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"subject":{"namespace":%q,"serviceAccount":%q},"audience":"pods.eks.amazonaws.com",`+
		`"podIdentityAssociation":{"associationArn":"arn:aws:eks:us-east-1:111122223333:podidentityassociation/bench/a-abcdefghijklmnop1","associationId":"a-abcdefghijklmnop1"},`+
		`"assumedRoleUser":{"arn":"arn:aws:sts::111122223333:assumed-role/bench/eks-bench-%s","assumeRoleId":"AROAEXAMPLE:eks-bench"},`+
		`"credentials":{"sessionToken":"%s","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","accessKeyId":"ASIAIOSFODNN7EXAMPLE","expiration":%d}}`,
		ns, sa, uid, sessionToken, time.Now().Add(6*time.Hour).Unix())
	f.mu.Lock()
	f.durations = append(f.durations, time.Since(start))
	f.mu.Unlock()
}

// sessionToken stands in for an STS session token (real ones are longer;
// the credentials body is 232 bytes with this one).
var sessionToken = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENFORBENCHMARKSONLY0123456789abcdef"

// claimsOf reads the namespace, service account and pod UID of a token
// without verifying it.
func claimsOf(tok string) (ns, sa, uid string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", "", ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", "", ""
	}
	var c struct {
		K8s struct {
			Namespace string `json:"namespace"`
			Pod       struct {
				UID string `json:"uid"`
			} `json:"pod"`
			SA struct {
				Name string `json:"name"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	json.Unmarshal(b, &c)
	return c.K8s.Namespace, c.K8s.SA.Name, c.K8s.Pod.UID
}

var (
	tokenHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"Z3Vlc3Mgd2hhdCB0aGlzIGlzIGEga2V5IGlkIG9r"}`))
	tokenSig    = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\x8f\x11\xa3", 86))[:256])
)

// podToken builds a kubelet-shaped token (about 1.1 KB) for pod n.
func podToken(n int64) string {
	now := time.Now()
	payload := fmt.Sprintf(`{"aud":["pods.eks.amazonaws.com"],"exp":%d,"iat":%d,"iss":"https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",`+
		`"jti":"7f6c1a2b-%08x-4c1d-9e8f-0123456789ab","kubernetes.io":{"namespace":"bench","node":{"name":"ip-10-42-1-23.us-east-1.compute.internal","uid":"6b1c7a9e-1111-4b7e-8f0a-0123456789ab"},`+
		`"pod":{"name":"bench-7c9d8b6d4-%08x","uid":"0b5e%04x-2222-4c3d-8e9f-%012d"},"serviceaccount":{"name":"bench-sa","uid":"4f1a2b3c-3333-4d5e-9f60-0123456789ab"}},`+
		`"nbf":%d,"sub":"system:serviceaccount:bench:bench-sa"}`,
		now.Add(24*time.Hour).Unix(), now.Unix(), n, n, n&0xffff, n, now.Unix())
	return tokenHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + tokenSig
}
