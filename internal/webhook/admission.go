package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxAdmissionBytes bounds an AdmissionReview body. The API server's own
// request limit is 3 MiB; a pod spec is far smaller.
const MaxAdmissionBytes = 3 << 20

// AssociationSet answers whether a service account has an association in
// this cluster. Ready is false until the set has been loaded, so the
// webhook can tell "no association" from "cannot decide".
type AssociationSet interface {
	Has(namespace, serviceAccount string) bool
	Ready() bool
}

// EventRecorder records a Kubernetes Event about an object.
type EventRecorder interface {
	Event(ctx context.Context, about corev1.ObjectReference, reason, message string)
}

// Handler serves the mutating admission webhook.
type Handler struct {
	Settings     Settings
	Associations AssociationSet
	Events       EventRecorder // may be nil
	Logger       *slog.Logger
	Metrics      *Metrics
}

// Metrics are the webhook's Prometheus metrics.
type Metrics struct {
	admissions *prometheus.CounterVec
	latency    prometheus.Histogram
}

// NewMetrics registers the webhook's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podid_webhook_admissions_total",
			Help: "Pod admissions by result: mutated, skipped (no association or opted out), undecided (associations not loaded), invalid.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "podid_webhook_admission_duration_seconds",
			Help:    "Time to answer an admission review.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .002, .005, .01, .05},
		}),
	}
	reg.MustRegister(m.admissions, m.latency)
	return m
}

func (m *Metrics) count(result string) {
	if m != nil {
		m.admissions.WithLabelValues(result).Inc()
	}
}

// ServeHTTP answers an AdmissionReview (admission.k8s.io/v1).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAdmissionBytes))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		h.Metrics.count("invalid")
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := h.Review(r.Context(), review.Request)
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	if out.APIVersion == "" {
		out.APIVersion, out.Kind = "admission.k8s.io/v1", "AdmissionReview"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// Review decides one admission request. It always allows the pod: the
// webhook only adds Pod Identity, it never blocks a pod.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create || req.SubResource != "" {
		h.Metrics.count("skipped")
		return resp
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		h.Metrics.count("invalid")
		resp.Result = &metav1.Status{Message: "podid webhook: pod could not be decoded; not mutated"}
		return resp
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	dryRun := req.DryRun != nil && *req.DryRun
	if h.Associations == nil || !h.Associations.Ready() {
		h.Metrics.count("undecided")
		h.logger().Warn("admitting pod without Pod Identity: associations not loaded yet", "namespace", ns, "serviceAccount", sa)
		if about, what, ok := eventSubject(&pod, ns); h.Events != nil && !dryRun && ok {
			h.Events.Event(ctx, about, "PodIdentityUndecided", "podid webhook could not decide (associations not loaded); "+what+" admitted without Pod Identity")
		}
		return resp
	}
	if !h.Associations.Has(ns, sa) {
		h.Metrics.count("skipped")
		return resp
	}
	ops := Mutate(&pod, h.Settings)
	if len(ops) == 0 {
		h.Metrics.count("skipped")
		return resp
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		h.Metrics.count("invalid")
		return resp
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	h.Metrics.count("mutated")
	return resp
}

// eventSubject is what an Event about an admitted pod is recorded on: the
// pod when it has a name, else its controller (a ReplicaSet, a Job, …),
// because a pod created from a template has only generateName while it is
// admitted. what names the pod in the message.
func eventSubject(pod *corev1.Pod, ns string) (about corev1.ObjectReference, what string, ok bool) {
	if pod.Name != "" {
		return corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID}, "pod", true
	}
	if c := metav1.GetControllerOf(pod); c != nil {
		return corev1.ObjectReference{APIVersion: c.APIVersion, Kind: c.Kind, Namespace: ns, Name: c.Name, UID: c.UID},
			"a pod (" + pod.GenerateName + "…)", true
	}
	return corev1.ObjectReference{}, "", false
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// MemorySet is an AssociationSet kept in memory, fed by the association
// change feed. When the feed starts over (Reset), the associations it
// resends are gathered apart and replace the current ones only once the
// feed says it is in sync again, so admissions in between are decided
// with the last complete set rather than a partial one.
type MemorySet struct {
	mu    sync.RWMutex
	ready bool
	live  assocIndex
	next  *assocIndex // being rebuilt after a Reset; nil otherwise
}

// assocIndex maps associations to the service accounts they cover.
type assocIndex struct {
	ids   map[string]string // association ID → namespace/serviceAccount
	count map[string]int    // namespace/serviceAccount → associations
}

func newAssocIndex() assocIndex {
	return assocIndex{ids: map[string]string{}, count: map[string]int{}}
}

// NewMemorySet returns an empty, not yet ready set.
func NewMemorySet() *MemorySet {
	return &MemorySet{live: newAssocIndex()}
}

// Has implements AssociationSet.
func (s *MemorySet) Has(namespace, serviceAccount string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.live.count[namespace+"/"+serviceAccount] > 0
}

// Ready implements AssociationSet.
func (s *MemorySet) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ready
}

// SetReady marks the set as loaded: the feed is in sync. After a Reset,
// the rebuilt associations replace the old ones now.
func (s *MemorySet) SetReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next != nil {
		s.live, s.next = *s.next, nil
	}
	s.ready = true
}

// target is the index that feed events change: the one being rebuilt
// after a Reset, else the live one.
func (s *MemorySet) target() *assocIndex {
	if s.next != nil {
		return s.next
	}
	return &s.live
}

// Put records that association id maps namespace/serviceAccount.
func (s *MemorySet) Put(id, namespace, serviceAccount string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.target()
	key := namespace + "/" + serviceAccount
	if old, ok := x.ids[id]; ok {
		if old == key {
			return
		}
		x.dec(old)
	}
	x.ids[id] = key
	x.count[key]++
}

// Delete forgets association id.
func (s *MemorySet) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.target()
	if old, ok := x.ids[id]; ok {
		delete(x.ids, id)
		x.dec(old)
	}
}

func (x *assocIndex) dec(key string) {
	if x.count[key] <= 1 {
		delete(x.count, key)
	} else {
		x.count[key]--
	}
}

// Reset starts rebuilding the set: the feed is about to resend every
// association. Until the next SetReady, admissions still see the old set.
func (s *MemorySet) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := newAssocIndex()
	s.next = &n
}
