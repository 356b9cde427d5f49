#!/usr/bin/env bash
# Broker mode end to end (docs/broker.md), with a second podid playing AWS:
# pods of a podid-hosted cluster get real-AWS-shaped credentials that podid's
# broker obtains from "AWS" STS by assuming a role whose trust policy podid
# printed. `make broker-demo` builds podid and runs this; every command is
# printed, then its output.
#
#   1. "AWS": `podid server --account-id 210987654321` on a loopback port;
#      its root creates the IAM user podid-broker (AssumeRole, TagSession,
#      SetSourceIdentity, GetRole on its roles) and an access key for it.
#   2. podid: `podid dev --credential-issuer aws-sts` with that key as its
#      AWS credentials and "AWS" as its STS and IAM endpoints.
#   3. podid trust-policy prints the trust policy the carts role needs; "AWS"
#      creates the role with it; podid associates it with carts/carts.
#   4. A carts pod (podid exec) calls "AWS" as the assumed role; podid doctor
#      checks the role's trust with "AWS" credentials (--aws-profile).
#
# PODID names the podid binary (default: bin/podid of this checkout). The
# AWS CLI is installed with apt-get (awscli) when it is missing and this
# runs as root; otherwise the script says what to install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PODID=${PODID:-$here/../../bin/podid}
case $PODID in /*) ;; */*) PODID=$PWD/$PODID ;; esac

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
	echo "no podid binary at $PODID (run make broker-demo, or set PODID)" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/podid-broker-demo.XXXXXX")
