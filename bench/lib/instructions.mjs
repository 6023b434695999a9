// Instructions per request, counted by valgrind's callgrind: a count does not move with the machine's other load,
// so that a change of a few percent shows on a busy 2-core machine where CPU time varies by more. The server runs
// under `valgrind --tool=callgrind` (JIT code included), is warmed up with a fixed number of requests, then
// `callgrind_control --dump` writes and zeroes its counters before and after each window of requests, per thread.
// A window's count divided by its requests is one figure. V8's helper threads (concurrent marking, optimizing
// compiles) work in bursts that one window of a few hundred requests catches and the next does not (measured: 252 k
// to 358 k a request for the same server, 92% of the difference on the helper threads), so the figure reported is
// the median over many windows, of all threads and of the main thread alone (the request's own path), with the mean
// of all threads beside it. What a window counts beyond the requests (timers, the batch processor's export, the
// sampler's reports) is part of what serving them costs, but for the sampler's polls (see reportHourly).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { headersFor } from './alb.mjs';
import { freePort, startServer, stopServer, waitFor200 } from './server.mjs';

/** Why instructions cannot be counted here, or undefined when valgrind and callgrind_control are installed. */
export function instructionsUnavailable() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'valgrind (with callgrind_control) is not installed: apt-get install valgrind';
  }
}

/** `requests` requests over `connections` keep-alive connections, each sent when its connection's last is answered. */
export function sendRequests({ port, workload, requests, connections, alb }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let sent = 0;
  let answered = 0;
  let failed = 0;
  return new Promise((resolve, reject) => {
    const next = () => {
      if (sent === requests) return;
      sent += 1;
      const request = http.request(
        {
          agent,
          host: '127.0.0.1',
          port,
          path: workload.path,
          method: workload.method,
          headers: headersFor(workload, alb),
        },
        (response) => {
          response.on('error', (error) => {
            agent.destroy();
            reject(error);
          });
          if (response.statusCode < 200 || response.statusCode > 299) failed += 1;
          response.resume();
          response.on('end', () => {
            answered += 1;
            if (answered === requests) {
              agent.destroy();
              if (failed > 0) reject(new Error(`${failed} of ${requests} requests failed`));
              else resolve(requests);
            } else next();
          });
        },
      );
      request.on('error', (error) => {
        // A keep-alive socket the server closed as this request went out: Node's documented case for a retry
        // (`request.reusedSocket`); the server never read the request.
        if (request.reusedSocket && error.code === 'ECONNRESET') {
          sent -= 1;
          next();
          return;
        }
        agent.destroy();
        reject(error);
      });
      request.end(workload.body);
    };
    for (let i = 0; i < connections; i += 1) next();
  });
}

/** The total instructions of one callgrind dump file (its `summary:` line, else `totals:`). */
export function dumpTotal(file) {
  const text = readFileSync(file, 'utf8');
  const match = /^summary:\s+(\d+)/m.exec(text) ?? /^totals:\s+(\d+)/m.exec(text);
  if (!match) throw new Error(`no summary line in ${file}`);
  return Number(match[1].split(' ')[0]);
}

/**
 * Asks callgrind in `pid` to write its counters (one file a thread, `<prefix>.<pid>.<dump>-<thread>`) and zero them;
 * returns the instructions of all threads and of the main thread (`-01`) since the last dump.
 */
function dump(pid, outDir, prefix) {
  const before = new Set(readdirSync(outDir));
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
  const added = readdirSync(outDir).filter((f) => f.startsWith(prefix) && !before.has(f));
  const main = added.find((f) => f.endsWith('-01'));
  if (main === undefined) throw new Error(`callgrind_control --dump ${pid} wrote no main-thread file`);
  let all = 0;
  let mainTotal = 0;
  for (const file of added) {
    const total = dumpTotal(path.join(outDir, file));
    all += total;
    if (file === main) mainTotal = total;
    // BENCH_KEEP_DUMPS=<dir> keeps each window's main-thread dump there, for callgrind_annotate.
    if (file === main && process.env.BENCH_KEEP_DUMPS) {
      mkdirSync(process.env.BENCH_KEEP_DUMPS, { recursive: true });
      copyFileSync(path.join(outDir, file), path.join(process.env.BENCH_KEEP_DUMPS, file));
    }
    rmSync(path.join(outDir, file));
  }
  return { all, main: mainTotal };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/**
 * Instructions per request of `workload` on one fresh server of `variant`: the median of `windows` windows of
 * `requests` requests each, after `warmup` requests. Returns the figure, every window's, and the settings.
 */
export async function countInstructions(
  variant,
  { workload, warmup, requests, windows, connections = 4, cpu, outDir, stderrPath },
) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const prefix = `callgrind.${variant.id}`;
  const port = await freePort();
  const child = startServer(
    { ...variant, env: countedEnv(variant.env) },
    {
      port,
      cpu,
      stderrPath,
      wrapper: [
        'valgrind',
        '--tool=callgrind',
        `--callgrind-out-file=${path.join(outDir, prefix)}.%p`,
        '--separate-threads=yes',
        '--dump-line=no',
      ],
    },
  );
  const alb = variant.albHeader !== false;
  try {
    await waitFor200(child, port, '/healthz', 600_000);
    await sendRequests({ port, workload, requests: warmup, connections, alb });
    dump(child.pid, outDir, prefix);
    const perWindow = [];
    const mainPerWindow = [];
    for (let w = 0; w < windows; w += 1) {
      await sendRequests({ port, workload, requests, connections, alb });
      const counted = dump(child.pid, outDir, prefix);
      perWindow.push(counted.all / requests);
      mainPerWindow.push(counted.main / requests);
    }
    return {
      perRequest: median(perWindow),
      mainPerRequest: median(mainPerWindow),
      meanPerRequest: perWindow.reduce((sum, x) => sum + x, 0) / windows,
      perWindow,
      mainPerWindow,
      warmup,
      requests,
      windows,
      connections,
    };
  } finally {
    await stopServer(child, 60_000);
    rmSync(outDir, { recursive: true, force: true });
  }
}

/**
 * The sampler's polls are per second, not per request: under callgrind, where a server serves a few to a few dozen
 * requests a second, a rules fetch every 60 s and a report every 10 s fall on a few hundred requests and add tens of
 * thousands of instructions to each ((b-none) counted 352 k against (a)'s 240 k with them, on a machine at load 30 serving a few requests a second), where at
 * full speed they add nothing measurable. While counting, the fake proxies ask for reports once an hour and the
 * variants poll their rules once an hour (`countedEnv`); the timed rounds keep the task's settings.
 */
export function reportHourly(proxies) {
  const before = Object.values(proxies).map((proxy) => [proxy, proxy.targetsIntervalS]);
  for (const proxy of Object.values(proxies)) proxy.targetsIntervalS = 3600;
  return () => {
    for (const [proxy, interval] of before) proxy.targetsIntervalS = interval;
  };
}

/**
 * The variant's environment for a count: the X-Ray sampler polls its rules once an hour (see reportHourly), and the
 * service's header and request timeouts are at their longest, which a server slowed down fifty times or more can
 * otherwise pass with requests waiting in its socket (a reset, not a cost per request).
 */
export function countedEnv(env) {
  const arg = env.OTEL_TRACES_SAMPLER_ARG;
  return {
    ...env,
    HTTP_HEADERS_TIMEOUT_MS: '60000',
    HTTP_REQUEST_TIMEOUT_MS: '300000',
    ...(arg === undefined
      ? {}
      : { OTEL_TRACES_SAMPLER_ARG: arg.replace(/polling_interval=\d+/, 'polling_interval=3600') }),
  };
}
