// An unmodified AWS SDK for JavaScript v3 application. Its credentials come
// from the SDK's default chain; in podid's tests that is the container
// provider, pointed at the node agent by AWS_CONTAINER_CREDENTIALS_FULL_URI and
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
//
//   node client.js identity     prints the caller's ARN (STS GetCallerIdentity)
//   node client.js credentials  prints the resolved access key ID, calling nothing
//   node client.js data         makes the workshop carts pod's DynamoDB and S3
//                               calls (endpoints from AWS_ENDPOINT_URL_DYNAMODB
//                               and AWS_ENDPOINT_URL_S3), one line per call
'use strict';
const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
const { fromNodeProviderChain } = require('@aws-sdk/credential-providers');

// code is the AWS error code of a refused call, "allowed" when it succeeds.
async function code(call) {
  try {
    await call();
    return 'allowed';
  } catch (e) {
    return e.name;
  }
}

async function data() {
  const ddb = require('@aws-sdk/client-dynamodb');
  const d = new ddb.DynamoDBClient({});
  await d.send(new ddb.PutItemCommand({ TableName: 'eks-workshop-carts', Item: { id: { S: 'js-1' }, customerId: { S: 'c-js' } } }));
  const got = await d.send(new ddb.GetItemCommand({ TableName: 'eks-workshop-carts', Key: { id: { S: 'js-1' } } }));
  console.log('dynamodb get', got.Item.customerId.S);
  const q = await d.send(new ddb.QueryCommand({
    TableName: 'eks-workshop-carts', IndexName: 'idx_global_customerId',
    KeyConditionExpression: 'customerId = :c', ExpressionAttributeValues: { ':c': { S: 'c-js' } },
  }));
  console.log('dynamodb query', q.Count);
  console.log('dynamodb other-table', await code(() => d.send(new ddb.PutItemCommand({ TableName: 'other-table', Item: { pk: { S: 'x' } } }))));

  const s3 = require('@aws-sdk/client-s3');
  const c = new s3.S3Client({});
  for (const key of ['carts/js.txt', 'carts/js what?#&.txt']) {
    await c.send(new s3.PutObjectCommand({ Bucket: 'carts-assets', Key: key, Body: 'from js', ServerSideEncryption: 'AES256' }));
    const obj = await c.send(new s3.GetObjectCommand({ Bucket: 'carts-assets', Key: key }));
    console.log('s3 get', JSON.stringify(key), await obj.Body.transformToString());
  }
  console.log('s3 orders/', await code(() => c.send(new s3.PutObjectCommand({ Bucket: 'carts-assets', Key: 'orders/js.txt', Body: 'from js', ServerSideEncryption: 'AES256' }))));
}

async function main(mode) {
  if (mode === 'credentials') {
    const c = await fromNodeProviderChain()();
    console.log(c.accessKeyId);
    return;
  }
  if (mode === 'data') {
    await data();
    return;
  }
  if (mode !== 'identity') {
    throw new Error('usage: node client.js identity|credentials|data');
  }
  const out = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  console.log(out.Arn);
}

main(process.argv[2] || 'identity').catch((e) => {
  console.error(`${e.name}: ${e.message}`);
  process.exit(1);
});
