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
