package policy

import (
	"math"
	"testing"
	"time"
)

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ok    bool
		isInt bool
		i     int64
		f     float64
	}{
		{"0", true, true, 0, 0},
		{"-0", true, true, 0, 0},
		{"+7", true, true, 7, 7},
		{"9223372036854775807", true, true, math.MaxInt64, float64(math.MaxInt64)},
		{"-9223372036854775808", true, true, math.MinInt64, float64(math.MinInt64)},
		{"9223372036854775808", true, false, 0, 9223372036854775808},
		{"1.5", true, false, 0, 1.5},
		{".5", true, false, 0, 0.5},
		{"5.", true, false, 0, 5},
		{"1e3", true, false, 0, 1000},
		{"1E-2", true, false, 0, 0.01},
		{"", false, false, 0, 0},
		{"-", false, false, 0, 0},
		{".", false, false, 0, 0},
		{"1e", false, false, 0, 0},
		{"1e999", false, false, 0, 0},
		{"NaN", false, false, 0, 0},
		{"Inf", false, false, 0, 0},
		{"0x10", false, false, 0, 0},
		{" 1", false, false, 0, 0},
	} {
		n, ok := parseNumber(tc.in)
		if ok != tc.ok || (ok && (n.isInt != tc.isInt || n.i != tc.i || n.f != tc.f)) {
			t.Errorf("parseNumber(%q) = %+v, %v; want isInt=%v i=%d f=%v ok=%v", tc.in, n, ok, tc.isInt, tc.i, tc.f, tc.ok)
		}
	}
}

func TestParseDate(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) instant {
		tm := time.Date(y, mo, d, h, mi, s, ns, time.UTC)
		return instant{sec: tm.Unix(), nsec: int64(tm.Nanosecond())}
	}
	for _, tc := range []struct {
		in   string
		want instant
		ok   bool
	}{
		{"2026-01-02T03:04:05Z", utc(2026, 1, 2, 3, 4, 5, 0), true},
		{"2026-01-02t03:04:05z", utc(2026, 1, 2, 3, 4, 5, 0), true},
		{"2026-01-02T03:04:05.123456789Z", utc(2026, 1, 2, 3, 4, 5, 123456789), true},
		{"2026-01-02T03:04:05.5+01:30", utc(2026, 1, 2, 1, 34, 5, 500000000), true},
		{"2026-01-02T03:04:05-0500", utc(2026, 1, 2, 8, 4, 5, 0), true},
		{"2026-01-02T03:04", utc(2026, 1, 2, 3, 4, 0, 0), true},
		{"2026-01-02T03", utc(2026, 1, 2, 3, 0, 0, 0), true},
		{"2026-01-02", utc(2026, 1, 2, 0, 0, 0, 0), true},
		{"2026-02", utc(2026, 2, 1, 0, 0, 0, 0), true},
		{"2026T", utc(2026, 1, 1, 0, 0, 0, 0), true},
		{"2024-02-29T00:00:00Z", utc(2024, 2, 29, 0, 0, 0, 0), true},
		{"1969-12-31T23:59:59Z", instant{sec: -1}, true},
		{"0", instant{}, true},
		{"1767323045", instant{sec: 1767323045}, true},
		{"9223372036854775807", instant{sec: math.MaxInt64}, true},
		{"9223372036854775808", instant{}, false},
		{"-292275054", utc(-292275054, 1, 1, 0, 0, 0, 0), true},
		{"-292275055", instant{}, false},
		{"2026-13-01", instant{}, false},
		{"2026-00-01", instant{}, false},
		{"2026-01-32", instant{}, false},
		{"2026-01-01T24:00:00Z", instant{}, false},
		{"2026-01-01T00:60:00Z", instant{}, false},
		{"2026-01-01T00:00:60Z", instant{}, false},
		{"2026-01-01T00:00:00.Z", instant{}, false},
		{"2026-01-01T00:00:00.1234567890Z", instant{}, false},
		{"2026-01-01T00:00:00+1", instant{}, false},
		{"2026-01-01 00:00:00", instant{}, false},
		{"2026-01-01T00:00:00ZZ", instant{}, false},
		{"", instant{}, false},
		{"1.5", instant{}, false},
		{"tomorrow", instant{}, false},
	} {
		got, ok := parseDate(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseDate(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		fold, want bool
	}{
		{"", "", false, true},
		{"", "a", false, false},
		{"*", "", false, true},
		{"a*b*c", "abc", false, true},
		{"a*b*c", "aXbYbZc", false, true},
		{"a*b*c", "aXbYbZ", false, false},
		{"**a", "xa", false, true},
		{"?", "", false, false},
		{"?*", "é", false, true},
		{"??", "é", false, false},
		{"*?", "aé", false, true},
		{"A*", "abc", true, true},
		{"A*", "abc", false, false},
		{"*x*y", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxy", false, true},
		{"*x*y", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxz", false, false},
	} {
		g := compileGlob(tc.pattern, true, false)
		if got := g.match(tc.s, tc.fold, nil); got != tc.want {
			t.Errorf("%q ~ %q (fold %v) = %v, want %v", tc.pattern, tc.s, tc.fold, got, tc.want)
		}
	}
}
