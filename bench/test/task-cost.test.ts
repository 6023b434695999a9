// What the task really costs (issue 20): how the benchmark counts the real collector's segment documents at the
// X-Ray stand-in (bench/lib/segments.mjs), turns the (…-collector) cells into the task's cost and the issue's targets
// (bench/lib/task-cost.mjs), and renders them into BENCHMARKS.md (bench/lib/render.mjs).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Calls an exported function of a bench module with JSON arguments (the bench is ESM; this test is CommonJS). */
function call(module: string, name: string, ...args: unknown[]): unknown {
  const script =
    `import { ${name} } from './bench/lib/${module}';` +
    `console.log(JSON.stringify(await ${name}(...${JSON.stringify(args)})) ?? 'null')`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

type Document = Record<string, unknown>;

/** A GET / as the awsxray exporter sends it: the server span's segment and the `about` step's subsegment. */
function homeTrace(traceId: string): Document[] {
  return [
    {
      trace_id: traceId,
      id: `${traceId}-s`,
      name: 'otel-fargate-service',
      http: { request: { url: 'http://h/?x=1' } },
    },
    { trace_id: traceId, id: `${traceId}-a`, parent_id: `${traceId}-s`, type: 'subsegment', name: 'about' },
  ];
}

interface Summary {
  spans: number;
  serverSpans: number;
  serverByPath: Record<string, number>;
  documentsByPath: Record<string, number>;
  orphans: number;
  incompleteByPath: Record<string, number>;
}

describe('counting the documents the stand-in received', () => {
  test('each GET / counts one server segment on its path and two documents, none lost', () => {
    const summary = call('segments.mjs', 'summarizeSegments', [...homeTrace('t1'), ...homeTrace('t2')]) as Summary;
    expect(summary).toMatchObject({
      spans: 4,
      serverSpans: 2,
      serverByPath: { '/': 2 },
      documentsByPath: { '/': 4 },
      orphans: 0,
      incompleteByPath: { '/': 0 },
    });
  });

  test('a subsegment whose parent never arrived is an orphan', () => {
    const [, about] = homeTrace('t1');
    const summary = call('segments.mjs', 'summarizeSegments', [...homeTrace('t2'), about]) as Summary;
    expect(summary.orphans).toBe(1);
    expect(summary.serverByPath).toEqual({ '/': 1 });
  });

  test('a GET / trace with fewer documents than the others is incomplete', () => {
    const [segment] = homeTrace('t3');
    const summary = call('segments.mjs', 'summarizeSegments', [
      ...homeTrace('t1'),
      ...homeTrace('t2'),
      segment,
    ]) as Summary;
    expect(summary.incompleteByPath).toEqual({ '/': 1 });
  });

  test('a downstream segment (the pricing call) counts on its own path, its documents on the trace entry', () => {
    const order = [
      { trace_id: 'o', id: 'o-s', name: 'svc', http: { request: { url: 'http://h/orders' } } },
      { trace_id: 'o', id: 'o-c', parent_id: 'o-s', type: 'subsegment', name: 'pricing.call' },
      { trace_id: 'o', id: 'o-p', parent_id: 'o-c', name: 'svc', http: { request: { url: 'http://h/prices/SKU-1' } } },
    ];
    const summary = call('segments.mjs', 'summarizeSegments', order) as Summary;
    expect(summary.serverByPath).toEqual({ '/orders': 1, '/prices/SKU-1': 1 });
    expect(summary.documentsByPath).toEqual({ '/orders': 3 });
  });

  test('a segment without an HTTP request takes its path from its name', () => {
    expect(call('segments.mjs', 'segmentPath', { name: 'GET /healthz' })).toBe('/healthz');
  });

  test("the collector's warn and error lines about spans are complaints; info, extensions' and non-JSON lines are not", () => {
    const lines = [
      '{"level":"info","msg":"Everything is ready."}',
      '{"level":"warn","msg":"Sender failed","otelcol.component.kind":"exporter","dropped_items":50}',
      '{"level":"error","msg":"Exporting failed. Dropping data.","otelcol.component.kind":"exporter"}',
      '{"level":"warn","msg":"Memory usage is above soft limit. Refusing data.","otelcol.component.kind":"processor"}',
      '{"level":"warn","msg":"no credentials","otelcol.component.kind":"extension","otelcol.component.id":"awsproxy"}',
      '2026/12/07 01:45:11 http: proxy error: context canceled',
    ];
    expect(call('segments.mjs', 'collectorComplaints', lines)).toEqual(lines.slice(1, 4));
  });
});

/** A cell of the bench's results with what task-cost.mjs reads. */
function cell(serviceUs: number, collectorUs?: number, extra: Record<string, unknown> = {}) {
  return {
    phases: {
      home: {
        cpuUsPerRequest: serviceUs,
        ...(collectorUs === undefined ? {} : { collectorCpuUsPerRequest: collectorUs }),
      },
    },
    served: { '/': 1000, '/orders': 200 },
    serverSpansMissing: { '/': 0, '/orders': 0 },
    spans: {
      spans: 2400,
      serverByPath: { '/': 1000 },
      documentsByPath: { '/': 2000 },
      orphans: 0,
      incompleteByPath: { '/': 0 },
      complaints: [],
    },
    ...extra,
  };
}

interface Target {
  issue: number;
  name: string;
  pass: boolean | null;
  detail: string;
}

describe("the task's cost and the issue's targets", () => {
  const rounds = [
    { a: cell(100), 'b-rule-collector': cell(110, 10), 'b-collector': cell(300, 90) },
    { a: cell(100), 'b-rule-collector': cell(120, 20), 'b-collector': cell(300, 110) },
  ];

  test('the task is the service and the collector together, against (a) round by round', () => {
    const cost = call('task-cost.mjs', 'taskCost', { rounds }) as Record<string, Record<string, { median: number }>>;
    expect(cost['b-rule-collector'].taskUs.median).toBe(130);
    expect(cost['b-rule-collector'].taskOverA.median).toBeCloseTo(1.3);
    // 90 / (300 − 100) and 110 / (300 − 100)
    expect(cost['b-collector'].collectorOverTracing.median).toBeCloseTo(0.5);
    // two documents per GET /: the collector's 100 µs per GET / is 50 µs per span
    expect(cost['b-collector'].spansPerRequest.median).toBe(2);
    expect(cost['b-collector'].collectorUsPerSpan.median).toBe(50);
  });

  function targets(someRounds: unknown[]): Target[] {
    const cost = call('task-cost.mjs', 'taskCost', { rounds: someRounds });
    return call('task-cost.mjs', 'taskCostTargets', cost) as Target[];
  }

  test('service + collector at the default rule passes at 1.25 × (a) and fails above', () => {
    const at = targets([{ a: cell(100), 'b-rule-collector': cell(115, 10) }]);
    const above = targets([{ a: cell(100), 'b-rule-collector': cell(115, 11) }]);
    expect(at.find((t) => t.name.startsWith('(b-rule-collector) at the default rule'))).toMatchObject({
      pass: true,
      issue: 20,
    });
    expect(above.find((t) => t.name.startsWith('(b-rule-collector) at the default rule'))).toMatchObject({
      pass: false,
      detail: '(service 115 µs + collector 11 µs) / (a) = 1.26 (1.26–1.26)',
    });
  });

  test("the collector recording every request passes at half the service's tracing cost and fails above", () => {
    const name = '(b-collector) every request recorded';
    expect(targets([{ a: cell(100), 'b-collector': cell(300, 100) }]).find((t) => t.name.startsWith(name))?.pass).toBe(
      true,
    );
    expect(targets([{ a: cell(100), 'b-collector': cell(300, 101) }]).find((t) => t.name.startsWith(name))?.pass).toBe(
      false,
    );
  });

  test.each([
    ['a server segment missing', { serverSpansMissing: { '/': 1, '/orders': 0 } }, '1 server segments missing'],
    ['an orphan', { spans: { ...cell(1).spans, orphans: 2 } }, '2 subsegments without their parent'],
    ['a short GET / trace', { spans: { ...cell(1).spans, incompleteByPath: { '/': 3 } } }, '3 GET / traces short'],
    ['a collector complaint', { spans: { ...cell(1).spans, complaints: ['{"level":"error"}'] } }, '1 warn/error lines'],
  ])('a span lost on the way (%s) fails the loss target and says what was lost', (_, extra, says) => {
    const loss = targets([{ a: cell(100), 'b-collector': cell(300, 90, extra) }]).find((t) =>
      t.name.startsWith('(b-collector) no span lost'),
    );
    expect(loss?.pass).toBe(false);
    expect(loss?.detail).toContain(says);
  });

  test('without (…-collector) variants in the run, every target of the issue says so instead of passing', () => {
    const list = targets([{ a: cell(100) }]);
    expect(list.length).toBeGreaterThan(0);
    for (const target of list) expect(target).toMatchObject({ pass: null, detail: 'not in this run' });
  });
});

/** A whole cell, as run.mjs records one, for analyse.mjs and render.mjs. */
function fullCell(serviceUs: number, collectorUs?: number) {
  const phase = { rps: 1000, p50Ms: 1, p99Ms: 5, serverCpuShare: 1, foreignShare: { server: 0, load: 0 } };
  const small = cell(serviceUs, collectorUs);
  return {
    ...small,
    phases: {
      home: { ...phase, ...small.phases.home },
      orders: { ...phase, cpuUsPerRequest: 2 * serviceUs },
      open: { ...phase, cpuUsPerRequest: serviceUs },
    },
    spans: { ...small.spans, byName: { 'GET /': 1000, about: 1000 } },
    peakRssMB: 100,
    ...(collectorUs === undefined ? {} : { collectorPeakRssMB: 60 }),
    stop: { stopMs: 50, killed: false },
    sdkSaysDropped: 0,
  };
}

/** analyse.mjs then render.mjs on a run of (a) and both (…-collector) variants. */
function renderedPage(): string {
  const variant = (id: string) => ({
    id,
    label: id,
    nodeArgs: ['dist/main.js'],
    env: id.endsWith('-collector')
      ? {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:43170',
          OTEL_TRACES_SAMPLER_ARG: 'endpoint=http://localhost:20000,polling_interval=60',
        }
      : {},
    traced: id !== 'a',
  });
  const results = {
    name: 'quick',
    mode: 'quick',
    date: '2026-12-07T00:00:00.000Z',
    commit: 'abc1234',
    elapsedS: 60,
    command: 'npm run bench -- --quick',
    machine: { cpuModel: 'cpu', cores: 2, memoryGB: 8, kernel: 'Linux', node: 'v24', pinning: 'none' },
    config: { connections: 32, durationS: 3, openRate: 1000, openDurationS: 2, starts: 1, rounds: 1, warmupS: 1 },
    quiet: { loadBefore: [1, 1, 1], loadAfter: [1, 1, 1], otherProcessesBefore: [] },
    variants: ['a', 'b-collector', 'b-rule-collector'].map(variant),
    startup: { a: [300], 'b-collector': [320], 'b-rule-collector': [310] },
    rounds: [{ a: fullCell(100), 'b-collector': fullCell(300, 80), 'b-rule-collector': fullCell(110, 10) }],
  };
  const script =
    "import { analyse } from './bench/lib/analyse.mjs'; import { render } from './bench/lib/render.mjs';" +
    `const results = ${JSON.stringify(results)}; results.analysis = analyse(results);` +
    'console.log(JSON.stringify(render(results)))';
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout) as string;
}

