// Measures what a queued span costs in memory: the service runs twice against a collector that accepts
// connections and never answers (so the batch queue fills and stays full), once with a tiny queue and once with
// the queue under test, under the same load; the RSS difference divided by the difference in queued spans is the
// cost of one queued span. Run from app/ after `npm run build`:
//   node scripts/queue-memory.mjs [queueSize=16384] [requests=12000] [route=mix|home|orders]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const queueSize = Number(process.argv[2] ?? 16384);
const requests = Number(process.argv[3] ?? 12000);
const route = process.argv[4] ?? 'mix';
const SMALL = 512;

const stuck = net.createServer((socket) => socket.on('data', () => {}));
await new Promise((resolve) => stuck.listen(0, '127.0.0.1', resolve));

const kb = (pid, field) =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function run(queue) {
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const proc = spawn(process.execPath, ['dist/main.js'], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${stuck.address().port}`,
      OTEL_BSP_MAX_QUEUE_SIZE: String(queue),
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: String(Math.min(512, queue)),
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // LOG_LEVEL=warn keeps the load's cost out of the measurement, and hides the `listening` line: poll /healthz.
  for (;;) {
    const ok = await new Promise((resolve) =>
      http
        .get({ port, path: '/healthz' }, (res) => resolve(res.resume().statusCode === 200))
        .on('error', () => resolve(false)),
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  let sent = 0;
  const one = (i) =>
    new Promise((resolve, reject) => {
      const order = route === 'orders' || (route === 'mix' && i % 2 === 1);
      const req = http.request(
        {
          port,
          agent,
          method: order ? 'POST' : 'GET',
          path: order ? '/orders' : '/',
          headers: order ? { 'content-type': 'application/json' } : {},
        },
        (res) => res.resume().on('end', resolve),
      );
      req.on('error', reject);
      req.end(order ? JSON.stringify({ sku: `SKU-${i % 5000}`, quantity: 1 }) : undefined);
    });
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (sent < requests) await one(sent++);
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const result = { queue, rssKb: kb(proc.pid, 'VmRSS'), peakKb: kb(proc.pid, 'VmHWM') };
  agent.destroy();
  proc.kill('SIGKILL');
  return result;
}

const small = await run(SMALL);
const full = await run(queueSize);
stuck.close();
const perSpan = ((full.rssKb - small.rssKb) * 1024) / (queueSize - SMALL);
console.log(
  JSON.stringify({
    route,
    requests,
    small,
    full,
    bytes_per_queued_span: Math.round(perSpan),
    queue_mb: +((perSpan * queueSize) / 1e6).toFixed(1),
  }),
);
