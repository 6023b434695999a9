// Runs the built service as a child process, the way the image runs it (node dist/main.js), and
// collects its stdout as parsed JSON lines. Anything on stdout that is not JSON, or anything on stderr, is kept
// so tests can assert there is none.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export const APP_DIR = path.join(__dirname, '..', '..');
export const ENTRY = ['dist/main.js'];

export type LogLine = Record<string, unknown> & { level: string; msg: string };

/** For probe scripts: a JavaScript expression that is true once the exporter's bundle, dist/otlp-exporter.js, loaded. */
export const EXPORTER_LOADED = "Object.keys(require.cache).some((k) => k.endsWith('otlp-exporter.js'))";

/**
 * Runs `script` inside the service's own process, right after dist/main.js has loaded and started it
 * (`node --require ./dist/main.js -e script`), until the process exits. Returns every JSON line of stdout (the
 * service's, and whatever the script writes) and stderr. Asynchronous, so an OTLP receiver in the test's process
 * can answer meanwhile.
 */
export async function runInService(
  script: string,
  env: Record<string, string>,
): Promise<{ lines: Record<string, unknown>[]; stderr: string }> {
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ['--require', './dist/main.js', '-e', script],
    {
      cwd: APP_DIR,
      env: baseEnv(env),
      encoding: 'utf8',
    },
  );
  const lines = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { lines, stderr };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Service {
  readonly lines: LogLine[] = [];
  readonly nonJson: string[] = [];
  stderr = '';
  port = 0;
  readonly exited: Promise<Exit>;
  private buffer = '';

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.nonJson.push(line);
        }
      }
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  async waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found) return found;
      if (Date.now() > until) throw new Error(`log line not seen in ${timeoutMs} ms; stderr: ${this.stderr}`);
      if (this.proc.exitCode !== null) throw new Error(`service exited ${this.proc.exitCode}; stderr: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * The lines written from `mark` (an index into `lines`, taken before a request was sent) up to and including the
   * first line after it that `last` matches (the request's access line), waiting for that line. Selected by
   * position, not by trace ID, so that a line missing its IDs is selected too.
   */
  async linesFrom(mark: number, last: (line: LogLine) => boolean): Promise<LogLine[]> {
    const until = Date.now() + 15_000;
    for (;;) {
      for (let i = mark; i < this.lines.length; i++) {
        if (last(this.lines[i])) return this.lines.slice(mark, i + 1);
      }
      if (Date.now() > until) throw new Error(`request's last line not seen; stderr: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Log lines of one trace (by its 32-hex ID). */
  linesOf(traceId: string): LogLine[] {
    return this.lines.filter((l) => l.trace_id === traceId);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }
}

/**
 * Environment for the child: the parent's PATH and nothing OpenTelemetry from the parent. Every request is recorded
 * unless a test names another sampler (the service's default, `xray`, asks a proxy that these tests do not run).
 */
export function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: '0',
    OTEL_TRACES_SAMPLER: 'always_on',
  };
  return { ...env, ...extra };
}

/** The `traceresponse` header (W3C Trace Context Level 2): `00-<trace id>-<span id>-<flags>`. */
export function traceResponse(reply: Reply): { traceId: string; spanId: string; sampled: boolean } {
  const header = reply.headers.traceresponse;
  const match = typeof header === 'string' ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(header) : null;
  if (!match) throw new Error(`no valid traceresponse header: ${String(header)}`);
  return { traceId: match[1], spanId: match[2], sampled: match[3] === '01' };
}

export function spawnService(extra: Record<string, string>, options: { cwd?: string; argv?: string[] } = {}): Service {
  const proc = spawn(process.execPath, options.argv ?? ENTRY, {
    cwd: options.cwd ?? APP_DIR,
    env: baseEnv(extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Service(proc);
}

/** Starts the service and waits until it listens. */
export async function startService(
  extra: Record<string, string>,
  options: { cwd?: string; argv?: string[] } = {},
): Promise<Service> {
  const service = spawnService(extra, options);
  try {
    if (extra.PORT !== undefined && extra.PORT !== '0') {
      // A quiet LOG_LEVEL hides the "listening" line: wait for the health check instead.
      service.port = Number(extra.PORT);
      await waitForHealth(service, 30_000);
    } else {
      const listening = await service.waitForLine((l) => l.msg === 'listening', 30_000);
      service.port = listening.port as number;
    }
    return service;
  } catch (error) {
    await service.stop('SIGKILL');
    throw error;
  }
}

async function waitForHealth(service: Service, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await request(service.url('/healthz'))).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until || service.proc.exitCode !== null)
      throw new Error(`no health check; stderr: ${service.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: () => Record<string, unknown>;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

/** A plain HTTP request from the test process (not traced: the test process loads no SDK). */
export function request(
  url: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body) as Record<string, unknown>,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export function postOrder(
  service: Service,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
  agentOverride?: http.Agent,
): Promise<Reply> {
  return request(service.url('/orders'), {
    agent: agentOverride,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** `1-xxxxxxxx-yyyy…` to the 32-hex form. */
export function fromXray(xray: string): string {
  return xray.slice(2, 10) + xray.slice(11);
}

export const XRAY_ID = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;

/** Lines that are about the process, not a request: they carry no trace IDs by design. */
export const PROCESS_MESSAGES = new Set([
  'listening',
  'shutting down',
  'stopped',
  'span flush failed: the spans still queued at shutdown are lost',
  'tracing shutdown failed',
  'sampling rules loaded',
  'sampling rules available again',
  // The listeners' own reports (http-limits.ts), written outside any request.
  'the file descriptor limit is below the connection cap: connections past it are reset, not refused',
  'connection cap reached: new connections closed',
  'out of file descriptors: new connections are reset',
  'listener error',
]);

/** True for a line written outside any request: the process's lifecycle and the SDK's own diagnostics. */
export function isProcessLine(line: LogLine): boolean {
  return (
    PROCESS_MESSAGES.has(line.msg) ||
    line.component === 'opentelemetry' ||
    line.component === 'sampling' ||
    /^span flush/.test(line.msg)
  );
}

/** Peak resident memory of a process (Linux), in bytes. */
export function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

export function closeAgent(): void {
  agent.destroy();
}
