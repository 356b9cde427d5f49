package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/podid/podid/bench/internal/proc"
)

// The miss path's peer: the two HTTP exchanges a storm's miss cannot
// avoid, without podid. A bare proxy (own process) answers each pod's
// request by POSTing {"token": ...} over kept connections (at most 64, as
// the agent's bound) to a bare upstream (own process) that answers a fixed
// credentials body, and copies the answer back. The same pods then storm
// it, so the agent's CPU per miss and the server's per exchange have a
// same-run floor: what net/http alone costs for the same traffic.

// missUpstreamBody is the bare upstream's answer, shaped like EKS Auth's.
var missUpstreamBody = `{"assumedRoleUser":{"arn":"arn:aws:sts::123456789012:assumed-role/storm-0/eks-eks-works-pod","assumeRoleId":"AROAEXAMPLE:eks-eks-works-pod"},` +
	`"audience":"pods.eks.amazonaws.com","credentials":{"accessKeyId":"ASIAEXAMPLEEXAMPLE00","expiration":1.7650656e9,` +
	`"secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYEXAMPLE","sessionToken":"` + sessionTokenFiller + `"},` +
	`"podIdentityAssociation":{"associationArn":"arn:aws:eks:us-west-2:123456789012:podidentityassociation/eks-workshop/a-0123456789abcdefg","associationId":"a-0123456789abcdefg"},` +
	`"subject":{"namespace":"storm-0","serviceAccount":"app"}}`

// sessionTokenFiller is as long as a podid session token.
var sessionTokenFiller = string(bytes.Repeat([]byte("A"), 420))

// serveMissUpstream is the bare upstream.
func serveMissUpstream(addr string) {
	body := []byte(missUpstreamBody)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	fmt.Fprintln(os.Stderr, "bare upstream:", http.ListenAndServe(addr, h))
	os.Exit(1)
}

// serveMissProxy is the bare proxy in front of upstream.
func serveMissProxy(addr, upstream string) {
	tr := &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("Authorization")
		body := make([]byte, 0, len(tok)+12)
		body = append(append(append(body, `{"token":"`...), tok...), `"}`...)
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, upstream, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		// The storm counts an answer with "AccessKeyId" as credentials.
		w.Write(bytes.Replace(b, []byte(`"accessKeyId"`), []byte(`"AccessKeyId"`), 1))
	})
	fmt.Fprintln(os.Stderr, "bare proxy:", http.ListenAndServe(addr, h))
	os.Exit(1)
}

// missPeer is a running bare proxy and its bare upstream.
type missPeer struct {
	proxy    *agentProc
	upstream *proc.Proc
}

func startMissPeer() (*missPeer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	up, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	pp, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	upAddr, pAddr := "127.0.0.1:"+strconv.Itoa(up), "127.0.0.1:"+strconv.Itoa(pp)
	u, err := proc.Start("bare upstream", nil, exe, "-bare-upstream", upAddr)
	if err != nil {
		return nil, err
	}
	if err := proc.WaitListen(upAddr, u, time.Minute); err != nil {
		u.Stop()
		return nil, err
	}
	p, err := proc.Start("bare proxy", nil, exe, "-bare-proxy", pAddr, "-bare-proxy-upstream", "http://"+upAddr+"/clusters/eks-workshop/assume-role-for-pod-identity")
	if err != nil {
		u.Stop()
		return nil, err
	}
	if err := proc.WaitListen(pAddr, p, time.Minute); err != nil {
		p.Stop()
		u.Stop()
		return nil, err
	}
	return &missPeer{proxy: &agentProc{Proc: p, url: "http://" + pAddr + "/v1/credentials"}, upstream: u}, nil
}

func (m *missPeer) stop() {
	m.proxy.Stop()
	m.upstream.Stop()
}
