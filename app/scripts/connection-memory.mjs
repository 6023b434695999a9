// Measures what a connection held open mid-request costs in memory, to size MAX_CONNECTIONS from a budget: the
// service runs with tracing on (a real span starts per request) and the cap raised; the script opens N connections,
// each sending a POST /orders's headers and the first bytes of its body, then waits. The RSS difference, before and
// after, divided by N is the cost of one. Run from app/ after `npm run build`:
//   node scripts/connection-memory.mjs [connections=2000]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const connections = Number(process.argv[2] ?? 2000);

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A collector stand-in that takes connections and never answers: spans queue, as they would with a slow collector.
const stuck = net.createServer((socket) => socket.on('data', () => {}));
await new Promise((resolve) => stuck.listen(0, '127.0.0.1', resolve));

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
    MAX_CONNECTIONS: String(connections + 100),
    HTTP_HEADERS_TIMEOUT_MS: '60000',
    HTTP_REQUEST_TIMEOUT_MS: '300000',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
for (;;) {
  const ok = await new Promise((resolve) =>
    http
      .get({ port, path: '/healthz' }, (res) => resolve(res.resume().statusCode === 200))
      .on('error', () => resolve(false)),
  );
  if (ok) break;
  await sleep(100);
}
// Warm up: the routes, the JSON parser and the instrumentation's code paths load before the baseline.
for (let i = 0; i < 200; i++) {
  await new Promise((resolve) => http.get({ port, path: '/' }, (res) => res.resume().on('end', resolve)));
}
await sleep(1000);
const before = rssKb(proc.pid);

const sockets = [];
for (let i = 0; i < connections; i++) {
  const socket = net.connect(port, '127.0.0.1', () =>
    socket.write(
      'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"sku":',
    ),
  );
  socket.on('error', () => {});
  sockets.push(socket);
  if (i % 100 === 99) await sleep(20);
}
await sleep(3000);
const after = rssKb(proc.pid);
const perConnection = ((after - before) * 1024) / connections;
console.log(
  JSON.stringify({
    connections,
    rss_before_mb: +(before / 1024).toFixed(1),
    rss_after_mb: +(after / 1024).toFixed(1),
    bytes_per_connection: Math.round(perConnection),
  }),
);
for (const socket of sockets) socket.destroy();
proc.kill('SIGTERM');
stuck.close();
await new Promise((resolve) => proc.once('exit', resolve));
