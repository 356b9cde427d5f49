package e2e

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// realNodeDomain is the cluster's DNS domain on the real node.
const realNodeDomain = "cluster.local"

// startClusterDNS answers the real node's pods (the kubelet's clusterDNS)
// for Service names, NAME.NAMESPACE.svc.cluster.local, with the Service's
// ClusterIP read from the API server at query time: the part of CoreDNS the
// chart's in-cluster URLs (http://podid-server.podid.svc:8080) need. Any
// other name is NXDOMAIN, so no query leaves the machine. It listens on UDP
// at the node's address (a link the test created) until the test ends.
func startClusterDNS(t *testing.T, cp *controlPlane) {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(realNodeIP, "53"))
	if err != nil {
		t.Fatalf("cluster DNS: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	d := &clusterDNS{cp: cp, client: cp.client(t)}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if resp, err := d.answer(buf[:n]); err == nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
}

type clusterDNS struct {
	cp     *controlPlane
	client *http.Client
}

// answer builds the response to one query; it returns an error for a
// message that is not a query it can answer at all (dropped).
func (d *clusterDNS) answer(msg []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, err
	}
	if h.Response {
		return nil, errors.New("not a query")
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RCode: dnsmessage.RCodeNameError}
	ip, found := d.lookup(strings.ToLower(q.Name.String()))
	if found {
		rh.RCode = dnsmessage.RCodeSuccess
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if found && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		if err := b.StartAnswers(); err != nil {
			return nil, err
		}
		var a dnsmessage.AResource
		copy(a.A[:], ip.To4())
		if err := b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5}, a); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// lookup resolves NAME.NAMESPACE.svc.cluster.local. to the Service's IPv4
// ClusterIP.
func (d *clusterDNS) lookup(name string) (net.IP, bool) {
	rest, ok := strings.CutSuffix(name, ".svc."+realNodeDomain+".")
	if !ok {
		return nil, false
	}
	svc, ns, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(ns, ".") {
		return nil, false
	}
	req, err := http.NewRequest(http.MethodGet, d.cp.URL+"/api/v1/namespaces/"+ns+"/services/"+svc, nil)
	if err != nil {
		return nil, false
	}
	req.Header.Set("Authorization", "Bearer "+d.cp.Token)
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	var s struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		} `json:"spec"`
	}
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return nil, false
	}
	ip := net.ParseIP(s.Spec.ClusterIP).To4()
	return ip, ip != nil
}

// client is an HTTPS client that trusts the API server's CA.
func (cp *controlPlane) client(t *testing.T) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(cp.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return httpsClient(pool)
}
