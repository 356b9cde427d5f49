// Package agentinstall installs the pod identity agent on external
// Kubernetes clusters podid can reach, as EKS's eks-pod-identity-agent
// add-on does, and reports the agent's health for the add-on's status.
//
// CreateAddon on such a cluster applies, with server-side apply and the
// field manager "podid", the ServiceAccount and DaemonSet
// kube-system/eks-pod-identity-agent (label
// app.kubernetes.io/name=eks-pod-identity-agent) running `podid agent`. By
// default each agent authenticates with its own projected token (audience
// k8s.AgentAudience), exchanged with podid for credentials of the cluster's
// agent role bound to its node, which the installer creates; with the
// configuration value agentAuth "secret" the agents share a least-privilege
// podid access key in a Secret instead, made when none exists. An agent DaemonSet that podid did not install (the Helm
// chart's, say) is adopted: podid reports its health but never changes or
// deletes it.
package agentinstall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/arn"
	"github.com/podid/podid/internal/eks"
	"github.com/podid/podid/internal/k8s"
	"github.com/podid/podid/internal/kubeapi"
	"github.com/podid/podid/internal/sharedcreds"
	"github.com/podid/podid/internal/store"
)

// Names of what the installer manages, as EKS names its add-on's objects.
const (
	Namespace      = "kube-system"
	Name           = "eks-pod-identity-agent"
	SecretName     = "podid-agent-credentials"
	FieldManager   = "podid"
	NameLabel      = "app.kubernetes.io/name"
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "podid"
	// AccessKeyAnnotation on the Secret names the access key in it, so
	// uninstalling revokes exactly that key.
	AccessKeyAnnotation = "podid.io/access-key-id"
)

// DefaultTimeout bounds one install or uninstall.
const DefaultTimeout = 20 * time.Second

// ProbeTimeout bounds a health probe, which runs inside DescribeAddon.
const ProbeTimeout = 5 * time.Second

// KeyMinter makes and revokes the podid access keys the installed agents
// call EKS Auth with. The server implements it with a least-privilege IAM
// user per cluster (AgentPolicy).
type KeyMinter interface {
	MintAgentKey(ctx context.Context, cluster string) (accessKeyID, secretAccessKey string, err error)
	RevokeAgentKey(ctx context.Context, cluster, accessKeyID string) error
}

// RoleMaker makes the agent role of a cluster (eksauth.AgentRoleName),
// which the agent exchange issues node-bound credentials of.
type RoleMaker interface {
	EnsureAgentRole(ctx context.Context, cluster string) error
}

// Agent authentication modes (the configuration value agentAuth).
const (
	// AuthToken: each agent's projected token (the default).
	AuthToken = "token"
	// AuthSecret: one shared access key in the Secret SecretName.
	AuthSecret = "secret"
)

// Where the agent's projected token is mounted, and its lifetime.
const (
	identityDir               = "/var/run/secrets/podid/agent"
	identityExpirationSeconds = 3600
)

