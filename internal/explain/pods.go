package explain

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podid/podid/internal/kubeapi"
	"github.com/podid/podid/internal/webhook"
)

// Pods reads a pod of a cluster podid reaches through its API server.
type Pods interface {
	// Pod returns the pod; ErrNoAPI when podid cannot reach the cluster,
	// ErrNoPod when the pod does not exist.
	Pod(ctx context.Context, cluster, namespace, name string) (*corev1.Pod, error)
}

// Errors of Pods.
var (
	ErrNoAPI = errors.New("explain: podid has no API access to the cluster")
	ErrNoPod = errors.New("explain: no such pod")
)

// ClusterAPIs returns the API access of a cluster (nil when podid has
// none).
type ClusterAPIs interface {
	ClusterAPI(ctx context.Context, cluster string) (*kubeapi.Access, error)
}

// KubePods reads pods with client-go, one client per cluster.
type KubePods struct {
	APIs    ClusterAPIs
	clients kubeapi.ClientCache[kubernetes.Interface]
}

// Pod implements Pods.
func (k *KubePods) Pod(ctx context.Context, cluster, namespace, name string) (*corev1.Pod, error) {
	access, err := k.APIs.ClusterAPI(ctx, cluster)
	if err != nil {
		return nil, fmt.Errorf("API access of cluster %s: %w", cluster, err)
	}
	if access == nil || access.Endpoint == "" {
		return nil, ErrNoAPI
	}
	c, err := k.clients.Get(cluster, access, func(a *kubeapi.Access) (kubernetes.Interface, error) {
		cfg := a.RESTConfig("podid-explain")
		cfg.ContentConfig = rest.ContentConfig{ContentType: "application/json", AcceptContentTypes: "application/json"}
		cfg.Timeout = 5 * time.Second
		return kubernetes.NewForConfig(cfg)
	})
	if err != nil {
		return nil, err
	}
	pod, err := c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, ErrNoPod
	}
	if err != nil {
		return nil, fmt.Errorf("reading pod %s/%s of cluster %s: %w", namespace, name, cluster, err)
	}
	return pod, nil
}

// podStep reports what the webhook did to a live pod: whether it carries
// the token volume and the credentials variables, and why not.
func podStep(e *Explanation, pod *corev1.Pod, associated bool) Step {
	hasVolume := false
	for _, v := range pod.Spec.Volumes {
		if v.Name == webhook.VolumeName {
			hasVolume = true
		}
	}
	hasEnv := false
	for _, c := range pod.Spec.Containers {
		for _, ev := range c.Env {
			if ev.Name == "AWS_CONTAINER_CREDENTIALS_FULL_URI" {
				hasEnv = true
			}
		}
	}
	sum := fmt.Sprintf("pod %s (uid %s, service account %s)", pod.Name, pod.UID, pod.Spec.ServiceAccountName)
	switch {
	case pod.Spec.ServiceAccountName != e.ServiceAccount && !(pod.Spec.ServiceAccountName == "" && e.ServiceAccount == "default"):
		return Step{Name: "pod", Status: StatusInfo, Summary: sum + ": runs as another service account than " + e.ServiceAccount}
	case hasVolume && hasEnv:
		return Step{Name: "pod", Status: StatusOK, Summary: sum + ": mutated by the webhook (token volume and credentials variables present)"}
	case hasLabel(pod, webhook.SkipLabel):
		return Step{Name: "pod", Status: StatusInfo, Summary: sum + ": opted out with the label " + webhook.SkipLabel}
	case associated:
		return Step{Name: "pod", Status: StatusRefused, Cause: CauseNotMutated, Summary: sum + ": not mutated by the webhook, so its SDKs find no credentials"}
	}
	return Step{Name: "pod", Status: StatusInfo, Summary: sum + ": not mutated by the webhook"}
}

func hasLabel(pod *corev1.Pod, k string) bool {
	_, ok := pod.Labels[k]
	return ok
}
