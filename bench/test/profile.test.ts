// The split of a CPU profile into issue 22's buckets (bench/lib/profile.mjs): a hand-built .cpuprofile over a
// temporary bundle laid out as esbuild lays out app/dist, whose samples each bucket must get exactly.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const SAMPLE_US = 100;

/** The service's two bundles, one module a section, each starting with esbuild's comment naming its source. */
const MAIN_BUNDLE = [
  '// node_modules/@opentelemetry/sdk-trace/dist/Span.cjs',
  'class Span { end() {} }',
  '// node_modules/@opentelemetry/sdk-trace/dist/export/BatchSpanProcessorBase.cjs',
  'class BatchSpanProcessorBase { onEnd() {} }',
  '// node_modules/express/lib/express.js',
  'function handle() {}',
  '// src/telemetry/http-server.ts',
  'function tracedListener() {}',
];
const EXPORTER_BUNDLE = ['// node_modules/@grpc/grpc-js/build/src/call.js', 'function sendMessage() {}'];
const line = (text: string) => MAIN_BUNDLE.indexOf(text);

interface Frame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** Builds a .cpuprofile from stacks (root first) and how many samples of SAMPLE_US each one's leaf gets. */
function cpuProfile(stacks: Array<{ stack: Frame[]; samples: number }>) {
  const nodes = [{ id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [] as number[] }];
  const samples: number[] = [];
  for (const { stack, samples: count } of stacks) {
    let parent = nodes[0];
    for (const callFrame of stack) {
      const node = { id: nodes.length + 1, callFrame, children: [] as number[] };
      parent.children.push(node.id);
      nodes.push(node);
      parent = node;
    }
    for (let i = 0; i < count; i += 1) samples.push(parent.id);
  }
  // A sample lasts until the next one, so the last one counts nothing.
  return {
    nodes,
    startTime: 0,
    endTime: samples.length * SAMPLE_US,
    samples,
    timeDeltas: samples.map(() => SAMPLE_US),
  };
}

function summarize(profile: unknown): { busyUsPerRequest: number; buckets: Record<string, number> } {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-profile-')), 'test.cpuprofile');
  fs.writeFileSync(file, JSON.stringify(profile));
  const script =
    "import { readFileSync } from 'node:fs'; import { summarizeProfile } from './bench/lib/profile.mjs';" +
    `const profile = JSON.parse(readFileSync(${JSON.stringify(file)}, 'utf8'));` +
    'console.log(JSON.stringify(summarizeProfile(profile, { requests: 1 })));';
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

describe("a profile's samples split into span, batch, export, collection and request", () => {
  let dir: string;
  let main: (functionName: string, codeLine: string) => Frame;
  let exporter: Frame;
  const node = (functionName: string, module: string): Frame => ({
    functionName,
    url: `node:${module}`,
    lineNumber: 1,
  });
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-bundle-'));
    fs.mkdirSync(path.join(dir, 'app', 'dist'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'app', 'dist', 'main.js'), MAIN_BUNDLE.join('\n'));
    fs.writeFileSync(path.join(dir, 'app', 'dist', 'otlp-exporter.js'), EXPORTER_BUNDLE.join('\n'));
    const mainUrl = `file://${path.join(dir, 'app', 'dist', 'main.js')}`;
    main = (functionName, codeLine) => ({ functionName, url: mainUrl, lineNumber: line(codeLine) });
    exporter = { functionName: 'sendMessage', url: path.join(dir, 'app', 'dist', 'otlp-exporter.js'), lineNumber: 1 };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('each sample goes to the bucket of its nearest userland frame, or to export when grpc-js is on the stack', () => {
    // Arrange: every stack of the request runs under the HTTP wrapper's context.with, as in the service.
    const listener = main('tracedListener', 'function tracedListener() {}');
    const express = main('handle', 'function handle() {}');
    const spanEnd = main('end', 'class Span { end() {} }');
    const batchOnEnd = main('onEnd', 'class BatchSpanProcessorBase { onEnd() {} }');
    const timers = node('processTimers', 'internal/timers');
    const profile = cpuProfile([
      { stack: [{ functionName: '(garbage collector)', url: '', lineNumber: -1 }], samples: 1 },
      { stack: [timers, batchOnEnd, exporter, node('writeGeneric', 'net')], samples: 1 },
      { stack: [timers, batchOnEnd, exporter, spanEnd], samples: 1 },
      {
        stack: [listener, express, spanEnd, batchOnEnd, { functionName: 'push', url: '', lineNumber: -1 }],
        samples: 3,
      },
      { stack: [listener, express, spanEnd, node('hrtime', 'internal/process/per_thread')], samples: 4 },
      { stack: [listener, express, node('write', '_http_outgoing')], samples: 4 },
      { stack: [{ functionName: '(program)', url: '', lineNumber: -1 }], samples: 1 },
      { stack: [{ functionName: '(idle)', url: '', lineNumber: -1 }], samples: 2 },
    ]);

    // Act
    const { busyUsPerRequest, buckets } = summarize(profile);

    // Assert: each bucket's count of samples is unique, so a sample in the wrong bucket changes two of them.
    expect(buckets).toEqual({
      span: 4 * SAMPLE_US,
      batch: 3 * SAMPLE_US,
      export: 2 * SAMPLE_US,
      collection: 1 * SAMPLE_US,
      request: 5 * SAMPLE_US,
    });
    expect(busyUsPerRequest).toBe(15 * SAMPLE_US);
  });
});
