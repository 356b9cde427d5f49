package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	json "github.com/go-json-experiment/json"
	"golang.org/x/sync/singleflight"
)

// keySchema is what the gateway needs of a table's description: the
// partition-key attribute of the table and of each secondary index.
type keySchema struct {
	hash    string
	indexes map[string]string
	loaded  time.Time
}

// schemaCache reads key schemas from the DynamoDB upstream with
// DescribeTable and keeps them for a while. Concurrent misses for one
// table share one upstream call. Tables that do not exist are not cached.
type schemaCache struct {
	up  *upstream
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*keySchema
	flight  singleflight.Group
}

// maxSchemaEntries bounds the cache; past it, the cache is emptied (a
// cheap bound that only costs re-reads).
const maxSchemaEntries = 4096

func newSchemaCache(up *upstream, ttl time.Duration, now func() time.Time) *schemaCache {
	return &schemaCache{up: up, ttl: ttl, now: now, entries: map[string]*keySchema{}}
}

// get returns the key schema of table, nil when the table does not exist.
func (c *schemaCache) get(ctx context.Context, table string) (*keySchema, error) {
	if c.up == nil {
		return nil, errors.New("gateway: no DynamoDB upstream")
	}
	now := c.now()
	c.mu.Lock()
	s := c.entries[table]
	c.mu.Unlock()
	if s != nil && now.Sub(s.loaded) < c.ttl && !now.Before(s.loaded) {
		return s, nil
	}
	v, err, _ := c.flight.Do(table, func() (any, error) {
		// The look-up outlives one client's cancellation: it is shared.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.up.timeout)
		defer cancel()
		s, err := c.describe(lctx, table)
		if err != nil || s == nil {
			return s, err
		}
		c.mu.Lock()
		if len(c.entries) >= maxSchemaEntries {
			clear(c.entries)
		}
		c.entries[table] = s
		c.mu.Unlock()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*keySchema), nil
}

// forget drops a table's schema (after CreateTable, UpdateTable or
// DeleteTable went through the gateway).
func (c *schemaCache) forget(table string) {
	if name := tableNameOfARN(table); name != "" {
		table = name
	}
	c.mu.Lock()
	delete(c.entries, table)
	c.mu.Unlock()
}

// describeOutput is the part of DescribeTable's answer the cache keeps.
type describeOutput struct {
	Table struct {
		KeySchema              []keyElement `json:"KeySchema"`
		GlobalSecondaryIndexes []struct {
			IndexName string       `json:"IndexName"`
			KeySchema []keyElement `json:"KeySchema"`
		} `json:"GlobalSecondaryIndexes"`
		LocalSecondaryIndexes []struct {
			IndexName string       `json:"IndexName"`
			KeySchema []keyElement `json:"KeySchema"`
		} `json:"LocalSecondaryIndexes"`
	} `json:"Table"`
}

type keyElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

func hashOf(ks []keyElement) string {
	for _, k := range ks {
		if k.KeyType == "HASH" {
			return k.AttributeName
		}
	}
	return ""
}

// describe calls DescribeTable on the upstream with the gateway's own
// upstream credentials.
func (c *schemaCache) describe(ctx context.Context, table string) (*keySchema, error) {
	body, err := json.Marshal(struct {
		TableName string `json:"TableName"`
	}{table})
	if err != nil {
		return nil, fmt.Errorf("gateway: encoding DescribeTable: %w", err)
	}
	hdr := http.Header{
		"Content-Type": {"application/x-amz-json-1.0"},
		"X-Amz-Target": {ddbTargetPrefix + "DescribeTable"},
	}
	o := &outbound{method: http.MethodPost, rawPath: "/", header: hdr, body: body}
	resp, err := c.up.roundTrip(ctx, func(ctx context.Context) (*http.Request, error) {
		return c.up.newRequest(ctx, o, c.now())
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("gateway: reading DescribeTable %s: %w", table, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type string `json:"__type"`
		}
		json.Unmarshal(data, &e)
		if strings.HasSuffix(e.Type, "#ResourceNotFoundException") {
			return nil, nil
		}
		return nil, fmt.Errorf("gateway: DescribeTable %s on the upstream: HTTP %d %s", table, resp.StatusCode, echo(e.Type))
	}
	var out describeOutput
	if err := json.Unmarshal(data, &out, json.RejectUnknownMembers(false)); err != nil {
		return nil, fmt.Errorf("gateway: decoding DescribeTable %s: %w", table, err)
	}
	s := &keySchema{hash: hashOf(out.Table.KeySchema), indexes: map[string]string{}, loaded: c.now()}
	for _, ix := range out.Table.GlobalSecondaryIndexes {
		s.indexes[ix.IndexName] = hashOf(ix.KeySchema)
	}
	for _, ix := range out.Table.LocalSecondaryIndexes {
		s.indexes[ix.IndexName] = hashOf(ix.KeySchema)
	}
	return s, nil
}
