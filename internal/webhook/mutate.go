// Package webhook mutates pods exactly as EKS's Pod Identity webhook does:
// for a pod whose service account has an association, it adds the projected
// token volume, a read-only mount of it in every container and init
// container, the five AWS environment variables in EKS's order, and the
// pod-identity label. Mutate is a pure function from pod and settings to a
// JSON patch; the HTTP adapter and TLS live beside it.
package webhook

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Names and values EKS uses.
const (
	Audience          = "pods.eks.amazonaws.com"
	VolumeName        = "eks-pod-identity-token"
	TokenPath         = "eks-pod-identity-token"
	MountPath         = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
	FullURIv4         = "http://169.254.170.23/v1/credentials"
	FullURIv6         = "http://[fd00:ec2::23]/v1/credentials"
	DefaultExpiration = int64(86400)
	// MinExpiration is the shortest token lifetime a pod may ask for.
	MinExpiration = int64(600)

	LabelKey             = "eks.amazonaws.com/pod-identity"
	LabelValue           = "enabled"
	SkipLabel            = "eks.amazonaws.com/skip-pod-identity-webhook"
	SkipContainersAnnot  = "eks.amazonaws.com/skip-containers"
	TokenExpirationAnnot = "eks.amazonaws.com/token-expiration"

	envRegionalSTS = "AWS_STS_REGIONAL_ENDPOINTS"
	envDefRegion   = "AWS_DEFAULT_REGION"
	envRegion      = "AWS_REGION"
	envFullURI     = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	envTokenFile   = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
)

// Settings configure the mutation.
type Settings struct {
	// Region is the cluster's region (AWS_REGION, AWS_DEFAULT_REGION); no
	// region variables are injected when empty.
	Region string
	// RegionalSTS injects AWS_STS_REGIONAL_ENDPOINTS=regional.
	RegionalSTS bool
	// IPv6 injects the agent's IPv6 address in the credentials URI.
	IPv6 bool
	// Expiration is the projected token's lifetime in seconds
	// (DefaultExpiration when 0).
	Expiration int64
}

