#!/usr/bin/env bash
# The eks-workshop's "Amazon EKS Pod Identity" module (security chapter of
# aws-samples/eks-workshop-v2), run against `podid dev` with only the AWS CLI
# and podid. Each command is printed, then its output, as the workshop shows
# them. Kubernetes steps become `podid exec`: it runs a command the way a pod
# of the carts service account runs.
#
# Needs: the environment `podid dev` printed (source DATA-DIR/dev.env), the
# AWS CLI, and podid (PODID names the binary; default: podid on PATH).
# Run it once per fresh `podid dev --fresh`; walkthrough.sh does all of it.
set -euo pipefail

PODID=${PODID:-podid}
case $PODID in /*) ;; */*) PODID=$PWD/$PODID ;; esac
: "${AWS_ENDPOINT_URL:?source the env file podid dev printed (DATA-DIR/dev.env) first}"
: "${EKS_CLUSTER_NAME:=eks-workshop}"
: "${AWS_REGION:=${AWS_DEFAULT_REGION:-us-west-2}}"
export AWS_REGION AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$AWS_REGION}"
# JSON output whatever the user's CLI configuration says; no pager.
export AWS_DEFAULT_OUTPUT=json AWS_PAGER=""
: "${AWS_ACCOUNT_ID:=$(aws sts get-caller-identity --query Account --output text)}"

role=${EKS_CLUSTER_NAME}-carts-dynamo
policy_arn=arn:aws:iam::${AWS_ACCOUNT_ID}:policy/${EKS_CLUSTER_NAME}-carts-dynamo
role_arn=arn:aws:iam::${AWS_ACCOUNT_ID}:role/${role}

if aws iam get-role --role-name "$role" >/dev/null 2>&1; then
	echo "role $role exists already: run this against a fresh podid dev (podid dev --fresh)" >&2
	exit 1
fi

# The policy documents are files in a scratch directory, the current one.
work=$(mktemp -d "${TMPDIR:-/tmp}/eks-workshop.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# step prints a heading; run prints a command as typed, then runs it.
step() { printf '\n# %s\n' "$*"; }
run() {
	local shown=() a
	for a in "$@"; do
		case $a in
		"$PODID") shown+=(podid) ;;
		*[!A-Za-z0-9_./:=@,+-]*) shown+=("$(printf '%q' "$a")") ;;
		*) shown+=("$a") ;;
		esac
	done
	printf '$ %s\n' "${shown[*]}"
	"$@"
}

step "Prepare the environment: the carts DynamoDB policy and its role (the workshop's Terraform)"
cat >carts-dynamo-policy.json <<EOF
{"Statement":[{"Action":"dynamodb:*","Effect":"Allow","Resource":["arn:aws:dynamodb:${AWS_REGION}:${AWS_ACCOUNT_ID}:table/${EKS_CLUSTER_NAME}-carts","arn:aws:dynamodb:${AWS_REGION}:${AWS_ACCOUNT_ID}:table/${EKS_CLUSTER_NAME}-carts/index/*"],"Sid":"AllAPIActionsOnCart"}],"Version":"2012-10-17"}
EOF
cat >carts-dynamo-trust.json <<'EOF'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}
EOF
run aws iam create-policy --policy-name "${EKS_CLUSTER_NAME}-carts-dynamo" --policy-document file://carts-dynamo-policy.json
run aws iam create-role --role-name "$role" --assume-role-policy-document file://carts-dynamo-trust.json
run aws iam attach-role-policy --role-name "$role" --policy-arn "$policy_arn"

step "Install the EKS Pod Identity Agent add-on"
run aws eks create-addon --cluster-name "$EKS_CLUSTER_NAME" --addon-name eks-pod-identity-agent
run aws eks wait addon-active --cluster-name "$EKS_CLUSTER_NAME" --addon-name eks-pod-identity-agent
echo "(podid dev's agent serves the cluster on loopback; there is no DaemonSet to list)"

step "Before the association, a pod of the carts service account gets no AWS credentials"
if run "$PODID" exec -n carts -s carts -- aws sts get-caller-identity; then
	echo "podid exec succeeded without an association" >&2
	exit 1
fi

step "The policy the carts role carries, and the role's trust policy"
run aws iam get-policy-version --version-id v1 --policy-arn "$policy_arn" --query 'PolicyVersion.Document'
run aws iam get-role --query 'Role.AssumeRolePolicyDocument' --role-name "$role"

step "Associate the role with the carts service account"
run aws eks create-pod-identity-association --cluster-name "$EKS_CLUSTER_NAME" --role-arn "$role_arn" --namespace carts --service-account carts

step "A carts pod's AWS environment (kubectl -n carts exec deployment/carts -- env | grep AWS)"
printf '$ %s\n' "podid exec -n carts -s carts -- env | grep AWS"
"$PODID" exec -n carts -s carts -- env | grep AWS

step "The identity a carts pod uses"
run "$PODID" exec -n carts -s carts -- aws sts get-caller-identity

if [ -z "${PODID_GATEWAY_URL:-}" ]; then
	echo
	echo "(no PODID_GATEWAY_URL: the carts table steps need podid dev's gateway in front of a DynamoDB; walkthrough.sh runs both)"
	exit 0
fi
gw=$PODID_GATEWAY_URL

step "The carts table and its index (the workshop's Terraform), created by the account root through podid's gateway"
run env "AWS_ENDPOINT_URL_DYNAMODB=$gw" aws dynamodb create-table --table-name "${EKS_CLUSTER_NAME}-carts" \
	--attribute-definitions AttributeName=id,AttributeType=S AttributeName=customerId,AttributeType=S \
	--key-schema AttributeName=id,KeyType=HASH --billing-mode PAY_PER_REQUEST \
	--global-secondary-indexes 'IndexName=idx_global_customerId,KeySchema=[{AttributeName=customerId,KeyType=HASH}],Projection={ProjectionType=ALL}' \
	--query 'TableDescription.[TableName,TableArn]'

step "The carts pod writes and reads its table, and queries the index, through the gateway"
run "$PODID" exec -n carts -s carts --env "AWS_ENDPOINT_URL_DYNAMODB=$gw" -- \
	aws dynamodb put-item --table-name "${EKS_CLUSTER_NAME}-carts" --item '{"id":{"S":"cart-1"},"customerId":{"S":"customer-1"}}'
run "$PODID" exec -n carts -s carts --env "AWS_ENDPOINT_URL_DYNAMODB=$gw" -- \
	aws dynamodb get-item --table-name "${EKS_CLUSTER_NAME}-carts" --key '{"id":{"S":"cart-1"}}'
run "$PODID" exec -n carts -s carts --env "AWS_ENDPOINT_URL_DYNAMODB=$gw" -- \
	aws dynamodb query --table-name "${EKS_CLUSTER_NAME}-carts" --index-name idx_global_customerId \
	--key-condition-expression 'customerId = :c' --expression-attribute-values '{":c":{"S":"customer-1"}}' --query 'Items[].id.S'

step "On another table the carts pod is refused, with AWS's sentence"
if run "$PODID" exec -n carts -s carts --env "AWS_ENDPOINT_URL_DYNAMODB=$gw" -- \
	aws dynamodb scan --table-name other-table 2>&1 | grep -v '^$'; then
	echo "the carts pod read another table" >&2
	exit 1
fi
