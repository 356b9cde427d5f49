#!/usr/bin/env bash
# The EKS workshop walkthrough end to end: start dynalite (the carts
# table's DynamoDB) and `podid dev --fresh` with its gateway in front of it,
# with a temporary data directory on free loopback ports, load the
# environment dev prints, run run.sh, stop podid dev with Ctrl-C (SIGINT)
# and dynalite, and exit with run.sh's status. `make workshop` builds podid
# and runs this.
#
# PODID names the podid binary (default: bin/podid of this checkout). What
# is missing is installed as the test command installs it, when this runs
# as root: the AWS CLI with apt-get (awscli), node and npm with apt-get, and
# dynalite with npm into ${PODID_NPM_DIR:-~/.cache/podid/npm}; otherwise the
# script says what to install.
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
npm_dir="${PODID_NPM_DIR:-$HOME/.cache/podid/npm}"
dynalite="$npm_dir/node_modules/dynalite/cli.js"
if [ ! -f "$dynalite" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			echo "installing node and npm with apt-get"
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
		else
			echo "npm is missing (for dynalite, the carts table's DynamoDB): install nodejs and npm and run again" >&2
			exit 1
		fi
	fi
	echo "installing dynalite with npm into $npm_dir"
	mkdir -p "$npm_dir"
	npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error dynalite@4.0.0 >/dev/null
fi
if [ ! -x "$PODID" ]; then
	echo "no podid binary at $PODID (run make workshop, or set PODID)" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/podid-workshop.XXXXXX")
dev=""
ddb=""
stop_ddb() {
	[ -n "$ddb" ] || return 0
	kill "$ddb" 2>/dev/null || true
	wait "$ddb" 2>/dev/null || true
	ddb=""
}
stop_dev() {
	[ -n "$dev" ] || return 0
	kill -INT "$dev" 2>/dev/null || true
	local rc=0
	wait "$dev" || rc=$?
	dev=""
	return $rc
}
trap 'stop_dev || true; stop_ddb; rm -rf "$dir"' EXIT

# free_port prints a free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
ddb_port=$(free_port)
node "$dynalite" --host 127.0.0.1 --port "$ddb_port" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >"$dir/dynalite.log" 2>&1 &
ddb=$!
gw_port=$(free_port)
export PODID_GATEWAY_URL="http://127.0.0.1:$gw_port"
# The gateway signs for dynalite on loopback with no credentials to give.
"$PODID" dev --fresh --data-dir "$dir/data" --listen 127.0.0.1:0 \
	--gateway-listen "127.0.0.1:$gw_port" --dynamodb-upstream "http://127.0.0.1:$ddb_port" >"$dir/dev.out" 2>"$dir/dev.log" &
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
grep -m1 '^# The gateway is at' "$dir/dev.out" || true
# shellcheck disable=SC1091
source "$dir/data/dev.env"

status=0
bash "$here/run.sh" || status=$?

if ! stop_dev; then
	echo "podid dev did not stop cleanly:" >&2
	cat "$dir/dev.log" >&2
	[ "$status" != 0 ] || status=1
fi
stop_ddb
exit "$status"