// PatchOp is one JSON Patch (RFC 6902) operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Mutate returns the JSON patch that gives pod Pod Identity, or nil when
// the pod opts out. The caller has already established that the pod's
// service account has an association.
func Mutate(pod *corev1.Pod, s Settings) []PatchOp {
	if _, skip := pod.Labels[SkipLabel]; skip {
		return nil
	}
	var ops []PatchOp
	if len(pod.Labels) == 0 {
		ops = append(ops, PatchOp{Op: "add", Path: "/metadata/labels", Value: map[string]string{LabelKey: LabelValue}})
	} else if pod.Labels[LabelKey] != LabelValue {
		ops = append(ops, PatchOp{Op: "add", Path: "/metadata/labels/" + escapePointer(LabelKey), Value: LabelValue})
	}

	hasVolume := false
	for _, v := range pod.Spec.Volumes {
		if v.Name == VolumeName {
			hasVolume = true
			break
		}
	}
	if !hasVolume {
		vol := tokenVolume(expiration(pod, s))
		if len(pod.Spec.Volumes) == 0 {
			ops = append(ops, PatchOp{Op: "add", Path: "/spec/volumes", Value: []corev1.Volume{vol}})
		} else {
			ops = append(ops, PatchOp{Op: "add", Path: "/spec/volumes/0", Value: vol})
		}
	}

	skip := skipContainers(pod.Annotations[SkipContainersAnnot])
	tokenFile := MountPath + "/" + TokenPath
	if isWindows(pod) {
		tokenFile = `C:\var\run\secrets\pods.eks.amazonaws.com\serviceaccount\` + TokenPath
	}
	containers, changed := mutateContainers(pod.Spec.Containers, skip, s, tokenFile)
	if changed {
		ops = append(ops, PatchOp{Op: "add", Path: "/spec/containers", Value: containers})
	}
	if len(pod.Spec.InitContainers) > 0 {
		inits, changed := mutateContainers(pod.Spec.InitContainers, skip, s, tokenFile)
		if changed {
			ops = append(ops, PatchOp{Op: "add", Path: "/spec/initContainers", Value: inits})
		}
	}
	return ops
}

func tokenVolume(exp int64) corev1.Volume {
	return corev1.Volume{
		Name: VolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          Audience,
				ExpirationSeconds: &exp,
				Path:              TokenPath,
			}}},
		}},
	}
}

func expiration(pod *corev1.Pod, s Settings) int64 {
	exp := s.Expiration
	if exp == 0 {
		exp = DefaultExpiration
	}
	if v, ok := pod.Annotations[TokenExpirationAnnot]; ok {
		if n, ok := parseInt(v); ok {
			exp = max(n, MinExpiration)
		}
	}
	return exp
}

func parseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func skipContainers(annot string) map[string]bool {
	if strings.TrimSpace(annot) == "" {
		return nil
	}
	recs, err := csv.NewReader(strings.NewReader(annot)).ReadAll()
	if err != nil {
		return nil
	}
	m := map[string]bool{}
	for _, rec := range recs {
		for _, n := range rec {
			m[strings.TrimSpace(n)] = true
		}
	}
	return m
}

func isWindows(pod *corev1.Pod) bool {
	return pod.Spec.NodeSelector["kubernetes.io/os"] == "windows" || pod.Spec.NodeSelector["beta.kubernetes.io/os"] == "windows"
}

// mutateContainers applies the per-container rules (spec §5.2-5.3) to a
// copy of cs and reports whether anything changed.
func mutateContainers(cs []corev1.Container, skip map[string]bool, s Settings, tokenFile string) ([]corev1.Container, bool) {
	out := make([]corev1.Container, len(cs))
	changed := false
	for i, c := range cs {
		c = *c.DeepCopy()
		out[i] = c
		if skip[c.Name] {
			continue
		}
		has := map[string]bool{}
		for _, e := range c.Env {
			has[e.Name] = true
		}
		hasCreds := has[envFullURI] || has[envTokenFile]
		hasRegion := has[envRegion] || has[envDefRegion]
		hasSTS := has[envRegionalSTS]
		if hasCreds && hasRegion && hasSTS {
			continue // left completely untouched, mount included
		}
		if s.RegionalSTS && !hasSTS {
			c.Env = append(c.Env, corev1.EnvVar{Name: envRegionalSTS, Value: "regional"})
		}
		if s.Region != "" && !hasRegion {
			c.Env = append(c.Env, corev1.EnvVar{Name: envDefRegion, Value: s.Region}, corev1.EnvVar{Name: envRegion, Value: s.Region})
		}
		if !hasCreds {
			uri := FullURIv4
			if s.IPv6 {
				uri = FullURIv6
			}
			c.Env = append(c.Env, corev1.EnvVar{Name: envFullURI, Value: uri}, corev1.EnvVar{Name: envTokenFile, Value: tokenFile})
		}
		hasMount := false
		for _, m := range c.VolumeMounts {
			if m.Name == VolumeName {
				hasMount = true
				break
			}
		}
		if !hasMount {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeName, ReadOnly: true, MountPath: MountPath})
		}
		out[i] = c
		changed = true
	}
	return out, changed
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// ApplyPatch applies a patch produced by Mutate to a copy of pod. It
// understands exactly the operations Mutate emits, which is what `podid
// mutate` needs to print the pod a cluster would store.
func ApplyPatch(pod *corev1.Pod, ops []PatchOp) (*corev1.Pod, error) {
	p := pod.DeepCopy()
	for _, op := range ops {
		b, err := json.Marshal(op.Value)
		if err != nil {
			return nil, err
		}
		switch {
		case op.Op != "add":
			return nil, fmt.Errorf("unsupported patch operation %q", op.Op)
		case op.Path == "/spec/containers":
			p.Spec.Containers = nil
			err = json.Unmarshal(b, &p.Spec.Containers)
		case op.Path == "/spec/initContainers":
			p.Spec.InitContainers = nil
			err = json.Unmarshal(b, &p.Spec.InitContainers)
		case op.Path == "/spec/volumes":
			p.Spec.Volumes = nil
			err = json.Unmarshal(b, &p.Spec.Volumes)
		case op.Path == "/spec/volumes/0":
			var v corev1.Volume
			err = json.Unmarshal(b, &v)
			p.Spec.Volumes = append([]corev1.Volume{v}, p.Spec.Volumes...)
		case op.Path == "/metadata/labels":
			p.Labels = nil
			err = json.Unmarshal(b, &p.Labels)
		case strings.HasPrefix(op.Path, "/metadata/labels/"):
			if p.Labels == nil {
				p.Labels = map[string]string{}
			}
			key := strings.NewReplacer("~1", "/", "~0", "~").Replace(strings.TrimPrefix(op.Path, "/metadata/labels/"))
			var v string
			err = json.Unmarshal(b, &v)
			p.Labels[key] = v
		default:
			return nil, fmt.Errorf("unsupported patch path %q", op.Path)
		}
		if err != nil {
			return nil, fmt.Errorf("applying %s: %w", op.Path, err)
		}
	}
	return p, nil
}
