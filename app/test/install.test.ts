// Builds and runs the service exactly as the image does, since there is no Docker engine here. The build stage: its
// COPY and RUN instructions, replayed in a directory outside the repo (the image build sees nothing above /app), must
// produce the bundles the other tests run. The runtime stage: only what it copies (dist/ and package.json, no
// node_modules), started with the CMD. A dependency the bundles failed to include would fail here, as in the image.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Dynalite } from './support/dynalite';
import { OtlpReceiver, SPAN_KIND } from './support/otlp-receiver';
import { APP_DIR, closeAgent, postOrder, request, startService } from './support/service';

// The build stage's `npm ci` needs the npm registry (or its cache).
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

/** The instructions of one stage of the Dockerfile (0 = the build stage, -1 = the runtime stage). */
function stage(index: number): string {
  return dockerfile()
    .split(/^FROM /m)
    .slice(1)
    .at(index)!;
}

/** The sources of the COPY instructions in the Dockerfile's last stage. */
function runtimeCopies(): string[] {
  return [...stage(-1).matchAll(/^COPY (?:--\S+ )*(\S+) \S+$/gm)].map((copy) => copy[1]);
}

describe('the image, as the Dockerfile assembles it', () => {
  it("when the build stage's COPY and RUN instructions run outside the repo, then they build the same bundles, warning about nothing", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'otel-app-build-'));
    try {
      const instructions = [...stage(0).matchAll(/^(COPY|RUN) (.+)$/gm)];
      for (const [, kind, args] of instructions) {
        if (kind === 'RUN') {
          // npm's notices stay out of the test output; a failing step still fails with its stderr in the message. No
          // warning either (peer dependency conflicts, install scripts not covered by allowScripts, deprecations).
          const step = spawnSync('sh', ['-c', args], {
            cwd: dir,
            stdio: ['ignore', 'ignore', 'pipe'],
            encoding: 'utf8',
          });
          expect({ args, status: step.status, stderr: step.stderr }).toEqual({
            args,
            status: 0,
            stderr: expect.any(String),
          });
          expect(step.stderr.split('\n').filter((line) => /^npm warn/i.test(line))).toEqual([]);
          continue;
        }
        const words = args.split(' ');
        const target = path.join(dir, words.at(-1)!);
        for (const source of words.slice(0, -1)) {
          const into = target.endsWith('/') ? path.join(target, path.basename(source)) : target;
          mkdirSync(path.dirname(into), { recursive: true });
          cpSync(path.join(APP_DIR, source), into, { recursive: true });
        }
      }
      expect(instructions.filter(([, kind]) => kind === 'RUN').length).toBeGreaterThan(0);
      for (const bundle of ['main.js', 'otlp-exporter.js']) {
        expect(
          readFileSync(path.join(dir, 'dist', bundle)).equals(readFileSync(path.join(APP_DIR, 'dist', bundle))),
        ).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('copies only the bundles and package.json into the runtime stage', () => {
    expect(runtimeCopies()).toEqual(['/app/dist', 'package.json']);
  });

  it('when started from dist/ and package.json alone with the CMD, then it is healthy, traces and correlates, and its DynamoDB calls are CLIENT spans', async () => {
    const argv = dockerCmd();
    expect(argv[0]).toBe('node');

    const dir = mkdtempSync(path.join(os.tmpdir(), 'otel-app-image-'));
    const receiver = await OtlpReceiver.start();
    const dynamo = await Dynalite.start();
    await dynamo.createOrdersTable('image-orders');
    try {
      cpSync(path.join(APP_DIR, 'package.json'), path.join(dir, 'package.json'));
      cpSync(path.join(APP_DIR, 'dist'), path.join(dir, 'dist'), { recursive: true });
      // Nothing could be resolved from a node_modules: not here, and not above (os.tmpdir() is outside the repo).
      expect(() => require.resolve('express', { paths: [dir] })).toThrow();
      expect(existsSync(path.join(dir, 'node_modules'))).toBe(false);

      const service = await startService(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_BSP_SCHEDULE_DELAY: '50',
          NODE_ENV: 'production',
          ...dynamo.serviceEnv('image-orders'),
        },
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

        // The AWS SDK and its instrumentation are in the bundle too: the order is in the table, and the call is a span.
        expect((await postOrder(service, { sku: 'IMAGE-1', quantity: 1 })).status).toBe(201);
        const withPut = await receiver.waitFor((s) => s.some((x) => x.name === 'DynamoDB.PutItem'));
        expect(withPut.find((s) => s.name === 'DynamoDB.PutItem')).toMatchObject({
          kind: SPAN_KIND.CLIENT,
          attributes: expect.objectContaining({ 'aws.dynamodb.table_names': ['image-orders'] }),
        });
      } finally {
        await service.stop();
      }
      expect(service.stderr).toBe('');
    } finally {
      await receiver.stop();
      await dynamo.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
