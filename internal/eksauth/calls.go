package eksauth

import (
	"sync"
	"sync/atomic"
	"time"
)

// CallLog records, per cluster, when a caller allowed
// eks-auth:AssumeRoleForPodIdentity on it last asked (whatever the token):
// the sign that a node agent serves the cluster, since an agent's
// readiness probe asks at least every few minutes even with no pods. It is
// per server process. It exists apart from the Service so that the
// agent installer, built before EKS Auth, can read it (Config.Calls).
type CallLog struct {
	// m: cluster name → *atomic.Int64, the UnixNano of the last call.
	m sync.Map
}

// LastCall reports when cluster's last allowed call was.
func (l *CallLog) LastCall(cluster string) (time.Time, bool) {
	v, ok := l.m.Load(cluster)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, v.(*atomic.Int64).Load()), true
}

func (l *CallLog) mark(cluster string, now time.Time) {
	v, ok := l.m.Load(cluster)
	if !ok {
		v, _ = l.m.LoadOrStore(cluster, new(atomic.Int64))
	}
	v.(*atomic.Int64).Store(now.UnixNano())
}
