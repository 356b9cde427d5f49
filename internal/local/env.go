package local

import (
	"fmt"
	"os"
	"strings"
)

// TokenFileName is the token file's name, as EKS's webhook names it
// (/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token).
const TokenFileName = "eks-pod-identity-token"

// PodEnv is what a pod of a service account finds in its environment.
type PodEnv struct {
	// Endpoint is the server's base URL (AWS_ENDPOINT_URL), so that the
	// command's AWS calls reach podid; empty in broker mode, where the
	// pod's credentials are AWS's and its calls go to AWS.
	Endpoint string
	// Region is the cluster's region (AWS_REGION and AWS_DEFAULT_REGION).
	Region string
	// CredentialsURI is the agent's credentials URL
	// (AWS_CONTAINER_CREDENTIALS_FULL_URI).
	CredentialsURI string
	// TokenFile is the pod's token file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
	TokenFile string
	// Extra are KEY=VALUE variables the caller asked for (podid exec
	// --env), set last: one replaces a variable of the same name, in its
	// place. Check them with CheckExtraEnv.
	Extra []string
}

// ChildEnv returns base with every AWS_ variable removed and the pod's
// variables added: the ones EKS's webhook injects, the endpoint, and
// settings that keep the caller's own AWS configuration out (shared
// files set to the null device, IMDS off), then p.Extra. So, unless
// p.Extra says otherwise, the command's SDK resolves exactly one
// credential source, the agent.
func ChildEnv(base []string, p PodEnv) []string {
	out := make([]string, 0, len(base)+10+len(p.Extra))
	for _, kv := range base {
		if strings.HasPrefix(kv, "AWS_") {
			continue
		}
		out = append(out, kv)
	}
	out = append(out,
		// What the webhook injects into a pod's containers.
		"AWS_STS_REGIONAL_ENDPOINTS=regional",
		"AWS_DEFAULT_REGION="+p.Region,
		"AWS_REGION="+p.Region,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI="+p.CredentialsURI,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+p.TokenFile,
	)
	if p.Endpoint != "" {
		// Local mode: every service at podid.
		out = append(out, "AWS_ENDPOINT_URL="+p.Endpoint)
	}
	out = append(out,
		// Nothing of the caller's.
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	for _, kv := range p.Extra {
		out = setEnv(out, kv)
	}
	return out
}

// setEnv sets the variable KEY=VALUE in env: in place of the first
// variable named KEY (dropping any later ones), else at the end.
func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	prefix := key + "="
	out := env[:0]
	done := false
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
			continue
		}
		if !done {
			out = append(out, kv)
			done = true
		}
	}
	if !done {
		out = append(out, kv)
	}
	return out
}

// CheckExtraEnv checks variables given as KEY=VALUE: each needs a name
// before its "=", and neither may hold a NUL byte (which no environment
// can carry).
func CheckExtraEnv(kvs []string) error {
	for _, kv := range kvs {
		key, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return fmt.Errorf("%q is not KEY=VALUE", kv)
		case key == "":
			return fmt.Errorf("%q names no variable before its =", kv)
		case strings.ContainsRune(kv, 0):
			return fmt.Errorf("%q holds a NUL byte, which no environment can carry", kv)
		}
	}
	return nil
}
