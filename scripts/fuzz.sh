#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZTIME, default 10s).
#
# Go 1.26's fuzz coordinator has a race at the end of a duration-based
# -fuzztime (golang/go#75804, fixed in Go 1.27): a worker's cancellation can
# escape as a failure that prints only "context deadline exceeded" and writes
# no failing input. A real finding always writes its input under
# testdata/fuzz/<target>/. So a run that fails with exactly that message and
# wrote no input is run once more; a second failure of any kind fails the
# suite, and every other failure fails it at once.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# corpus_files lists the inputs saved for one target, sorted.
corpus_files() { ls -1 "$1/testdata/fuzz/$2" 2>/dev/null | sort || true; }

# coordinator_race tells whether a failed run is the known race: its only
# failure reason is the deadline, and it saved no new input.
coordinator_race() {
	local pkg=$1 target=$2 before=$3
	[ "$(corpus_files "$pkg" "$target")" = "$before" ] || return 1
	grep -q -- "^--- FAIL: $target " "$log" || return 1
	local reasons
	reasons=$(sed -n "/^--- FAIL: $target /,/^FAIL\$/p" "$log" | sed '1d;$d' | sed 's/^ *//' | grep -v '^$' || true)
	[ "$reasons" = "context deadline exceeded" ]
}

run_target() {
	local pkg=$1 target=$2
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

while read -r pkg target; do
	[ -z "$pkg" ] && continue
	echo "-- $target in $pkg for $FUZZTIME"
	before=$(corpus_files "$pkg" "$target")
	if run_target "$pkg" "$target"; then
		continue
	fi
	if coordinator_race "$pkg" "$target" "$before"; then
		echo "-- $target: Go's fuzz coordinator reported its end-of-time race (golang/go#75804; no input was saved); running it once more"
		run_target "$pkg" "$target" && continue
	fi
	echo "-- $target failed"
	exit 1
done < <(scripts/fuzz-targets.sh)
