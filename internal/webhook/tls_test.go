package webhook

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestCertSourceIssuesAndRotates(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	ca, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Fatalf("CA does not round-trip through PEM: %v", err)
	}
	clock := now
	src := &CertSource{CA: ca, DNSNames: []string{"podid-webhook.podid.svc"}, Now: func() time.Time { return clock }}
	c1, err := src.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := c1.Leaf.Verify(x509.VerifyOptions{DNSName: "podid-webhook.podid.svc", Roots: pool, CurrentTime: clock}); err != nil {
		t.Fatalf("serving cert does not verify against the CA: %v", err)
	}
	clock = now.Add(24 * time.Hour)
	if c2, _ := src.GetCertificate(nil); c2 != c1 {
		t.Error("renewed before two thirds of its life")
	}
	clock = now.Add(ServingLifetime * 3 / 4)
	c3, _ := src.GetCertificate(nil)
	if c3 == c1 {
		t.Fatal("not renewed after two thirds of its life")
	}
	if _, err := c3.Leaf.Verify(x509.VerifyOptions{DNSName: "podid-webhook.podid.svc", Roots: pool, CurrentTime: clock}); err != nil {
		t.Fatalf("renewed cert does not verify against the same CA: %v", err)
	}
}

func TestParseCARejectsGarbage(t *testing.T) {
	if _, err := ParseCA([]byte("x"), []byte("y")); err == nil {
		t.Fatal("want error")
	}
}
