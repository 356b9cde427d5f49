// Package storetest is the conformance suite every [store.Store] backend
// must pass. A backend's test calls [Run] with a function that opens a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "podid.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite pins down what store.go leaves implicit, so that SQLite and
// PostgreSQL behave the same; docs/store.md lists these rules. Times are
// compared with time.Equal after conversion to UTC and are built with
// microsecond precision (what PostgreSQL keeps); empty slices and maps may
// come back as nil.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/podid/podid/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store for
// each call and arrange for it to be closed (t.Cleanup). For the wake-up test
// to prove an in-process wake-up rather than a poll, the store's WaitEvents
// poll interval should be longer than a minute.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Roles", testRoles},
		{"RoleListing", testRoleListing},
		{"Users", testUsers},
		{"UserListing", testUserListing},
		{"LoginProfiles", testLoginProfiles},
		{"PasswordPolicies", testPasswordPolicies},
		{"Policies", testPolicies},
		{"PolicyVersions", testPolicyVersions},
		{"Attachments", testAttachments},
		{"InlinePolicies", testInlinePolicies},
		{"PrincipalDeleteConflicts", testPrincipalDeleteConflicts},
		{"AccessKeys", testAccessKeys},
		{"OIDCProviders", testOIDCProviders},
		{"Accounts", testAccounts},
		{"ServerKeys", testServerKeys},
		{"Clusters", testClusters},
		{"Addons", testAddons},
		{"Updates", testUpdates},
		{"Associations", testAssociations},
		{"AssociationListing", testAssociationListing},
		{"AssociationUniquenessConcurrent", testAssociationUniquenessConcurrent},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Events", testEvents},
		{"EventsOnClusterDelete", testEventsOnClusterDelete},
		{"WaitEvents", testWaitEvents},
		{"Rollback", testRollback},
		{"TxUsableAfterSentinel", testTxUsableAfterSentinel},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"Context", testContext},
		{"NilRecords", testNilRecords},
		{"IdempotencyTokens", testIdempotencyTokens},
		{"Audit", testAudit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is the suite's reference time: microsecond precision, not UTC, so a
// backend must keep the instant and may change the location.
var base = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("UTC+2", 2*3600))

func at(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }

// update runs fn in s.Update and fails the test on error.
func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in s.View and fails the test on error.
func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// get runs one read in a View and returns its result.
func get[T any](t *testing.T, s store.Store, fn func(store.Tx) (T, error)) (T, error) {
	t.Helper()
	var v T
	var ferr error
	err := s.View(t.Context(), func(tx store.Tx) error {
		v, ferr = fn(tx)
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return v, ferr
}

// mustGet is get that fails the test on error.
func mustGet[T any](t *testing.T, s store.Store, fn func(store.Tx) (T, error)) T {
	t.Helper()
	v, err := get(t, s, fn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return v
}

// write runs one write in its own Update and returns its error.
func write(t *testing.T, s store.Store, fn func(store.Tx) error) error {
	t.Helper()
	return s.Update(t.Context(), fn)
}

// wantErr checks that err matches target (nil: no error).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

// checkEqual reports a difference between got and want after normalizing
// times to UTC and empty slices and maps to nil.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := normalize(reflect.ValueOf(got)), normalize(reflect.ValueOf(want))
	if !g.IsValid() || !w.IsValid() {
		if g.IsValid() != w.IsValid() {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
		return
	}
	if !reflect.DeepEqual(g.Interface(), w.Interface()) {
		t.Errorf("%s:\n got: %s\nwant: %s", what, dump(g.Interface()), dump(w.Interface()))
	}
}

// isSentinel reports whether err is one of the store sentinels.
func isSentinel(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict)
}

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

var timeType = reflect.TypeFor[time.Time]()

func normalize(v reflect.Value) reflect.Value {
	if !v.IsValid() {
		return v
	}
	if v.Type() == timeType {
		return reflect.ValueOf(v.Interface().(time.Time).Round(0).UTC())
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(normalize(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if n.Field(i).CanSet() {
				n.Field(i).Set(normalize(v.Field(i)))
			}
		}
		return n
	case reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			n.Index(i).Set(normalize(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			n.SetMapIndex(it.Key(), normalize(it.Value()))
		}
		return n
	}
	return v
}

// pageThrough reads a listing in pages of size n, checks the page contract
// (never more than n items, keys strictly ascending across pages, After is
// the last key of the previous page) and returns the concatenation.
func pageThrough[T any](t *testing.T, s store.Store, n int, fetch func(tx store.Tx, p store.Page) ([]T, error), key func(T) string) []T {
	t.Helper()
	var all []T
	after := ""
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("paging does not terminate")
		}
		page := mustGet(t, s, func(tx store.Tx) ([]T, error) { return fetch(tx, store.Page{After: after, Limit: n}) })
		if len(page) > n {
			t.Fatalf("page %d has %d items, limit %d", i, len(page), n)
		}
		for _, v := range page {
			k := key(v)
			if len(all) > 0 && !(key(all[len(all)-1]) < k) {
				t.Fatalf("page %d: key %q does not follow %q", i, k, key(all[len(all)-1]))
			}
			all = append(all, v)
		}
		if len(page) < n {
			return all
		}
		after = key(page[len(page)-1])
	}
}

// keysOf maps items to their keys.
func keysOf[T any](items []T, key func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, v := range items {
		out = append(out, key(v))
	}
	return out
}

// sorted returns a sorted copy.
func sorted(ss []string) []string {
	c := append([]string(nil), ss...)
	sort.Strings(c)
	return c
}

// ctxWithTimeout is a bounded context for waits that must end.
func ctxWithTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