awsd="" dev=""
stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
trap 'stop "$dev"; stop "$awsd"; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() { # URL PID LOG
	for _ in $(seq 1 600); do
		curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || { echo "it stopped:" >&2; cat "$3" >&2; exit 1; }
		sleep 0.05
	done
	echo "not ready within 30 s:" >&2
	cat "$3" >&2
	exit 1
}
step() { printf '\n# %s\n' "$*"; }
# run prints a command as typed (without the environment it runs in: the
# side, "AWS" or podid, is in the step's heading; no key is ever shown),
# then runs it.
run() {
	local shown=() a env=1
	for a in "$@"; do
		if [ $env = 1 ]; then
			case $a in env | -i | [A-Z_]*=*) continue ;; *) env=0 ;; esac
		fi
		case $a in
		"$PODID") shown+=(podid) ;;
		"$dir"/*) shown+=("\$DEMO${a#"$dir"}") ;;
		file://"$dir"/*) shown+=("file://\$DEMO${a#"file://$dir"}") ;;
		*[!A-Za-z0-9_./:=@,+-]*) shown+=("$(printf '%q' "$a")") ;;
		*) shown+=("$a") ;;
		esac
	done
	printf '$ %s\n' "${shown[*]}"
	"$@"
}
# A clean AWS CLI environment: nothing of the caller's leaks in.
clean_env=(env -i "PATH=$PATH" "HOME=$HOME" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
	AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_DEFAULT_OUTPUT=json AWS_REGION=us-west-2 AWS_DEFAULT_REGION=us-west-2)

step "1. A second podid plays AWS (account 210987654321); in AWS, as its root: the broker user and its key"
aws_port=$(free_port)
AWS_URL=http://127.0.0.1:$aws_port
"$PODID" server --listen "127.0.0.1:$aws_port" --data-dir "$dir/aws" --account-id 210987654321 >"$dir/aws.log" 2>&1 &
awsd=$!
wait_ready "$AWS_URL" "$awsd" "$dir/aws.log"
root_key=$(sed -n 's/^aws_access_key_id = //p' "$dir/aws/root-credentials")
root_secret=$(sed -n 's/^aws_secret_access_key = //p' "$dir/aws/root-credentials")
in_aws=("${clean_env[@]}" "AWS_ENDPOINT_URL=$AWS_URL" "AWS_ACCESS_KEY_ID=$root_key" "AWS_SECRET_ACCESS_KEY=$root_secret")
echo "\"AWS\" is at $AWS_URL; its root key is in \$DEMO/aws/root-credentials"
cat >"$dir/broker-policy.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity","iam:GetRole"],"Resource":"arn:aws:iam::210987654321:role/*"}]}
JSON
run "${in_aws[@]}" aws iam create-user --user-name podid-broker --query User.Arn --output text
run "${in_aws[@]}" aws iam put-user-policy --user-name podid-broker --policy-name broker --policy-document "file://$dir/broker-policy.json"
printf '$ %s\n' "aws iam create-access-key --user-name podid-broker   # (the key goes to \$DEMO/broker.key, not shown)"
"${in_aws[@]}" aws iam create-access-key --user-name podid-broker \
	--query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text >"$dir/broker.key"
read -r broker_key broker_secret <"$dir/broker.key"

step "2. podid in broker mode: podid dev --credential-issuer aws-sts, with the broker's key as its AWS credentials"
printf '$ %s\n' "AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… podid dev --fresh --credential-issuer aws-sts --broker-sts-endpoint $AWS_URL --broker-iam-endpoint $AWS_URL --broker-region us-west-2"
"${clean_env[@]}" "AWS_ACCESS_KEY_ID=$broker_key" "AWS_SECRET_ACCESS_KEY=$broker_secret" \
	"$PODID" dev --fresh --data-dir "$dir/podid" --listen 127.0.0.1:0 --credential-issuer aws-sts \
	--broker-sts-endpoint "$AWS_URL" --broker-iam-endpoint "$AWS_URL" --broker-region us-west-2 >"$dir/dev.out" 2>"$dir/dev.log" &
dev=$!
for _ in $(seq 1 600); do
	[ -s "$dir/podid/dev.env" ] && break
	kill -0 "$dev" 2>/dev/null || { echo "podid dev stopped:" >&2; cat "$dir/dev.log" >&2; exit 1; }
	sleep 0.05
done
[ -s "$dir/podid/dev.env" ] || { echo "podid dev not ready within 30 s" >&2; cat "$dir/dev.log" >&2; exit 1; }
grep '^# podid dev is ready\|^# Broker mode\|^# The broker acts as\|^#   podid trust-policy' "$dir/dev.out" || true
# The podid side: dev.env (the podid root), as a user would source it.
in_podid=("${clean_env[@]}")
while IFS= read -r line; do
	case $line in export\ *) kv=${line#export }; k=${kv%%=*}; v=${kv#*=}; v=${v#\'}; v=${v%\'}; in_podid+=("$k=$v") ;; esac
done <"$dir/podid/dev.env"

step "3. podid prints the trust policy; in AWS the root creates the carts role with it; in podid the association"
printf '$ %s\n' "podid trust-policy --cluster eks-workshop --namespace carts --service-account carts > trust.json"
"${in_podid[@]}" "$PODID" trust-policy --cluster eks-workshop --namespace carts --service-account carts >"$dir/trust.json"
cat "$dir/trust.json"
run "${in_aws[@]}" aws iam create-role --role-name carts --assume-role-policy-document "file://$dir/trust.json" --query Role.Arn --output text
run "${in_podid[@]}" aws eks create-pod-identity-association --cluster-name eks-workshop --namespace carts --service-account carts \
	--role-arn arn:aws:iam::210987654321:role/carts --query association.roleArn --output text

step "4. In podid: a carts pod calls AWS as the role (its endpoint named only because this AWS is a local podid)"
run "${in_podid[@]}" "$PODID" exec -n carts -s carts --env "AWS_ENDPOINT_URL=$AWS_URL" -- aws sts get-caller-identity --query Arn --output text

step "podid doctor reads the role from AWS with AWS's credentials (the profile aws), never podid's"
printf '[aws]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$root_key" "$root_secret" >"$dir/aws-credentials"
chmod 600 "$dir/aws-credentials"
run "${in_podid[@]}" "AWS_SHARED_CREDENTIALS_FILE=$dir/aws-credentials" "$PODID" doctor --aws-profile aws --aws-iam-endpoint "$AWS_URL" --aws-region us-west-2
