// Runs the service exactly as the image does, since there is no Docker engine here: only what the Dockerfile's
// runtime stage copies (dist/ and package.json, no node_modules), started with the Dockerfile's CMD, from a directory
// with no node_modules above it. A dependency the bundles failed to include would fail here, as it would in the image.
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OtlpReceiver, SPAN_KIND } from './support/otlp-receiver';
import { APP_DIR, closeAgent, request, startService } from './support/service';

jest.setTimeout(60_000);

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

/** The sources of the COPY instructions in the Dockerfile's last stage. */
function runtimeCopies(): string[] {
  const lastStage = dockerfile()
    .split(/^FROM /m)
    .at(-1)!;
  return [...lastStage.matchAll(/^COPY (?:--\S+ )*(\S+) \S+$/gm)].map((copy) => copy[1]);
}

describe('the image, as the Dockerfile assembles it', () => {
  it('copies only the bundles and package.json into the runtime stage', () => {
    expect(runtimeCopies()).toEqual(['/app/dist', 'package.json']);
  });

  it('when started from dist/ and package.json alone with the CMD, then it is healthy, traces and correlates', async () => {
    const argv = dockerCmd();
    expect(argv[0]).toBe('node');

    const dir = mkdtempSync(path.join(os.tmpdir(), 'otel-app-image-'));
    const receiver = await OtlpReceiver.start();
    try {
      cpSync(path.join(APP_DIR, 'package.json'), path.join(dir, 'package.json'));
      cpSync(path.join(APP_DIR, 'dist'), path.join(dir, 'dist'), { recursive: true });
      // Nothing could be resolved from a node_modules: not here, and not above (os.tmpdir() is outside the repo).
      expect(() => require.resolve('express', { paths: [dir] })).toThrow();
      expect(existsSync(path.join(dir, 'node_modules'))).toBe(false);

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
        // The version on the spans comes from the copied package.json.
        const version = (JSON.parse(readFileSync(path.join(APP_DIR, 'package.json'), 'utf8')) as { version: string })
          .version;
        expect(root.resource).toMatchObject({ 'service.version': version });
      } finally {
        await service.stop();
      }
      expect(service.stderr).toBe('');
    } finally {
      await receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
