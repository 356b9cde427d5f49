package iam

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Markers are opaque to clients: the base64url form of the sort key of the
// last item returned (or, for listings held in memory, of the index of the
// next item). A marker is only ever returned with IsTruncated=true, so
// paginators never see the same marker twice.

func encodeMarker(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

func decodeMarker(marker string) (string, error) {
	if marker == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(marker)
	if err != nil || len(b) == 0 {
		return "", invalidInput("The specified value for marker is not valid.")
	}
	return string(b), nil
}

// pageSize is MaxItems or its default of 100.
func pageSize(maxItems *int) int {
	if maxItems == nil {
		return defaultMaxItems
	}
	return *maxItems
}

// collect walks an ordered listing from the marker, keeping the items keep
// accepts, and returns at most limit of them plus the marker of the next
// page ("" on the last page). fetch returns up to n items strictly after
// the given sort key.
func collect[T any](marker string, limit int, fetch func(after string, n int) ([]T, error), key func(T) string, keep func(T) (bool, error)) ([]T, string, error) {
	after, err := decodeMarker(marker)
	if err != nil {
		return nil, "", err
	}
	batch := limit + 1
	var kept []T
	for {
		got, err := fetch(after, batch)
		if err != nil {
			return nil, "", err
		}
		for _, it := range got {
			after = key(it)
			ok := true
			if keep != nil {
				if ok, err = keep(it); err != nil {
					return nil, "", err
				}
			}
			if !ok {
				continue
			}
			kept = append(kept, it)
			if len(kept) > limit {
				return kept[:limit], encodeMarker(key(kept[limit-1])), nil
			}
		}
		if len(got) < batch {
			return kept, "", nil
		}
	}
}

// slicePage pages through a listing held in memory.
func slicePage[T any](all []T, marker string, limit int) ([]T, string, error) {
	start := 0
	if marker != "" {
		s, err := decodeMarker(marker)
		if err != nil {
			return nil, "", err
		}
		n, convErr := strconv.Atoi(strings.TrimPrefix(s, "#"))
		if convErr != nil || !strings.HasPrefix(s, "#") || n < 0 {
			return nil, "", invalidInput("The specified value for marker is not valid.")
		}
		start = min(n, len(all))
	}
	end := min(start+limit, len(all))
	next := ""
	if end < len(all) {
		next = encodeMarker("#" + strconv.Itoa(end))
	}
	return all[start:end], next, nil
}
