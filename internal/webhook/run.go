package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podid/podid/internal/eks/feed"
)

// RunConfig configures a running webhook.
type RunConfig struct {
	Listen   string
	Settings Settings
	// Server, Cluster, Region and Credentials reach podid's association
	// change feed.
	Server      string
	Cluster     string
	Region      string
	Credentials aws.CredentialsProvider
	// Kube reaches the cluster (CA Secret, caBundle, Events); nil runs
	// without cluster access (certificate files required).
	Kube kubernetes.Interface
	// Namespace, CASecret and ConfigName locate the CA Secret and the
	// MutatingWebhookConfiguration to keep current.
	Namespace  string
	CASecret   string
	ConfigName string
	// Hosts are the names (and IPs) the serving certificate covers.
	Hosts []string
	// CertFile and KeyFile select cert-manager mode (files reloaded on
	// change; no CA of its own).
	CertFile, KeyFile string
	Logger            *slog.Logger
	Registry          *prometheus.Registry
	Now               func() time.Time
}

// Run serves the webhook until ctx ends: it follows the association feed
// into an in-memory set, serves HTTPS with a certificate it issues itself
// (or from files), and keeps the webhook configuration's caBundle current.
func Run(ctx context.Context, cfg RunConfig) error {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	set := NewMemorySet()
	client, err := feed.New(feed.Config{Endpoint: cfg.Server, Cluster: cfg.Cluster, Region: cfg.Region, Credentials: cfg.Credentials, Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("association feed: %w", err)
	}

	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	var ca *CA
	switch {
	case cfg.CertFile != "":
		fs := &FileCertSource{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}
		if _, err := fs.GetCertificate(nil); err != nil {
			return fmt.Errorf("serving certificate: %w", err)
		}
		getCert = fs.GetCertificate
	case cfg.Kube != nil:
		ca, err = EnsureCA(ctx, cfg.Kube, cfg.Namespace, cfg.CASecret, cfg.Now())
		if err != nil {
			return err
		}
		getCert = (&CertSource{CA: ca, DNSNames: cfg.Hosts, Now: cfg.Now}).GetCertificate
	default:
		return errors.New("the webhook needs cluster access (for its CA) or --tls-cert-file and --tls-key-file")
	}

	h := &Handler{Settings: cfg.Settings, Associations: set, Logger: cfg.Logger, Metrics: NewMetrics(cfg.Registry)}
	if cfg.Kube != nil {
		h.Events = &kubeEvents{kube: cfg.Kube, logger: cfg.Logger, now: cfg.Now}
	}
	mux := http.NewServeMux()
	mux.Handle("/mutate", h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !set.Ready() {
			http.Error(w, "associations not loaded", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{GetCertificate: getCert, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	go func() { errc <- followFeed(ctx, client, set, cfg.Logger) }()
	if ca != nil && cfg.ConfigName != "" {
		go func() { errc <- syncCABundleLoop(ctx, cfg, ca) }()
	}
	cfg.Logger.Info("podid webhook listening", "address", ln.Addr().String(), "cluster", cfg.Cluster)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// followFeed keeps set equal to the cluster's associations.
func followFeed(ctx context.Context, c *feed.Client, set *MemorySet, logger *slog.Logger) error {
	err := c.Subscribe(ctx, 0, func(_ context.Context, ev feed.Event) error {
		switch ev.Type {
		case feed.TypeReset:
			set.Reset()
		case feed.TypeSnapshot, feed.TypeCreated, feed.TypeUpdated:
			if a := ev.Association; a != nil {
				set.Put(a.AssociationID, a.Namespace, a.ServiceAccount)
			}
		case feed.TypeDeleted:
			if a := ev.Association; a != nil {
				set.Delete(a.AssociationID)
			}
		case feed.TypeSynced:
			if !set.Ready() {
				logger.Info("associations loaded", "revision", ev.Revision)
			}
			set.SetReady()
		}
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("association feed ended: %w", err)
}

func syncCABundleLoop(ctx context.Context, cfg RunConfig, ca *CA) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		changed, err := SyncCABundle(ctx, cfg.Kube, cfg.ConfigName, ca.CertPEM)
		switch {
		case err != nil:
			cfg.Logger.Warn("keeping caBundle current", "err", err)
		case changed:
			cfg.Logger.Info("caBundle updated", "config", cfg.ConfigName)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// kubeEvents records Events through the API server.
type kubeEvents struct {
	kube   kubernetes.Interface
	logger *slog.Logger
	now    func() time.Time
}

func (k *kubeEvents) Event(ctx context.Context, about corev1.ObjectReference, reason, message string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	now := metav1.NewTime(k.now())
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: about.Name + ".", Namespace: about.Namespace},
		InvolvedObject: about,
		Reason:         reason,
		Message:        message,
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "podid-webhook"},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
	if _, err := k.kube.CoreV1().Events(about.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		k.logger.Warn("recording an event", "namespace", about.Namespace, "kind", about.Kind, "name", about.Name, "err", err)
	}
}
