package eksauth

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/podid/podid/internal/cputime"
)

// BenchmarkLimiter is the fair limits' cost per exchange beside main's
// per-cluster bucket (one token bucket on one key), with every core
// calling at once: the fair path checks the caller's refusal bucket,
// takes from the (here enabled) cluster cap, and takes from the pod's
// bucket, one of 100,000 pods.
func BenchmarkLimiter(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	b.Run("cluster-bucket", func(b *testing.B) {
		k := newKeyedBuckets(1e12, 1e12)
		cpu := cputime.Start()
		defer cpu.Report(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k.take("hosted", now)
			}
		})
	})
	b.Run("fair", func(b *testing.B) {
		l := newLimits(&Config{FairLimits: FairLimits{CallerRefusalRate: 20, CallerRefusalBurst: 200, PodRate: 1e12, PodBurst: 1e12}, RateLimit: 1e12, Burst: 1e12})
		pods := make([]string, 100_000)
		for i := range pods {
			pods[i] = "hosted\x00" + strconv.Itoa(i)
		}
		var next atomic.Int64
		cpu := cputime.Start()
		defer cpu.Report(b)
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			callerKey := "hosted\x00node\x00node-" + strconv.Itoa(i%64)
			for pb.Next() {
				i++
				l.callers.has(callerKey, now)
				l.cluster.take("hosted", now)
				l.pods.take(pods[i%len(pods)], now)
			}
		})
	})
}
