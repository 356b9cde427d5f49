package explain

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/podid/podid/internal/awsproto"
)

// FuzzDecodeRequest feeds arbitrary explain requests (POST bodies and GET
// query strings) to the REST extension's decoding and checks: never a
// panic, client mistakes are 4xx *awsproto.Errors, and what is accepted
// has valid names.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("POST", "", `{"cluster":"eks-workshop","namespace":"carts","serviceAccount":"carts","pod":"carts-1","checks":[{"action":"s3:GetObject","resource":"*"}]}`)
	f.Add("GET", "cluster=c&namespace=n&serviceAccount=s&action=s3:GetObject&resource=*", "")
	f.Add("GET", "cluster=c&namespace=n&serviceAccount=s&action=a", "")
	f.Add("POST", "", `{"cluster":"c","extra":1}`)
	f.Add("PUT", "", "")
	f.Fuzz(func(t *testing.T, method, query, body string) {
		if method != "GET" && method != "POST" && method != "PUT" {
			return
		}
		r := httptest.NewRequest(method, "/podid/v1/explain", strings.NewReader(body))
		r.URL.RawQuery = query
		req, err := decodeRequest(r)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			var ae *awsproto.Error
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		if !clusterRE.MatchString(req.Cluster) || !dnsLabelRE.MatchString(req.Namespace) || len(req.Checks) > maxChecks {
			t.Fatalf("accepted %+v", req)
		}
		_ = http.StatusOK
	})
}
