//go:build unix

package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
)

// BenchmarkUpstreamCall is one EKS Auth call of the miss path over a
// kept loopback connection: the agent's client (request body, SigV4,
// metrics, the answer's JSON) beside a bare net/http POST of the same
// body reading the same answer, in one run. The upstream answers a fixed
// body in the same process, so both include its cost alike.
func BenchmarkUpstreamCall(b *testing.B) {
	exp := time.Now().Add(6 * time.Hour)
	answer := []byte(`{"subject":{"namespace":"carts","serviceAccount":"carts"},"audience":"pods.eks.amazonaws.com",` +
		`"podIdentityAssociation":{"associationArn":"arn:aws:eks:us-west-2:111122223333:podidentityassociation/bench/a-abcdefghijklmnop1","associationId":"a-abcdefghijklmnop1"},` +
		`"assumedRoleUser":{"arn":"arn:aws:sts::111122223333:assumed-role/r/eks-bench-carts-7c9d8b6d4-00001","assumeRoleId":"AROAEXAMPLE:eks-bench"},` +
		`"credentials":{"accessKeyId":"ASIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","sessionToken":"` +
		strings.Repeat("IQoJb3JpZ2luX2VjEXAMPLE", 18) + `","expiration":` + strconv.FormatInt(exp.Unix(), 10) + `}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer srv.Close()
	tok := realisticToken(1, exp)
	b.Run("agent", func(b *testing.B) {
		a, err := New(Config{ClusterName: "bench", Region: "us-west-2", Endpoint: srv.URL, Credentials: testNodeCreds, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		c := a.up
		ctx := context.Background()
		b.ReportAllocs()
		cpu := cputime.Start()
		for b.Loop() {
			if _, err := c.once(ctx, tok, callRequest); err != nil {
				b.Fatal(err)
			}
		}
		cpu.Report(b)
	})
	b.Run("bare", func(b *testing.B) {
		hc := &http.Client{Transport: newTransport(nil)}
		u := srv.URL + "/clusters/bench/assume-role-for-pod-identity"
		b.ReportAllocs()
		cpu := cputime.Start()
		for b.Loop() {
			body := make([]byte, 0, len(tok)+12)
			body = append(append(append(body, `{"token":"`...), tok...), `"}`...)
			req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadAll(resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		cpu.Report(b)
	})
}
