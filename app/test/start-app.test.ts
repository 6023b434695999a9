// `npm run start:app`, exactly as the root README runs it, stops on the signal sent to the process that command
// starts (npm): the service flushes and exits, the port is free, and npm exits with the service's code. npm 11's
// run-script forwards SIGTERM/SIGINT to its child, the `sh -c` it runs the script in; dash (Debian's /bin/sh)
// does not exec a lone command and dies on SIGTERM, so without `exec` the service was orphaned and kept serving.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { APP_DIR, Service, request } from './support/service';
import { OtlpReceiver } from './support/otlp-receiver';

const ROOT = path.join(APP_DIR, '..');

/** `npm run start:app` in the repo root, in a process group of its own (as a terminal would start it). */
async function startApp(env: Record<string, string>): Promise<Service> {
  const proc = spawn('npm', ['run', 'start:app'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', ...env },
  });
  const service = new Service(proc);
  const listening = await service.waitForLine((l) => l.msg === 'listening', 30_000);
  service.port = listening.port as number;
  return service;
}

/** True while any process of the group (npm, a shell, the service) is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

describe('npm run start:app', () => {
  const started: Service[] = [];
  afterEach(() => {
    // Whatever a failing test left behind (an orphaned service) goes with its group.
    for (const service of started.splice(0)) {
      if (groupAlive(service.proc.pid!)) process.kill(-service.proc.pid!, 'SIGKILL');
    }
  });

  test.each(['SIGTERM', 'SIGINT'] as const)(
    'when npm gets %s, then the service stops cleanly, its port is free and npm exits with its code 0',
    async (signal) => {
      const service = await startApp({ OTEL_SDK_DISABLED: 'true' });
      started.push(service);
      expect((await request(service.url('/'))).status).toBe(200);

      service.proc.kill(signal);
      const exit = await service.exited;

      expect(await waitUntil(() => !groupAlive(service.proc.pid!), 5_000)).toBe(true);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(service.lines.find((l) => l.msg === 'stopped')).toBeDefined();
      expect(await portIsFree(service.port)).toBe(true);
    },
  );

  test('when Ctrl-C signals the whole group, then the service still flushes and npm exits 0', async () => {
    const receiver = await OtlpReceiver.start();
    try {
      const service = await startApp({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
      started.push(service);
      expect((await request(service.url('/'))).status).toBe(200);

      process.kill(-service.proc.pid!, 'SIGINT');
      const exit = await service.exited;

      expect(exit).toEqual({ code: 0, signal: null });
      expect(service.lines.find((l) => l.msg === 'stopped')).toMatchObject({ spans_flushed: true });
      expect(receiver.spans.some((s) => s.name === 'GET /')).toBe(true);
      expect(await waitUntil(() => !groupAlive(service.proc.pid!), 5_000)).toBe(true);
    } finally {
      await receiver.stop();
    }
  });

  test('when the service cannot start, then npm exits with its code', async () => {
    const proc = spawn('npm', ['run', 'start:app'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: 'eighty' },
    });
    const service = new Service(proc);
    expect(await service.exited).toEqual({ code: 1, signal: null });
    expect(service.lines.find((l) => l.level === 'fatal' || l.level === 'error')?.msg).toMatch(/PORT/);
  });
});

describe('a repeated signal while stopping', () => {
  test('when SIGINT comes again during the flush, then the shutdown carries on and exits 0', async () => {
    // A collector that never answers holds the flush until the deadline, so the second signal lands mid-flush.
    const receiver = await OtlpReceiver.start(0, 'hang');
    try {
      const proc = spawn(process.execPath, ['dist/main.js'], {
        cwd: APP_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH,
          PORT: '0',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          SHUTDOWN_TIMEOUT_MS: '1500',
        },
      });
      const service = new Service(proc);
      service.port = (await service.waitForLine((l) => l.msg === 'listening')).port as number;
      expect((await request(service.url('/'))).status).toBe(200);

      proc.kill('SIGINT');
      await service.waitForLine((l) => l.msg === 'shutting down');
      proc.kill('SIGINT');
      const exit = await service.exited;

      expect(exit).toEqual({ code: 0, signal: null });
      expect(service.lines.find((l) => l.msg === 'stopped')).toBeDefined();
    } finally {
      await receiver.stop();
    }
  });
});
