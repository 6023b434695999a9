// The wrapper-alone counts (bench/wrapper.mjs, lib/wrapper.mjs) compare like with like only if the three servers of
// bench/wrapper/server.cjs serve one contract: the bare one none of it, the lean and the service's all of it, the
// same way (issue 22 item 3: traceresponse, every correlation field on both lines, the load balancer's Root on the
// access line, nothing recorded under the rule). Run here at full speed, without valgrind.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const ALB_ROOT = '1-67891233-abcdef012345678912345678';

interface Served {
  id: string;
  traceresponse: (string | null)[];
  lines: Record<string, unknown>[];
}

function serveAll(): Served[] {
  const script = `
    import { spawn } from 'node:child_process';
    import { defineVariants, startSamplingProxies } from './bench/lib/variants.mjs';
    import { freePort, waitFor200 } from './bench/lib/server.mjs';
    import { wrapperVariants } from './bench/lib/wrapper.mjs';
    import http from 'node:http';
    const repoRoot = process.cwd();
    const proxies = await startSamplingProxies(repoRoot);
    const bNone = defineVariants({ repoRoot, benchDir: repoRoot + '/bench', sinkPort: 1, cacheDir: '', serviceNodeOptions: '', proxies })
      .find((v) => v.id === 'b-none');
    const get = (port) => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', headers: { 'x-amzn-trace-id': 'Root=${ALB_ROOT}' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers.traceresponse));
      }).on('error', reject);
    });
    const served = [];
    for (const variant of wrapperVariants({ repoRoot, bNone })) {
      const port = await freePort();
      const child = spawn(process.execPath, variant.nodeArgs, {
        cwd: variant.cwd, env: { ...variant.env, PATH: process.env.PATH, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        await waitFor200(child, port, '/healthz');
        // The service decides by the fallback (1/s + 5%) until its first rules arrive.
        while (variant.id === 'wrapper-service' && proxies.none.ruleRequests === 0) await new Promise((r) => setTimeout(r, 20));
        await new Promise((resolve) => setTimeout(resolve, 200));
        const traceresponse = [];
        for (let i = 0; i < 20; i += 1) traceresponse.push((await get(port)) ?? null);
        await new Promise((resolve) => setTimeout(resolve, 100));
        served.push({
          id: variant.id,
          traceresponse,
          lines: out.trim().split('\\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.msg === 'handling' || l.msg === 'request completed'),
        });
      } finally {
        child.kill();
        await child.exited;
      }
    }
    await Promise.all(Object.values(proxies).map((p) => p.stop()));
    console.log(JSON.stringify(served));
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`${result.stderr}\n${result.stdout}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Served[];
}

const CORRELATION_KEYS = ['trace_id', 'span_id', 'trace_flags', 'AWS-XRAY-TRACE-ID', 'xray_trace_id'];

describe('the three servers the wrapper is counted on', () => {
  let served: Record<string, Served>;
  beforeAll(() => {
    served = Object.fromEntries(serveAll().map((s) => [s.id, s]));
  }, 120_000);

  test('the bare listener writes both lines with the Root, and nothing of tracing', () => {
    const bare = served['wrapper-bare'];
    expect(bare.traceresponse).toEqual(Array(20).fill(null));
    expect(bare.lines).toHaveLength(40);
    expect(bare.lines.every((line) => CORRELATION_KEYS.every((key) => !(key in line)))).toBe(true);
    expect(bare.lines.filter((line) => line.msg === 'request completed').map((l) => l.alb_trace_id)).toEqual(
      Array(20).fill(ALB_ROOT),
    );
  });

  test.each(['wrapper-lean', 'wrapper-service'])(
    '%s answers traceresponse and writes every correlation field of that trace on both lines, recording nothing',
    (id) => {
      const { traceresponse, lines } = served[id];
      expect(lines).toHaveLength(40);
      for (let i = 0; i < 20; i += 1) {
        const [, traceId, spanId, flags] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(traceresponse[i]!)!;
        expect(flags).toBe('00');
        const xray = `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
        for (const line of lines.slice(2 * i, 2 * i + 2)) {
          expect(line).toMatchObject({
            trace_id: traceId,
            span_id: spanId,
            trace_flags: '00',
            'AWS-XRAY-TRACE-ID': `${xray}@${spanId}`,
            xray_trace_id: xray,
          });
        }
        expect(lines[2 * i + 1].alb_trace_id).toBe(ALB_ROOT);
      }
    },
  );

  test('the lean and the service write lines of the same fields', () => {
    const keys = (id: string) => served[id].lines.map((line) => Object.keys(line).sort().join(','));
    expect(keys('wrapper-service')).toEqual(keys('wrapper-lean'));
  });
});
