#!/usr/bin/env bash
# The EKS workshop walkthrough end to end: start `podid dev --fresh` with a
# temporary data directory on free loopback ports, load the environment it
# prints, run run.sh, stop podid dev with Ctrl-C (SIGINT) and exit with
# run.sh's status. `make workshop` builds podid and runs this.
#
# PODID names the podid binary (default: bin/podid of this checkout). The
# AWS CLI is installed with apt-get (package awscli) when it is missing and
# this runs as root; otherwise the script says what to install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PODID=${PODID:-$here/../../bin/podid}
export PODID

if ! command -v aws >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing the AWS CLI with apt-get (awscli)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null
	else
		echo "the AWS CLI (aws) is missing: install it (apt-get install awscli, or pip install awscli) and run again" >&2
		exit 1
	fi
fi
if [ ! -x "$PODID" ]; then
	echo "no podid binary at $PODID (run make workshop, or set PODID)" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/podid-workshop.XXXXXX")
dev=""
stop_dev() {
	[ -n "$dev" ] || return 0
	kill -INT "$dev" 2>/dev/null || true
	local rc=0
	wait "$dev" || rc=$?
	dev=""
	return $rc
}
trap 'stop_dev || true; rm -rf "$dir"' EXIT

"$PODID" dev --fresh --data-dir "$dir/data" --listen 127.0.0.1:0 >"$dir/dev.out" 2>"$dir/dev.log" &
dev=$!
for _ in $(seq 1 600); do
	[ -s "$dir/data/dev.env" ] && break
	if ! kill -0 "$dev" 2>/dev/null; then
		echo "podid dev stopped before it was ready:" >&2
		cat "$dir/dev.log" >&2
		exit 1
	fi
	sleep 0.05
done
if [ ! -s "$dir/data/dev.env" ]; then
	echo "podid dev was not ready within 30 s:" >&2
	cat "$dir/dev.log" >&2
	exit 1
fi
# The ready line (the export lines carry the throwaway root key; they are
# in the env file).
grep -m1 '^# podid dev is ready' "$dir/dev.out" || true
# shellcheck disable=SC1091
source "$dir/data/dev.env"

status=0
bash "$here/run.sh" || status=$?

if ! stop_dev; then
	echo "podid dev did not stop cleanly:" >&2
	cat "$dir/dev.log" >&2
	[ "$status" != 0 ] || status=1
fi
exit "$status"
