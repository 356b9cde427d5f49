#!/usr/bin/env bash
# Makes sure the tools podid's tests drive are present, installing what is
# missing from the registries this machine reaches (Debian's packages, npm).
set -euo pipefail
need_apt=()
command -v aws >/dev/null 2>&1 || need_apt+=(awscli)
python3 -c 'import boto3' >/dev/null 2>&1 || need_apt+=(python3-boto3)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubectl)
# The PostgreSQL store's tests start a throwaway server from Debian's binaries
# (internal/store/postgres/pgtest looks in /usr/lib/postgresql/*/bin).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The real node of test/e2e's TestRealNode… tests: a container runtime, the
# CNI plugins, and iptables and conntrack for kube-proxy.
command -v containerd >/dev/null 2>&1 || need_apt+=(containerd)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
[ -x /usr/lib/cni/bridge ] || need_apt+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
command -v conntrack >/dev/null 2>&1 || need_apt+=(conntrack)
# The console's end-to-end suite (test/e2e/console_test.go) drives Debian's
# headless Chromium over the DevTools protocol (chromedp).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "installing with apt-get: ${need_apt[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
	else
		echo "missing: ${need_apt[*]} (run as root or install them)" >&2
		exit 1
	fi
fi
echo "postgresql: $(ls -d /usr/lib/postgresql/*/bin | head -1)"
echo "go: $(go version | cut -d' ' -f3)  aws: $(aws --version 2>&1 | cut -d' ' -f1)  boto3: $(python3 -c 'import boto3; print(boto3.__version__)')"
# The gateway's end-to-end tests run npm packages as its upstream stores:
# dynalite (DynamoDB) and s3rver (S3), installed outside the repository in
# ${PODID_NPM_DIR:-$HOME/.cache/podid/npm} (test/e2e/gateway_helpers_test.go reads the same place).
npm_dir="${PODID_NPM_DIR:-$HOME/.cache/podid/npm}"
if [ ! -f "$npm_dir/node_modules/dynalite/cli.js" ] || [ ! -f "$npm_dir/node_modules/s3rver/bin/s3rver.js" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ]; then
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
		else
			echo "missing: npm (run as root or install nodejs and npm)" >&2
			exit 1
		fi
	fi
	mkdir -p "$npm_dir"
	echo "installing dynalite and s3rver with npm into $npm_dir"
	npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error dynalite@4.0.0 s3rver@3.7.1 >/dev/null
fi
echo "npm: $(npm --version)  dynalite: $(node -p "require('$npm_dir/node_modules/dynalite/package.json').version")  s3rver: $(node -p "require('$npm_dir/node_modules/s3rver/package.json').version")"
# The node agent's and the gateway's end-to-end tests run an unmodified JS SDK v3 client
# (test/e2e/testdata/js/client.js). Its packages, pinned in
# test/e2e/testdata/js/package.json, go into the same directory
# (test/e2e/agent_helpers_test.go runs node with NODE_PATH there).
js_pkg="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/test/e2e/testdata/js/package.json"
js_missing=$(node -e '
const path = require("path");
const [pkg, dir] = process.argv.slice(1);
const deps = require(pkg).dependencies;
const missing = [];
for (const [name, version] of Object.entries(deps)) {
	let got = "";
	try { got = require(path.join(dir, "node_modules", name, "package.json")).version; } catch (e) {}
	if (got !== version) missing.push(name + "@" + version);
}
console.log(missing.join(" "));
' "$js_pkg" "$npm_dir")
if [ -n "$js_missing" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		echo "missing: npm (run as root or install nodejs and npm)" >&2
		exit 1
	fi
	mkdir -p "$npm_dir"
	echo "installing $js_missing with npm into $npm_dir"
	# shellcheck disable=SC2086 # one argument per package
	npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error $js_missing >/dev/null
fi
echo "JS SDK v3: $(node -p "['client-dynamodb', 'client-s3', 'client-sts', 'credential-providers'].map((p) => '@aws-sdk/' + p + ' ' + require('$npm_dir/node_modules/@aws-sdk/' + p + '/package.json').version).join(', ')")"
