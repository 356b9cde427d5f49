package podevents

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/podid/podid/internal/eksauth"
	"github.com/podid/podid/internal/kubeapi"
)

// sink counts the writes the broadcaster makes, per pod.
type sink struct {
	mu     sync.Mutex
	writes map[string]int
	last   map[string]*corev1.Event
}

func (s *sink) note(e *corev1.Event) (*corev1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes[e.InvolvedObject.Name]++
	s.last[e.InvolvedObject.Name] = e.DeepCopy()
	return e, nil
}

func (s *sink) Create(e *corev1.Event) (*corev1.Event, error) { return s.note(e) }
func (s *sink) Update(e *corev1.Event) (*corev1.Event, error) { return s.note(e) }
func (s *sink) Patch(e *corev1.Event, _ []byte) (*corev1.Event, error) {
	return s.note(e)
}

func (s *sink) get(pod string) (int, *corev1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes[pod], s.last[pod]
}

type apis map[string]*kubeapi.Access

func (a apis) ClusterAPI(_ context.Context, c string) (*kubeapi.Access, error) { return a[c], nil }

func refusal(pod string) *eksauth.Refusal {
	return &eksauth.Refusal{Cluster: "e2e", Namespace: "carts", ServiceAccount: "carts", Pod: pod, PodUID: "uid-" + pod,
		Code: "ResourceNotFoundException", Message: "No Pod Identity Association found for cluster e2e, namespace carts and service account carts."}
}

// TestRateLimitedPerPod: a pod refused 100 times gets at most the burst
// of writes (aggregated into one Event with a count), another pod still
// gets its own, and clusters without API access get none.
func TestRateLimitedPerPod(t *testing.T) {
	s := &sink{writes: map[string]int{}, last: map[string]*corev1.Event{}}
	built := 0
	rc := New(Config{APIs: apis{"e2e": {Endpoint: "https://127.0.0.1:6443", BearerToken: "t"}},
		Sink: func(*kubeapi.Access) (record.EventSink, error) { built++; return s, nil }})
	defer rc.Close()
	ctx := context.Background()
	for range 100 {
		rc.PodRefused(ctx, refusal("looping"))
	}
	rc.PodRefused(ctx, refusal("other"))
	other := refusal("nowhere")
	other.Cluster = "no-api"
	rc.PodRefused(ctx, other)

	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := s.get("other")
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the broadcaster drain what it will write
	loops, ev := s.get("looping")
	if loops < 1 || loops > DefaultBurst {
		t.Errorf("crash-looping pod: %d writes, want 1..%d", loops, DefaultBurst)
	}
	if ev == nil || ev.Reason != Reason || ev.Type != corev1.EventTypeWarning || ev.InvolvedObject.Kind != "Pod" || ev.InvolvedObject.UID != "uid-looping" ||
		ev.Source.Component != Component || ev.Namespace != "carts" {
		t.Errorf("event = %+v", ev)
	}
	if n, _ := s.get("other"); n != 1 {
		t.Errorf("other pod: %d writes, want 1", n)
	}
	if n, _ := s.get("nowhere"); n != 0 || built != 1 {
		t.Errorf("cluster without API access: %d writes; sinks built %d", n, built)
	}
}

// TestMessage: the cause, the fix and the explain command, within the
// API server's limit.
func TestMessage(t *testing.T) {
	got := Message(refusal("carts-1"), "123456789012")
	want := "EKS Auth refused credentials (no-association): no Pod Identity association for service account carts/carts of cluster e2e. " +
		"Fix: aws eks create-pod-identity-association --cluster-name e2e --namespace carts --service-account carts --role-arn arn:aws:iam::123456789012:role/ROLE-NAME. " +
		"Explain: podid explain --cluster e2e --namespace carts --service-account carts --pod carts-1"
	if got != want {
		t.Errorf("message =\n%s\nwant\n%s", got, want)
	}
	long := refusal("p")
	long.Code, long.Message = "Odd", strings.Repeat("x", 2000)
	if m := Message(long, ""); len(m) != maxMessage || !strings.HasSuffix(m, "...") {
		t.Errorf("long message: %d chars", len(m))
	}
}