describe('BENCHMARKS.md with the task', () => {
  let page: string;
  beforeAll(() => {
    page = renderedPage();
  });

  test("a (…-collector) variant's command names the collector where the others name the sink", () => {
    expect(page).toContain(
      '| (b-collector) | b-collector | `OTEL_EXPORTER_OTLP_ENDPOINT=http://collector ' +
        'OTEL_TRACES_SAMPLER_ARG=endpoint=http://collector,polling_interval=60 node dist/main.js` |',
    );
  });

  test("the issue's targets come first, with their verdicts and figures", () => {
    const first = page.indexOf('## Targets from');
    expect(page.slice(first)).toMatch(/^## Targets from issue 20: what the task really costs/);
    expect(page).toContain(
      "| (b-rule-collector) at the default rule: service + collector CPU per GET / ≤ 1.25 × (a)'s | **pass** | " +
        '(service 110 µs + collector 10 µs) / (a) = 1.20 (1.20–1.20) |',
    );
    expect(page).toContain(
      "the service's own tracing cost | **pass** | collector 80 µs / (service 300 µs − (a) 100 µs) = 0.40 (0.40–0.40) |",
    );
  });

  test("the task's section has a row per variant: service, collector, task, ratios, per span, documents, losses", () => {
    const section = page.slice(page.indexOf('## What the task costs'));
    expect(section).toContain(
      '| (b-collector) | 300 (300–300) | 80 (80–80) | 380 (380–380) | 3.80 (3.80–3.80) | 0.40 (0.40–0.40) | 2.00 | ' +
        '40.0 (40.0–40.0) | 60.0 | 2400 | none |',
    );
    expect(section).toMatch(
      /^\| \(b-rule-collector\) \| 110 \(110–110\) \| 10 \(10–10\) \| 120 \(120–120\) \| 1\.20 /m,
    );
  });
});
