package agent

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// tokenMargin is how long before its token expires an entry stops being
// refreshed: a pod that has not presented a newer token by then is gone
// (kubelet rotates at 80% of the token's life), so its credentials are
// left to run out instead of spending EKS Auth quota on them.
const tokenMargin = time.Minute

// idleWait bounds how long the scheduler sleeps with nothing due.
const idleWait = time.Hour

// runScheduler renews entries ahead of expiry and drops expired ones until
// ctx ends. Renewals run on workers goroutines, paced by limit.
func (c *cache) runScheduler(ctx context.Context, workers int, limit *limiter) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { c.refreshWorker(ctx, limit) })
	}
	t := time.NewTimer(idleWait)
	defer t.Stop()
	for {
		next := c.processDue(c.now())
		t.Reset(next)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// processDue handles every entry due at now and returns the time until
// the next one.
func (c *cache) processDue(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	nowNs := now.UnixNano()
	for len(c.sched) > 0 && c.sched[0].due <= nowNs {
		e := heap.Pop(&c.sched).(*entry)
		cs := e.cur.Load()
		switch {
		case cs == nil:
			// removed meanwhile
		case !cs.usable(nowNs):
			c.removeLocked(e, "expired")
		case e.tokenExp != 0 && now.Add(tokenMargin).Unix() >= e.tokenExp:
			// The pod is gone, or has a newer token it has not shown us:
			// serve what is cached until it expires, refresh nothing.
			c.metrics.refreshes.WithLabelValues("skipped_token_expired").Inc()
			c.scheduleLocked(e, cs.expires-int64(minRemaining))
		case e.refreshing:
			c.scheduleLocked(e, nowNs+int64(time.Second))
		default:
			select {
			case c.refreshQ <- e:
				e.refreshing = true
			default:
				c.scheduleLocked(e, nowNs+int64(time.Second))
			}
		}
	}
	c.metrics.backlog.Set(float64(len(c.refreshQ)))
	if len(c.sched) == 0 {
		return idleWait
	}
	return max(time.Duration(c.sched[0].due-nowNs), time.Millisecond)
}

func (c *cache) refreshWorker(ctx context.Context, limit *limiter) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-c.refreshQ:
			c.metrics.backlog.Set(float64(len(c.refreshQ)))
			if limit.wait(ctx) != nil {
				return
			}
			c.refresh(ctx, e)
		}
	}
}

// refresh renews one entry with its newest token. Success replaces the
// credentials; an irrecoverable answer (association or token gone) drops
// the entry; anything else keeps serving the old credentials and retries
// in one to two minutes.
func (c *cache) refresh(ctx context.Context, e *entry) {
	c.mu.Lock()
	tok := e.token
	alive := c.pods[e.key] == e
	if !alive {
		e.refreshing = false
	}
	c.mu.Unlock()
	if !alive {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, c.upstreamTimeout)
	res, err := c.up.assume(rctx, tok, callRefresh)
	cancel()
	now := c.now()
	var cs *credSet
	if err == nil {
		cs, err = newCredSet(res, now)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	e.refreshing = false
	if c.pods[e.key] != e {
		return // purged while the call ran
	}
	switch {
	case err == nil:
		if old := e.cur.Load(); old != nil && old.associationID != cs.associationID {
			c.log.Info("association changed; serving the new role's credentials", "namespace", e.key.Namespace, "serviceAccount", e.key.ServiceAccount,
				"from", old.associationID, "to", cs.associationID)
		}
		e.cur.Store(cs)
		c.scheduleLocked(e, c.refreshAt(cs, now))
		c.metrics.refreshes.WithLabelValues("ok").Inc()
	case irrecoverable(err):
		c.log.Info("dropping cached credentials", "namespace", e.key.Namespace, "serviceAccount", e.key.ServiceAccount, "podUID", e.key.PodUID, "reason", err.Error())
		c.removeLocked(e, "irrecoverable")
		c.metrics.refreshes.WithLabelValues("dropped").Inc()
	default:
		c.log.Warn("refresh failed; serving cached credentials", "namespace", e.key.Namespace, "serviceAccount", e.key.ServiceAccount, "error", err.Error())
		left := time.Duration(e.cur.Load().expires - now.UnixNano())
		retry := min(time.Minute+time.Duration(rand.Int64N(int64(time.Minute))), max(left-minRemaining, 0))
		c.scheduleLocked(e, now.Add(retry).UnixNano())
		c.metrics.refreshes.WithLabelValues("failed").Inc()
	}
}

// resync re-checks every entry with EKS Auth soon, spread over spread:
// used when the change feed may have missed events.
func (c *cache) resync(spread time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, e := range c.pods {
		due := now.Add(time.Duration(rand.Int64N(int64(spread) + 1))).UnixNano()
		if due < e.due {
			c.scheduleLocked(e, due)
		}
	}
}

// limiter paces background refreshes: at most qps calls a second with a
// burst of one second's worth. Each call consumes exactly one token.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	burst    time.Duration
	next     time.Time
}

func newLimiter(qps float64) *limiter {
	if qps <= 0 {
		return &limiter{}
	}
	iv := time.Duration(float64(time.Second) / qps)
	return &limiter{interval: iv, burst: time.Duration(max(qps, 1)) * iv}
}

// wait blocks until the caller may proceed or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l.interval == 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	if floor := now.Add(-l.burst); l.next.Before(floor) {
		l.next = floor
	}
	l.next = l.next.Add(l.interval)
	d := l.next.Sub(now)
	l.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