// Config configures an Installer.
type Config struct {
	// Image is the podid container image the agent DaemonSet runs.
	Image string
	// Endpoint is the podid server URL the agents call (EKS Auth and the
	// change feed); it must be reachable from the cluster's nodes.
	Endpoint string
	// Region is the region the agents sign with.
	Region string
	// Keys makes the agents' access keys. When nil, the Secret
	// podid-agent-credentials must be created by other means.
	Keys KeyMinter
	// Roles makes the cluster's agent role, which agents obtain with their
	// projected tokens (the default). When nil, the role must be made by
	// other means (podid cluster register-self).
	Roles RoleMaker
	// Timeout bounds each operation (DefaultTimeout when 0).
	Timeout time.Duration
	Logger  *slog.Logger
	// LastAgentCall reports when an agent last called EKS Auth for a
	// cluster (eksauth.Service.LastCall). For clusters podid has no API
	// access to (hosted ones, and external ones registered without
	// kubernetesApi) it is the only sign of an agent: the add-on serves
	// once a call is at most AgentSeenWindow old. Nil counts such
	// clusters as served.
	LastAgentCall func(cluster string) (time.Time, bool)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// AgentSeenWindow is how recent an agent's call to EKS Auth must be for a
// cluster without API access to count as served: twice the agent's own
// readiness window (its probe asks at least every 2.5 minutes).
const AgentSeenWindow = 10 * time.Minute

// Installer implements eks.AgentInstaller and eks.AgentProbe for external
// clusters with API access.
type Installer struct {
	cfg Config
	log *slog.Logger

	clients kubeapi.ClientCache[kubernetes.Interface] // by cluster name
}

// New returns an Installer.
func New(cfg Config) (*Installer, error) {
	if cfg.Image == "" || cfg.Endpoint == "" || cfg.Region == "" {
		return nil, errors.New("agentinstall: Image, Endpoint and Region are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Installer{cfg: cfg, log: log}, nil
}

// AgentPolicy is the identity policy of a cluster's agents: exchanging the
// cluster's pod tokens and following its association feed, nothing else.
func AgentPolicy(partition, region, account, cluster string) string {
	if partition == "" {
		partition = "aws"
	}
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["eks-auth:AssumeRoleForPodIdentity","eks:ListPodIdentityAssociations"],"Resource":"%s"}]}`,
		arn.Cluster(partition, region, account, cluster).String())
}

// client returns a clientset for the cluster, reused while its access is
// unchanged.
func (i *Installer) client(access *eks.ClusterAccess) (kubernetes.Interface, error) {
	return i.clients.Get(access.Name, &access.Access, func(a *kubeapi.Access) (kubernetes.Interface, error) {
		cfg := a.RESTConfig("podid-agent-installer")
		cfg.Timeout = i.cfg.Timeout
		return kubernetes.NewForConfig(cfg)
	})
}

// managed reports whether podid installed an object.
func managed(m metav1.Object) bool {
	return m.GetLabels()[ManagedByLabel] == ManagedBy
}

// InstallAgent applies the agent's objects on the cluster. It runs to the
// end (within the timeout) even if the caller's request goes away, so an
// install is never left half done by a client disconnect.
func (i *Installer) InstallAgent(ctx context.Context, access *eks.ClusterAccess, addon *store.Addon) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.cfg.Timeout)
	defer cancel()
	values, err := ParseValues(addon.ConfigurationValues)
	if err != nil {
		return err // validated by CreateAddon and UpdateAddon already
	}
	kube, err := i.client(access)
	if err != nil {
		return err
	}
	ds, err := kube.AppsV1().DaemonSets(Namespace).Get(ctx, Name, metav1.GetOptions{})
	switch {
	case err == nil && !managed(ds):
		i.log.InfoContext(ctx, "adopting the agent DaemonSet podid did not install; leaving it unchanged", "cluster", access.Name)
		return nil
	case err != nil && !apierrors.IsNotFound(err):
		return installError(fmt.Errorf("reading DaemonSet %s/%s: %w", Namespace, Name, err))
	}
	if values.AgentAuth == AuthSecret {
		if err := i.ensureSecret(ctx, kube, access.Name); err != nil {
			return installError(err)
		}
	} else {
		if i.cfg.Roles != nil {
			if err := i.cfg.Roles.EnsureAgentRole(ctx, access.Name); err != nil {
				return fmt.Errorf("the agent role of %s: %w", access.Name, err)
			}
		}
		// Agents prove their node with their own tokens: a shared key left
		// by an earlier install goes, and its key is revoked.
		if err := i.removeSecret(ctx, kube, access.Name); err != nil {
			return installError(err)
		}
	}
	labels := map[string]string{NameLabel: Name, ManagedByLabel: ManagedBy}
	sa := corev1ac.ServiceAccount(Name, Namespace).WithLabels(labels).WithAutomountServiceAccountToken(false)
	if _, err := kube.CoreV1().ServiceAccounts(Namespace).Apply(ctx, sa, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return installError(fmt.Errorf("applying ServiceAccount %s/%s: %w", Namespace, Name, err))
	}
	want, err := i.daemonSet(access.Name, labels, values)
	if err != nil {
		return fmt.Errorf("agent DaemonSet: %w", err)
	}
	if _, err := kube.AppsV1().DaemonSets(Namespace).Apply(ctx, want, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return installError(fmt.Errorf("applying DaemonSet %s/%s: %w", Namespace, Name, err))
	}
	i.log.InfoContext(ctx, "installed the pod identity agent", "cluster", access.Name, "image", i.cfg.Image)
	return nil
}

// ensureSecret creates the agent's credentials Secret when it is missing
// and a KeyMinter is configured. An existing Secret is kept as it is.
func (i *Installer) ensureSecret(ctx context.Context, kube kubernetes.Interface, cluster string) error {
	_, err := kube.CoreV1().Secrets(Namespace).Get(ctx, SecretName, metav1.GetOptions{})
	if err == nil || i.cfg.Keys == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Secret %s/%s: %w", Namespace, SecretName, err)
	}
	id, secret, err := i.cfg.Keys.MintAgentKey(ctx, cluster)
	if err != nil {
		return fmt.Errorf("making the agent's access key: %w", err)
	}
	body := sharedcreds.Format(sharedcreds.Key{AccessKeyID: id, SecretAccessKey: secret})
	_, err = kube.CoreV1().Secrets(Namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: SecretName, Namespace: Namespace,
			Labels:      map[string]string{NameLabel: Name, ManagedByLabel: ManagedBy},
			Annotations: map[string]string{AccessKeyAnnotation: id},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"credentials": body},
	}, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		// The key is useless unless stored: take it back.
		if rerr := i.cfg.Keys.RevokeAgentKey(ctx, cluster, id); rerr != nil {
			i.log.ErrorContext(ctx, "revoking an unused agent access key", "cluster", cluster, "accessKeyId", id, "err", rerr)
		}
		if apierrors.IsAlreadyExists(err) {
			return nil // made meanwhile by someone else
		}
		return fmt.Errorf("creating Secret %s/%s: %w", Namespace, SecretName, err)
	}
	return nil
}

// daemonSet is the agent's DaemonSet, the same as the Helm chart's, with
// the add-on's configuration values applied.
func (i *Installer) daemonSet(cluster string, labels map[string]string, values *Values) (*appsv1ac.DaemonSetApplyConfiguration, error) {
	probe := func(path string, port, period int32) *corev1ac.ProbeApplyConfiguration {
		return corev1ac.Probe().WithPeriodSeconds(period).WithHTTPGet(
			corev1ac.HTTPGetAction().WithHost("localhost").WithPath(path).WithPort(intstr.FromInt32(port)))
	}
	shared := values.AgentAuth == AuthSecret
	args := []string{"agent", "--cluster-name=" + cluster, "--port=80", "--probe-port=2703", "--metrics-port=2705",
		"--endpoint=" + i.cfg.Endpoint, "--change-feed-endpoint=" + i.cfg.Endpoint}
	env := []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName("AWS_REGION").WithValue(i.cfg.Region),
		// The agent authenticates to podid only: never fall back to the
		// node's instance metadata (on EC2 it would hold the node's role).
		corev1ac.EnvVar().WithName("AWS_EC2_METADATA_DISABLED").WithValue("true"),
	}
	mount := corev1ac.VolumeMount().WithName("identity").WithMountPath(identityDir).WithReadOnly(true)
	// The agent's own identity: a token of its service account bound to
	// its pod (and so its node), for podid only.
	volume := corev1ac.Volume().WithName("identity").WithProjected(corev1ac.ProjectedVolumeSource().WithSources(
		corev1ac.VolumeProjection().WithServiceAccountToken(corev1ac.ServiceAccountTokenProjection().
			WithAudience(k8s.AgentAudience).WithExpirationSeconds(identityExpirationSeconds).WithPath("token"))))
	if shared {
		env = append(env, corev1ac.EnvVar().WithName("AWS_SHARED_CREDENTIALS_FILE").WithValue("/etc/podid/credentials/credentials"))
		// The Secret may be written after the agent started: re-read it.
		args = append(args, "--rotate-credentials")
		mount = corev1ac.VolumeMount().WithName("credentials").WithMountPath("/etc/podid/credentials").WithReadOnly(true)
		volume = corev1ac.Volume().WithName("credentials").WithSecret(corev1ac.SecretVolumeSource().WithSecretName(SecretName).WithOptional(true))
	} else {
		args = append(args, "--identity-token-file="+identityDir+"/token")
	}
	env = append(env, corev1ac.EnvVar().WithName("NODE_NAME").WithValueFrom(corev1ac.EnvVarSource().WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath("spec.nodeName"))))
	container := corev1ac.Container().
		WithName(Name).
		WithImage(i.cfg.Image).
		WithArgs(args...).
		WithEnv(env...).
		// No declared ports: under hostNetwork they would be host ports,
		// which keep a rollout's surge pod off the node.
		WithLivenessProbe(probe("/healthz", 2703, 10)).
		WithReadinessProbe(probe("/readyz", 2703, 5)).
		WithResources(corev1ac.ResourceRequirements().WithRequests(corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("25m"),
			corev1.ResourceMemory: resource.MustParse("32Mi"),
		})).
		// uid 0 with only two capabilities: Kubernetes sets no ambient
		// capabilities, so under podid image's user 65532 the agent would
		// hold neither (it could not bind port 80 nor add its addresses).
		WithSecurityContext(corev1ac.SecurityContext().
			WithRunAsUser(0).
			WithRunAsNonRoot(false).
			WithAllowPrivilegeEscalation(false).
			WithReadOnlyRootFilesystem(true).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL").WithAdd("NET_BIND_SERVICE", "NET_ADMIN")).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithVolumeMounts(mount)
	pod := corev1ac.PodSpec().
		WithServiceAccountName(Name).
		WithAutomountServiceAccountToken(false).
		WithHostNetwork(true).
		WithDNSPolicy(corev1.DNSClusterFirstWithHostNet).
		WithPriorityClassName("system-node-critical").
		WithTerminationGracePeriodSeconds(30).
		// As EKS's add-on: on every node, whatever its taints.
		WithTolerations(corev1ac.Toleration().WithOperator(corev1.TolerationOpExists)).
		WithVolumes(volume)
	tmpl := corev1ac.PodTemplateSpec()
	if err := applyValues(values, pod, tmpl, container); err != nil {
		return nil, err
	}
	// Set last: podid's own labels win over podLabels.
	tmpl.WithLabels(labels).WithSpec(pod.WithContainers(container))
	// The new agent starts next to the old one (SO_REUSEPORT) and the old
	// one drains: a node always has a listener during a rollout.
	maxSurge, maxUnavailable := intstr.FromString("10%"), intstr.FromInt32(0)
	return appsv1ac.DaemonSet(Name, Namespace).
		WithLabels(labels).
		WithSpec(appsv1ac.DaemonSetSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{NameLabel: Name})).
			WithUpdateStrategy(appsv1ac.DaemonSetUpdateStrategy().
				WithType(appsv1.RollingUpdateDaemonSetStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDaemonSet().WithMaxSurge(maxSurge).WithMaxUnavailable(maxUnavailable))).
			WithTemplate(tmpl)), nil
}

// UninstallAgent removes what InstallAgent made: the DaemonSet and
// ServiceAccount if podid installed them, and the credentials Secret if
// podid made it, revoking its access key. Adopted objects are left alone.
func (i *Installer) UninstallAgent(ctx context.Context, access *eks.ClusterAccess, _ *store.Addon) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), i.cfg.Timeout)
	defer cancel()
	kube, err := i.client(access)
	if err != nil {
		return err
	}
	ds, err := kube.AppsV1().DaemonSets(Namespace).Get(ctx, Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading DaemonSet %s/%s: %w", Namespace, Name, err)
	case !managed(ds):
		return nil // adopted: not ours to remove, and nor is its Secret
	default:
		if err := kube.AppsV1().DaemonSets(Namespace).Delete(ctx, Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting DaemonSet %s/%s: %w", Namespace, Name, err)
		}
	}
	if sa, err := kube.CoreV1().ServiceAccounts(Namespace).Get(ctx, Name, metav1.GetOptions{}); err == nil && managed(sa) {
		if err := kube.CoreV1().ServiceAccounts(Namespace).Delete(ctx, Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting ServiceAccount %s/%s: %w", Namespace, Name, err)
		}
	}
	if err := i.removeSecret(ctx, kube, access.Name); err != nil {
		return err
	}
	i.log.InfoContext(ctx, "uninstalled the pod identity agent", "cluster", access.Name)
	return nil
}

// removeSecret deletes the agents' shared-key Secret if the installer made
// it, revoking its access key. Only a Secret the installer made carries
// the key annotation; `podid cluster register-self --agent-identity=false`
// makes one with the same name that outlives the add-on.
func (i *Installer) removeSecret(ctx context.Context, kube kubernetes.Interface, cluster string) error {
	sec, err := kube.CoreV1().Secrets(Namespace).Get(ctx, SecretName, metav1.GetOptions{})
	if err != nil || !managed(sec) || sec.Annotations[AccessKeyAnnotation] == "" {
		return nil
	}
	if err := kube.CoreV1().Secrets(Namespace).Delete(ctx, SecretName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Secret %s/%s: %w", Namespace, SecretName, err)
	}
	if id := sec.Annotations[AccessKeyAnnotation]; i.cfg.Keys != nil {
		if err := i.cfg.Keys.RevokeAgentKey(ctx, cluster, id); err != nil {
			return fmt.Errorf("revoking the agent's access key: %w", err)
		}
	}
	return nil
}

// AgentHealth reports the agent's state: from its DaemonSet on clusters
// podid has API access to; on the others (hosted clusters, external ones
// registered without API access) from the agents' calls to EKS Auth.
func (i *Installer) AgentHealth(ctx context.Context, cluster string, access *eks.ClusterAccess) (eks.AgentHealth, error) {
	if access == nil || access.Endpoint == "" {
		return i.seenHealth(cluster), nil
	}
	ctx, cancel := context.WithTimeout(ctx, min(i.cfg.Timeout, ProbeTimeout))
	defer cancel()
	kube, err := i.client(access)
	if err != nil {
		return eks.AgentHealth{}, err
	}
	ds, err := kube.AppsV1().DaemonSets(Namespace).Get(ctx, Name, metav1.GetOptions{})
	if err != nil {
		return eks.AgentHealth{Issues: []eks.AddonIssue{apiIssue(err)}}, nil
	}
	return DaemonSetHealth(ds), nil
}

// seenHealth judges a cluster podid cannot look into: served when an
// agent called EKS Auth for it within AgentSeenWindow.
func (i *Installer) seenHealth(cluster string) eks.AgentHealth {
	if i.cfg.LastAgentCall == nil {
		return eks.AgentHealth{Serving: true}
	}
	if at, ok := i.cfg.LastAgentCall(cluster); ok && i.cfg.Now().Sub(at) <= AgentSeenWindow {
		return eks.AgentHealth{Serving: true}
	}
	return eks.AgentHealth{Issues: []eks.AddonIssue{{
		Code: "InsufficientNumberOfReplicas",
		Message: "No pod identity agent has called podid's EKS Auth for cluster " + cluster + " in the last " + AgentSeenWindow.String() +
			": run one (podid agent --cluster-name " + cluster + " --endpoint PODID-URL; podid dev runs its own).",
		ResourceIDs: []string{},
	}}}
}

// installError names an install failure's issue for the add-on's health:
// AccessDenied when podid's cluster credentials lack a permission,
// ClusterUnreachable otherwise.
func installError(err error) error {
	issue := eks.AddonIssue{Code: "ClusterUnreachable", Message: "podid could not install the agent on the cluster.", ResourceIDs: []string{}}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		issue = eks.AddonIssue{Code: "AccessDenied", Message: "podid's credentials for the cluster may not install the agent (it applies a ServiceAccount, a DaemonSet and a Secret in " + Namespace + ").", ResourceIDs: []string{Namespace + "/" + Name}}
	}
	return &eks.InstallError{Issue: issue, Err: err}
}

// apiIssue names a failed read of the agent DaemonSet as EKS's health
// issue codes do.
func apiIssue(err error) eks.AddonIssue {
	id := []string{Namespace + "/" + Name}
	switch {
	case apierrors.IsNotFound(err):
		return eks.AddonIssue{Code: "K8sResourceNotFound", Message: "DaemonSet " + Namespace + "/" + Name + " does not exist.", ResourceIDs: id}
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return eks.AddonIssue{Code: "AccessDenied", Message: "podid may not read DaemonSet " + Namespace + "/" + Name + " with the cluster's API credentials.", ResourceIDs: id}
	}
	return eks.AddonIssue{Code: "ClusterUnreachable", Message: "podid could not reach the cluster's API server.", ResourceIDs: []string{}}
}

// DaemonSetHealth judges an agent DaemonSet: serving once the controller
// has seen its current spec and every desired pod is updated and ready.
func DaemonSetHealth(ds *appsv1.DaemonSet) eks.AgentHealth {
	st := ds.Status
	if st.ObservedGeneration < ds.Generation {
		return eks.AgentHealth{} // the controller has not acted on the spec yet
	}
	desired := st.DesiredNumberScheduled
	if desired > 0 && st.NumberReady >= desired && st.UpdatedNumberScheduled >= desired {
		return eks.AgentHealth{Serving: true}
	}
	msg := fmt.Sprintf("%d of %d agent pods are ready and up to date.", min(st.NumberReady, st.UpdatedNumberScheduled), desired)
	if desired == 0 {
		msg = "No node runs the agent: the DaemonSet schedules no pods."
	}
	return eks.AgentHealth{Issues: []eks.AddonIssue{{Code: "InsufficientNumberOfReplicas", Message: msg, ResourceIDs: []string{Namespace + "/" + Name}}}}
}
