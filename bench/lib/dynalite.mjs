// The DynamoDB API for the orders variants: dynalite (an implementation of DynamoDB's HTTP API on an in-memory
// LevelDB, app/'s devDependency, the one app/test uses) in a process of its own, with the orders table as the stack
// makes it (partition key `id`, a string). It runs beside the load generator on core 0, so it costs the server under
// test nothing; its own speed bounds the orders' throughput, which is why the orders section compares CPU per order.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ORDERS_TABLE = 'bench-orders';
export const REGION = 'eu-west-1';
/** dynalite checks that a request is signed, not by whom. */
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDBENCHBENCH', AWS_SECRET_ACCESS_KEY: 'bench-secret' };

/**
 * Starts dynalite and creates the table; resolves with the environment the stack gives the task (pointed at it) and a
 * stop function, or with `missing` when app/'s dependencies are not installed.
 */
export async function startDynalite(repoRoot) {
  const fromApp = createRequire(path.join(repoRoot, 'app', 'package.json'));
  try {
    fromApp.resolve('dynalite');
    fromApp.resolve('@aws-sdk/client-dynamodb');
  } catch {
    return { missing: "app/ has no dynalite or @aws-sdk/client-dynamodb: run `npm ci` (the root's installs app/'s)" };
  }
  const child = fork(fileURLToPath(import.meta.url), ['serve', repoRoot], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const endpoint = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.endpoint));
    child.once('exit', (code) => reject(new Error(`dynalite exited ${code} before it listened`)));
  });
  return {
    env: { ORDERS_TABLE_NAME: ORDERS_TABLE, AWS_REGION: REGION, AWS_ENDPOINT_URL_DYNAMODB: endpoint, ...CREDENTIALS },
    stop: () =>
      new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill()))),
  };
}

async function serve(repoRoot) {
  const fromApp = createRequire(path.join(repoRoot, 'app', 'package.json'));
  const dynalite = fromApp('dynalite');
  const { DynamoDBClient, CreateTableCommand } = fromApp('@aws-sdk/client-dynamodb');
  const server = dynalite({ createTableMs: 0 });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${server.address().port}`;
  const client = new DynamoDBClient({
    region: REGION,
    endpoint,
    credentials: { accessKeyId: CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: CREDENTIALS.AWS_SECRET_ACCESS_KEY },
  });
  await client.send(
    new CreateTableCommand({
      TableName: ORDERS_TABLE,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  client.destroy();
  process.send({ endpoint });
  process.on('disconnect', () => process.exit(0));
}

if (process.argv[2] === 'serve' && process.send) await serve(process.argv[3]);
