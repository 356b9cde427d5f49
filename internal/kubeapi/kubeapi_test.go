package kubeapi

import (
	"errors"
	"strings"
	"testing"
)

func TestClientCacheRebuildsOnlyWhenAccessChanges(t *testing.T) {
	var c ClientCache[int]
	builds := 0
	build := func(a *Access) (int, error) {
		builds++
		return builds, nil
	}
	base := Access{Endpoint: "https://127.0.0.1:6443", CAData: []byte("ca"), BearerToken: "t1"}
	steps := []struct {
		name    string
		cluster string
		access  Access
		want    int // the client returned: the number of the build that made it
	}{
		{"first use builds", "c1", base, 1},
		{"same access reuses", "c1", base, 1},
		{"another cluster builds its own", "c2", base, 2},
		{"rotated token rebuilds", "c1", Access{Endpoint: base.Endpoint, CAData: base.CAData, BearerToken: "t2"}, 3},
		{"new CA rebuilds", "c1", Access{Endpoint: base.Endpoint, CAData: []byte("ca2"), BearerToken: "t2"}, 4},
		{"moved endpoint rebuilds", "c1", Access{Endpoint: "https://127.0.0.2:6443", CAData: []byte("ca2"), BearerToken: "t2"}, 5},
		{"the other cluster is untouched", "c2", base, 2},
		// Parts are length-prefixed: moving bytes between fields is a change.
		{"shifted bytes rebuild", "c3", Access{Endpoint: "ab", BearerToken: "c"}, 6},
		{"shifted bytes rebuild (2)", "c3", Access{Endpoint: "a", BearerToken: "bc"}, 7},
	}
	for _, s := range steps {
		a := s.access
		got, err := c.Get(s.cluster, &a, build)
		if err != nil || got != s.want {
			t.Fatalf("%s: Get = %d, %v; want %d", s.name, got, err, s.want)
		}
	}
}

func TestClientCacheDoesNotKeepFailedBuilds(t *testing.T) {
	var c ClientCache[string]
	a := &Access{Endpoint: "https://127.0.0.1:6443", BearerToken: "secret-token"}
	_, err := c.Get("c1", a, func(*Access) (string, error) { return "", errors.New("bad CA") })
	if err == nil || !strings.Contains(err.Error(), "cluster c1") || !strings.Contains(err.Error(), "bad CA") {
		t.Fatalf("error = %v; want the cluster and the cause", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("error %q names the bearer token", err)
	}
	got, err := c.Get("c1", a, func(*Access) (string, error) { return "ok", nil })
	if err != nil || got != "ok" {
		t.Fatalf("after a failed build, Get = %q, %v; want a new build", got, err)
	}
}

func TestRESTConfig(t *testing.T) {
	a := &Access{Endpoint: "https://127.0.0.1:6443", CAData: []byte("ca"), BearerToken: "t"}
	cfg := a.RESTConfig("podid-test")
	if cfg.Host != a.Endpoint || cfg.BearerToken != "t" || string(cfg.TLSClientConfig.CAData) != "ca" || cfg.UserAgent != "podid-test" {
		t.Fatalf("RESTConfig = %+v", cfg)
	}
}
