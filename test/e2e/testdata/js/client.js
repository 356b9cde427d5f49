// An unmodified AWS SDK for JavaScript v3 application. Its credentials come
// from the SDK's default chain; in podid's agent tests that is the container
// provider, pointed at the node agent by AWS_CONTAINER_CREDENTIALS_FULL_URI and
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
//
//   node client.js identity     prints the caller's ARN (STS GetCallerIdentity)
//   node client.js credentials  prints the resolved access key ID, calling nothing
'use strict';
const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
const { fromNodeProviderChain } = require('@aws-sdk/credential-providers');

async function main(mode) {
  if (mode === 'credentials') {
    const c = await fromNodeProviderChain()();
    console.log(c.accessKeyId);
    return;
  }
  if (mode !== 'identity') {
    throw new Error('usage: node client.js identity|credentials');
  }
  const out = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  console.log(out.Arn);
}

main(process.argv[2] || 'identity').catch((e) => {
  console.error(`${e.name}: ${e.message}`);
  process.exit(1);
});
