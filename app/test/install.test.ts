// Installs and starts the service exactly as the Dockerfile does (package.json and lock, `npm ci --omit=dev`, then
// scripts/prune-production.sh, dist, the image's CMD), since there is no Docker engine here. Needs the npm registry.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OtlpReceiver, SPAN_KIND } from './support/otlp-receiver';
import { APP_DIR, closeAgent, request, startService } from './support/service';

jest.setTimeout(240_000);

afterAll(() => closeAgent());

function dockerfile(): string {
  return readFileSync(path.join(APP_DIR, 'Dockerfile'), 'utf8');
}

/** The exec-form CMD of the Dockerfile, as an argv. */
function dockerCmd(): string[] {
  const cmd = /^CMD (\[.*\])\s*$/m.exec(dockerfile());
  if (!cmd) throw new Error('no exec-form CMD in the Dockerfile');
  return JSON.parse(cmd[1]) as string[];
}

describe('the image, installed the way the Dockerfile installs it', () => {
  it('when installed with production dependencies only and started with the CMD, then it is healthy and traces', async () => {
    const argv = dockerCmd();
    expect(argv[0]).toBe('node');

    const dir = mkdtempSync(path.join(os.tmpdir(), 'otel-app-image-'));
    const receiver = await OtlpReceiver.start();
    try {
      cpSync(path.join(APP_DIR, 'package.json'), path.join(dir, 'package.json'));
      cpSync(path.join(APP_DIR, 'package-lock.json'), path.join(dir, 'package-lock.json'));
      execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
      // The Dockerfile prunes right after `npm ci`: the service below runs on the pruned tree.
      expect(dockerfile()).toMatch(/npm ci --omit=dev[^\n]*&& sh scripts\/prune-production\.sh node_modules$/m);
      execFileSync('sh', [path.join(APP_DIR, 'scripts', 'prune-production.sh'), 'node_modules'], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      expect(existsSync(path.join(dir, 'node_modules', '@types'))).toBe(false);
      expect(existsSync(path.join(dir, 'node_modules', '@opentelemetry', 'core', 'dist', 'index.d.cts'))).toBe(false);
      cpSync(path.join(APP_DIR, 'dist'), path.join(dir, 'dist'), { recursive: true });

      const service = await startService(
        { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50', NODE_ENV: 'production' },
        { cwd: dir, argv: argv.slice(1) },
      );
      try {
        expect((await request(service.url('/healthz'))).status).toBe(200);
        expect((await request(service.url('/'))).body).toBe('Welcome to the Home Page!');
        const spans = await receiver.waitFor((s) => s.some((x) => x.name === 'about'));
        const about = spans.find((s) => s.name === 'about')!;
        const root = spans.find((s) => s.spanId === about.parentSpanId)!;
        expect(root).toMatchObject({ name: 'GET /', kind: SPAN_KIND.SERVER });
        expect(service.lines.find((l) => l.msg === 'about us page')!.trace_id).toBe(about.traceId);
        // No dev dependency is installed.
        expect(() => require.resolve('typescript', { paths: [dir] })).toThrow();
      } finally {
        await service.stop();
      }
    } finally {
      await receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
