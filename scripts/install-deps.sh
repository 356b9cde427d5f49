#!/usr/bin/env bash
# Makes sure the tools podid's tests drive are present, installing what is
# missing from the registries this machine reaches (Debian's packages, npm).
set -euo pipefail
need_apt=()
command -v aws >/dev/null 2>&1 || need_apt+=(awscli)
python3 -c 'import boto3' >/dev/null 2>&1 || need_apt+=(python3-boto3)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "installing with apt-get: ${need_apt[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
	else
		echo "missing: ${need_apt[*]} (run as root or install them)" >&2
		exit 1
	fi
fi
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
