// The benchmark's (…-collector) variants against the real collector (issue 20): bench/lib/collector.mjs starts the
// collector and the X-Ray stand-in (bench/lib/task-sidecar.mjs), the built service exports to it with the task's
// environment, and what the stand-in received is counted as the bench counts it. jest's global setup has built the
// collector (tools/collector/jest-global-setup.ts); app/dist is the service's build.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Runs an ES module snippet in the repo root and returns what it printed as JSON. */
function esm(script: string): unknown {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`${result.stderr}\n${result.stdout}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!);
}

interface Summary {
  spans: number;
  serverByPath: Record<string, number>;
  documentsByPath: Record<string, number>;
  orphans: number;
  incompleteByPath: Record<string, number>;
  complaints: string[];
}

describe('a bench cell with the real collector', () => {
  const REQUESTS = 25;
  let outcome: {
    env: Record<string, string>;
    summary: Summary;
    collectorAlive: boolean;
    cpuMicros: { running: number; stopped: boolean };
  };

  beforeAll(() => {
    // Two cells in a row, as the bench runs them: what the first sent must not count in the second.
    outcome = esm(`
      import { TaskSidecar } from './bench/lib/collector.mjs';
      import { imageNodeArgs } from './bench/lib/variants.mjs';
      import { freePort, get, startServer, stopServer, waitFor200 } from './bench/lib/server.mjs';
      const appDir = ${JSON.stringify(path.join(ROOT, 'app'))};
      const sidecar = await TaskSidecar.start({ repoRoot: process.cwd(), fixedRate: 1 });
      const variant = { cwd: appDir, nodeArgs: imageNodeArgs(appDir), env: { NODE_ENV: 'production', ...sidecar.env } };
      async function cell(requests) {
        await sidecar.begin();
        const port = await freePort();
        const child = startServer(variant, { port });
        await waitFor200(child, port, '/healthz');
        await sidecar.rulesFetched();
        for (let i = 0; i < requests; i += 1) await get(port, '/');
        await stopServer(child);
        return sidecar.take();
      }
      await cell(3);
      const summary = await cell(${REQUESTS});
      const running = sidecar.cpuMicros();
      await sidecar.stop();
      const cpuMicros = { running, stopped: Number.isNaN(sidecar.cpuMicros()) };
      let collectorAlive = true;
      try { process.kill(sidecar.pid, 0); } catch { collectorAlive = false; }
      console.log(JSON.stringify({ env: sidecar.env, summary, collectorAlive, cpuMicros }));
    `) as typeof outcome;
  }, 180_000);

  test("the service gets the task's environment, pointed at the collector's OTLP receiver and awsproxy", () => {
    expect(outcome.env).toMatchObject({
      OTEL_EXPORTER_OTLP_ENDPOINT: expect.stringMatching(/^http:\/\/localhost:\d+$/),
      OTEL_TRACES_SAMPLER: 'xray',
      OTEL_TRACES_SAMPLER_ARG: expect.stringMatching(/^endpoint=http:\/\/localhost:\d+,/),
      OTEL_RESOURCE_ATTRIBUTES: expect.stringContaining('aws.log.group.names='),
    });
  });

  test("every GET / of the cell reached the stand-in as its segment, and only the cell's", () => {
    expect(outcome.summary.serverByPath).toEqual({ '/': REQUESTS });
  });

  test('one document per span: the server span and its `about` step (app/src/app.ts), none lost on the way', () => {
    expect(outcome.summary.documentsByPath).toEqual({ '/': 2 * REQUESTS });
    expect(outcome.summary.orphans).toBe(0);
    expect(outcome.summary.incompleteByPath).toEqual({ '/': 0 });
    expect(outcome.summary.complaints).toEqual([]);
  });

  test('stopping the sidecar stops the collector', () => {
    expect(outcome.collectorAlive).toBe(false);
  });

  test("the collector's CPU time reads while it runs, and as NaN, not an exception, once it has gone", () => {
    expect(outcome.cpuMicros.running).toBeGreaterThan(0);
    expect(outcome.cpuMicros.stopped).toBe(true);
  });
});

describe('a (…-collector) variant whose service is not built', () => {
  test('is skipped with the reason, starting no collector', () => {
    const variants = esm(`
      import { collectorVariants } from './bench/lib/collector.mjs';
      const twin = { id: 'b', env: {}, missing: 'app/dist has no main.js' };
      console.log(JSON.stringify(await collectorVariants({ variants: [twin], wanted: ['b-collector'], log: () => {} })));
    `);
    expect(variants).toEqual([expect.objectContaining({ id: 'b-collector', missing: 'app/dist has no main.js' })]);
  });
});

describe('the ids --variants accepts', () => {
  test('include each (…-collector) variant, and its twin is a variant the bench defines', () => {
    const { twins, accepted, defined } = esm(`
      import { parseBenchArgs } from './bench/lib/cli.mjs';
      import { COLLECTOR_TWINS } from './bench/lib/collector.mjs';
      import { defineVariants } from './bench/lib/variants.mjs';
      const defined = defineVariants({ repoRoot: '.', benchDir: 'bench', sinkPort: 1, cacheDir: '/tmp', serviceNodeOptions: '',
        proxies: { all: { endpoint: 'http://127.0.0.1:1' }, default: { endpoint: 'http://127.0.0.1:2' }, none: { endpoint: 'http://127.0.0.1:3' } } }).map((v) => v.id);
      const accepted = Object.keys(COLLECTOR_TWINS).filter((id) => { try { parseBenchArgs(['--variants', id]); return true; } catch { return false; } });
      console.log(JSON.stringify({ twins: COLLECTOR_TWINS, accepted, defined }));
    `) as { twins: Record<string, string>; accepted: string[]; defined: string[] };
    expect(accepted).toEqual(Object.keys(twins));
    for (const twin of Object.values(twins)) expect(defined).toContain(twin);
  });
});
