// Starting, probing and stopping a variant's server process, pinned to its own core when the machine has two.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A clean environment: nothing OTEL_* leaks in from the shell that runs the benchmark. */
function cleanEnv(extra) {
  const env = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[key]) env[key] = process.env[key];
  return { ...env, ...extra };
}

/**
 * Spawns the variant. stdout (the JSON log lines) goes to /dev/null, as cheap as the kernel makes it; stderr to a
 * file so a crash can be shown. `wrapper` runs node under another program (valgrind: instructions.mjs).
 */
export function startServer(variant, { port, cpu, extraNodeArgs = [], stderrPath, wrapper = [] }) {
  const line = [...wrapper, process.execPath, ...extraNodeArgs, ...variant.nodeArgs];
  const [command, argv] = cpu === undefined ? [line[0], line.slice(1)] : ['taskset', ['-c', String(cpu), ...line]];
  const stderr = stderrPath ? openSync(stderrPath, 'a') : 'ignore';
  const child = spawn(command, argv, {
    cwd: variant.cwd,
    env: cleanEnv({ ...variant.env, PORT: String(port) }),
    stdio: ['ignore', 'ignore', stderr],
  });
  if (typeof stderr === 'number') closeSync(stderr);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

/** Resolves with the status of one GET, or rejects on a connection error. */
export function get(port, path) {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.on('error', reject);
    request.setTimeout(5000, () => request.destroy(new Error('timeout')));
  });
}

/** Polls until `path` answers 200; returns the number of 200s it received (one) and how long it took. */
export async function waitFor200(child, port, path, timeoutMs = 30_000) {
  const started = performance.now();
  let exited = false;
  child.exited.then(() => (exited = true));
  while (performance.now() - started < timeoutMs) {
    if (exited) throw new Error(`server exited before answering ${path}`);
    try {
      const status = await get(port, path);
      if (status === 200) return performance.now() - started;
    } catch {
      // not listening yet
    }
    await sleep(2);
  }
  throw new Error(`no 200 from ${path} within ${timeoutMs} ms`);
}

/** SIGTERM, then SIGKILL after the deadline; returns how it ended and how long it took. */
export async function stopServer(child, deadlineMs = 15_000) {
  const started = performance.now();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  const { code, signal } = await child.exited;
  clearTimeout(timer);
  return { code, signal, stopMs: performance.now() - started, killed: signal === 'SIGKILL' };
}
