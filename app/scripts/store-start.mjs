// What the DynamoDB store costs at start and in memory: spawn to the first 200 on GET /, and RSS then and after 500
// orders, for the built service with orders in memory and with a dynalite table, and for any other builds named on the
// command line (a copy of another commit's app/ with its dist/ built), alternating so that load on the machine hits
// all alike. Tracing on (always_on, to an OTLP endpoint nobody listens on: the exporter is not loaded before the first
// export, which a refused connection does not delay).
// Usage: npm run build --prefix app && cd app && node scripts/store-start.mjs [starts] [other app dir ...]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const appDir = path.join(import.meta.dirname, '..');
const starts = Number(process.argv[2] ?? 9);
const others = process.argv.slice(3).map((dir) => path.resolve(dir));
const require = createRequire(path.join(appDir, 'package.json'));
const { DynamoDBClient, CreateTableCommand } = require('@aws-sdk/client-dynamodb');

const dynalite = require('dynalite')({ createTableMs: 0 });
await new Promise((resolve) => dynalite.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${dynalite.address().port}`;
const credentials = { AWS_ACCESS_KEY_ID: 'AKIDSTART', AWS_SECRET_ACCESS_KEY: 'start' };
const client = new DynamoDBClient({
  region: 'eu-west-1',
  endpoint,
  credentials: { accessKeyId: credentials.AWS_ACCESS_KEY_ID, secretAccessKey: credentials.AWS_SECRET_ACCESS_KEY },
});
await client.send(
  new CreateTableCommand({
    TableName: 'orders',
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  }),
);
client.destroy();

const table = {
  ORDERS_TABLE_NAME: 'orders',
  AWS_REGION: 'eu-west-1',
  AWS_ENDPOINT_URL_DYNAMODB: endpoint,
  ...credentials,
};
const cases = [
  { name: 'this build, memory', dir: appDir, env: {} },
  { name: 'this build, table', dir: appDir, env: table },
  ...others.map((dir) => ({ name: `${path.basename(path.dirname(dir))}/${path.basename(dir)}, memory`, dir, env: {} })),
];

function get(port, p, method = 'GET', body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: p, method, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const rssMB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function once({ dir, env }) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const t0 = performance.now();
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: 'ignore',
  });
  for (;;) {
    try {
      if ((await get(port, '/')) === 200) break;
    } catch {
      await sleep(2);
    }
  }
  const startMs = performance.now() - t0;
  const startRss = rssMB(child.pid);
  for (let i = 0; i < 500; i += 1) await get(port, '/orders', 'POST', '{"sku":"SKU-1","quantity":2}');
  const ordersRss = rssMB(child.pid);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return { startMs, startRss, ordersRss };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = cases.map(() => []);
for (let i = 0; i < starts; i += 1) {
  for (const [k, c] of cases.entries()) results[k].push(await once(c));
}
for (const [k, c] of cases.entries()) {
  const r = results[k];
  console.log(
    `${c.name}: first 200 ${median(r.map((x) => x.startMs)).toFixed(0)} ms, RSS ${median(r.map((x) => x.startRss)).toFixed(1)} MB ` +
      `at start, ${median(r.map((x) => x.ordersRss)).toFixed(1)} MB after 500 orders (medians of ${starts})`,
  );
}
dynalite.close();
