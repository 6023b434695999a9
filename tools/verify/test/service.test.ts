// The HTTP part against the real service: the built app (`npm run build`) started as a child process on port 0,
// tracing on, exporting to a closed port (spans are dropped; its log lines still carry the trace IDs).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { main } from '../cli';
import { toXRayTraceId } from '../ids';
import { checkReachable, sendTraffic, type SentRequest } from '../traffic';
import { FakeAws, FakeClock, captureIo, type ReceivedRequest } from './fakes';

const APP_DIR = join(__dirname, '..', '..', '..', 'app');
const BUILT = existsSync(join(APP_DIR, 'dist', 'server.js')) && existsSync(join(APP_DIR, 'dist', 'instrumentation.js'));

interface LogLine {
  msg?: string;
  port?: number;
  method?: string;
  path?: string;
  trace_id?: string;
  xray_trace_id?: string;
  'AWS-XRAY-TRACE-ID'?: string;
}

jest.setTimeout(20_000);

/** Virtual time, but each pause also yields a few real milliseconds so the service's log lines can arrive. */
class RealPauseClock extends FakeClock {
  override async sleep(ms: number): Promise<void> {
    await super.sleep(ms);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Waits (bounded) until `check` holds for the lines logged so far. */
async function until(check: () => boolean, tries = 100): Promise<void> {
  for (let i = 0; i < tries && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

(BUILT ? describe : describe.skip)('against the real service (app/dist, built by npm run build)', () => {
  let child: ChildProcess;
  let url: string;
  const lines: LogLine[] = [];
  let stderr = '';

  /** The requests the service logged as completed, in the shape the mocked AWS answers from. */
  const completed = {
    get received(): ReceivedRequest[] {
      return lines
        .filter((l) => l.msg === 'request completed' && (l.path === '/' || l.path === '/orders') && l.trace_id)
        .map((l) => ({ method: l.method ?? 'GET', path: l.path ?? '/', headers: {}, body: '', traceId: l.trace_id }));
    },
  };

  beforeAll(async () => {
    child = spawn(process.execPath, ['--import', './dist/instrumentation.js', 'dist/server.js'], {
      cwd: APP_DIR,
      env: {
        PATH: process.env.PATH,
        PORT: '0',
        LOG_LEVEL: 'info',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
      },
      // stderr is kept, not shown: with no collector the service's exit on SIGTERM is noisy, and not what is tested.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const listening = new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the service exited with ${code} before listening: ${stderr}`)));
      createInterface({ input: child.stdout! }).on('line', (text) => {
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          return;
        }
        lines.push(line);
        if (line.msg === 'listening' && line.port) resolve(line.port);
      });
    });
    url = `http://127.0.0.1:${await listening}`;
  });

  afterAll(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  describe('when the verifier sends its traffic', () => {
    let sent: SentRequest[];

    beforeAll(async () => {
      await checkReachable(url);
      sent = await sendTraffic(url, { requestsPerRoute: 2 });
    });

    it('gets the answers the contract promises: 200 for /, 201 for /orders', () => {
      expect(sent.map((s) => [s.route.name, s.status, s.error])).toEqual([
        ['GET /', 200, undefined],
        ['POST /orders', 201, undefined],
        ['GET /', 200, undefined],
        ['POST /orders', 201, undefined],
      ]);
    });

    it('the service continues each generated trace and logs its ID in both forms', async () => {
      const logged = (s: SentRequest) => lines.filter((l) => l.trace_id === s.context.traceId);
      await until(() => sent.every((s) => logged(s).some((l) => l.msg === 'request completed')));
      for (const s of sent) {
        const own = logged(s);
        expect(own.length).toBeGreaterThan(0);
        for (const line of own) {
          expect(line.xray_trace_id).toBe(s.context.xrayTraceId);
          expect(line['AWS-XRAY-TRACE-ID']).toMatch(new RegExp(`^${s.context.xrayTraceId}@[0-9a-f]{16}$`));
        }
      }
    });
  });

  describe('when the whole command runs against it, AWS mocked', () => {
    it('judges every trace OK and exits 0', async () => {
      const fake = new FakeAws(completed);
      const io = captureIo();
      const code = await main(['--url', url, '--requests', '1'], io, () => ({
        cfn: fake.cfn,
        xray: fake.xray,
        logs: fake.logs,
        clock: new RealPauseClock(),
      }));
      expect(io.err).not.toMatch(/^verify:/m);
      expect(code).toBe(0);
      const mine = completed.received.slice(-2).map((r) => toXRayTraceId(r.traceId ?? ''));
      for (const id of mine) expect(io.out).toMatch(new RegExp(`^${id} .* OK `, 'm'));
    });
  });
});

if (!BUILT) {
  it.todo('against the real service: run `npm run build` first, app/dist is missing');
}
