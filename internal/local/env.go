package local

import (
	"os"
	"strings"
)

// TokenFileName is the token file's name, as EKS's webhook names it
// (/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token).
const TokenFileName = "eks-pod-identity-token"

// PodEnv is what a pod of a service account finds in its environment.
type PodEnv struct {
	// Endpoint is the server's base URL (AWS_ENDPOINT_URL), so that the
	// command's AWS calls reach podid.
	Endpoint string
	// Region is the cluster's region (AWS_REGION and AWS_DEFAULT_REGION).
	Region string
	// CredentialsURI is the agent's credentials URL
	// (AWS_CONTAINER_CREDENTIALS_FULL_URI).
	CredentialsURI string
	// TokenFile is the pod's token file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
	TokenFile string
}

// ChildEnv returns base with every AWS_ variable removed and the pod's
// variables added: the ones EKS's webhook injects, the endpoint, and
// settings that keep the caller's own AWS configuration out (shared
// files set to the null device, IMDS off). So the command's SDK resolves
// exactly one credential source, the agent.
func ChildEnv(base []string, p PodEnv) []string {
	out := make([]string, 0, len(base)+10)
	for _, kv := range base {
		if strings.HasPrefix(kv, "AWS_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		// What the webhook injects into a pod's containers.
		"AWS_STS_REGIONAL_ENDPOINTS=regional",
		"AWS_DEFAULT_REGION="+p.Region,
		"AWS_REGION="+p.Region,
		"AWS_CONTAINER_CREDENTIALS_FULL_URI="+p.CredentialsURI,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+p.TokenFile,
		// Local mode: every service at podid, and nothing of the caller's.
		"AWS_ENDPOINT_URL="+p.Endpoint,
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	)
}
