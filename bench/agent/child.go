package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/podid/podid/internal/agent"
)

// runChild serves the agent, the bare handler and a control endpoint on
// 127.0.0.1, prints their addresses as one JSON line, and runs until
// interrupted.
func runChild(endpoint string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := agent.New(agent.Config{
		ClusterName:  "bench",
		BindHosts:    []string{"127.0.0.1"},
		Endpoint:     endpoint,
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
		MaxCacheSize: 100000,
		// 127.0.0.1 too, so SDKs can be pointed at the agent by hand:
		// AWS_CONTAINER_CREDENTIALS_FULL_URI=http://<agent>/v1/credentials.
		AllowedHosts: []string{"169.254.170.23", "fd00:ec2::23", "127.0.0.1"},
		DrainDelay:   -1,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	<-a.Started()
	var agentAddr string
	for _, l := range a.Listeners() {
		if l.Addr != nil {
			agentAddr = l.Addr.String()
		}
	}
	if agentAddr == "" {
		return fmt.Errorf("agent did not bind: %+v", a.Listeners())
	}

	// The bare handler: the same JSON, no work.
	var bareBody atomic.Pointer[[]byte]
	empty := []byte("{}")
	bareBody.Store(&empty)
	bare, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bareHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(*bareBody.Load())
	})
	go http.Serve(bare, bareHandler)
	// The same handler behind the agent's server settings (timeouts and
	// header limit), to tell the handler's cost from the server's.
	bareT, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go (&http.Server{
		Handler:           bareHandler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}).Serve(bareT)

	metrics := a.MetricsHandler()
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /bare-body", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bareBody.Store(&b)
	})
	mux.HandleFunc("GET /usage", func(w http.ResponseWriter, r *http.Request) {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		var ms runtime.MemStats
		if r.URL.Query().Has("gc") {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(usage{
			UserMicros:   ru.Utime.Sec*1e6 + ru.Utime.Usec,
			SysMicros:    ru.Stime.Sec*1e6 + ru.Stime.Usec,
			HeapAlloc:    ms.HeapAlloc,
			CacheEntries: scrape(metrics, "podid_agent_cache_entries"),
		})
	})
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go http.Serve(ctl, mux)

	line, _ := json.Marshal(child{Agent: agentAddr, Bare: bare.Addr().String(), BareT: bareT.Addr().String(), Control: ctl.Addr().String()})
	fmt.Println(string(line))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return <-errc
	}
}

// scrape reads one unlabelled metric from a Prometheus handler.
func scrape(h http.Handler, name string) float64 {
	rec := &recorder{h: http.Header{}}
	req, _ := http.NewRequest("GET", "/metrics", nil)
	h.ServeHTTP(rec, req)
	sc := bufio.NewScanner(strings.NewReader(rec.body.String()))
	for sc.Scan() {
		var v float64
		if strings.HasPrefix(sc.Text(), name+" ") {
			fmt.Sscanf(sc.Text()[len(name)+1:], "%g", &v)
			return v
		}
	}
	return -1
}

type recorder struct {
	h    http.Header
	body strings.Builder
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(int)             {}
