package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Lifetimes of the webhook's own certificates. The CA lives long and is
// shared by every replica through a Secret; each replica issues itself a
// short-lived serving certificate from it and renews it at two thirds of
// its life, so rotation never needs a restart or a caBundle change.
const (
	CALifetime      = 10 * 365 * 24 * time.Hour
	ServingLifetime = 7 * 24 * time.Hour
)

// CA is a certificate authority for the webhook's serving certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA generates a self-signed CA.
func NewCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "podid-webhook-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return ParseCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// ParseCA loads a CA from PEM.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("CA secret does not hold PEM certificate and key")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA key: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// Issue returns a serving certificate for hosts (DNS names or IP
// addresses) signed by the CA.
func (ca *CA) Issue(hosts []string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(ServingLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// EnsureCA loads the CA from the Secret namespace/name, creating it when
// absent. Replicas racing to create it converge on the first one created.
func EnsureCA(ctx context.Context, kube kubernetes.Interface, namespace, name string, now time.Time) (*CA, error) {
	secrets := kube.CoreV1().Secrets(namespace)
	for attempt := 0; attempt < 3; attempt++ {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return ParseCA(s.Data["ca.crt"], s.Data["ca.key"])
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading CA secret %s/%s: %w", namespace, name, err)
		}
		ca, err := NewCA(now)
		if err != nil {
			return nil, err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "podid"}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM},
		}, metav1.CreateOptions{})
		if err == nil {
			return ca, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating CA secret %s/%s: %w", namespace, name, err)
		}
	}
	return nil, errors.New("CA secret kept changing while reading it")
}

// SyncCABundle makes every webhook of the MutatingWebhookConfiguration
// name trust caPEM. It reports whether it changed anything.
func SyncCABundle(ctx context.Context, kube kubernetes.Interface, name string, caPEM []byte) (bool, error) {
	api := kube.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cfg, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", name, err)
	}
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, caPEM) {
			cfg.Webhooks[i].ClientConfig.CABundle = caPEM
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	if _, err := api.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("updating caBundle of %s: %w", name, err)
	}
	return true, nil
}

// CertSource serves the current serving certificate and renews it.
type CertSource struct {
	CA       *CA
	DNSNames []string
	Now      func() time.Time

	mu   sync.Mutex
	cert *tls.Certificate
}

// GetCertificate implements tls.Config.GetCertificate, renewing the
// certificate once two thirds of its lifetime have passed.
func (c *CertSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Now()
	if c.cert != nil {
		life := c.cert.Leaf.NotAfter.Sub(c.cert.Leaf.NotBefore)
		if now.Before(c.cert.Leaf.NotBefore.Add(life * 2 / 3)) {
			return c.cert, nil
		}
	}
	cert, err := c.CA.Issue(c.DNSNames, now)
	if err != nil {
		return nil, err
	}
	c.cert = cert
	return cert, nil
}

// FileCertSource serves a certificate from files (cert-manager mode),
// reloading them when they change on disk.
type FileCertSource struct {
	CertFile, KeyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	certMod time.Time
}

// GetCertificate implements tls.Config.GetCertificate.
func (f *FileCertSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mod := modTime(f.CertFile)
	if f.cert != nil && mod.Equal(f.certMod) {
		return f.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		if f.cert != nil {
			return f.cert, nil // keep serving the last good pair mid-rotation
		}
		return nil, err
	}
	f.cert, f.certMod = &cert, mod
	return f.cert, nil
}

func modTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}
