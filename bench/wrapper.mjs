// `node bench/wrapper.mjs [warmup] [requests] [windows]`: instructions per GET / of the unrecorded-request wrapper
// alone (issue 22 item 3), the service's against the lean version's, on one bare listener (wrapper/server.cjs), counted
// with callgrind as `npm run bench` counts the whole service (lib/instructions.mjs). Each wrapper's cost is its
// variant's count less the bare listener's; the service's runs under X-Ray rules that record nothing, through the
// same fake proxy as (b-none). Prints one JSON line a variant, then the two costs and their ratio. Needs valgrind and
// bench/'s own dependencies (`npm ci` in bench/, which `npm run bench` does itself); no build: it loads app/src.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countInstructions, instructionsUnavailable, reportHourly } from './lib/instructions.mjs';
import { WORKLOADS } from './lib/load.mjs';
import { defaultTaskNodeOptions, defineVariants, startSamplingProxies } from './lib/variants.mjs';
import { WRAPPER_COUNTING, wrapperCosts, wrapperVariants } from './lib/wrapper.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const [warmup = WRAPPER_COUNTING.warmup, requests = WRAPPER_COUNTING.requests, windows = WRAPPER_COUNTING.windows] =
  process.argv.slice(2);

const unavailable = instructionsUnavailable();
if (unavailable) {
  process.stderr.write(`${unavailable}\n`);
  process.exit(1);
}
const sink = fork(path.join(benchDir, 'lib', 'sink.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const sinkPort = await new Promise((resolve) => sink.once('message', (m) => resolve(m.port)));
const proxies = await startSamplingProxies(repoRoot);
reportHourly(proxies);
const serviceNodeOptions = await defaultTaskNodeOptions(repoRoot);
const bNone = defineVariants({ repoRoot, benchDir, sinkPort, cacheDir: '', serviceNodeOptions, proxies }).find(
  (v) => v.id === 'b-none',
);
const variants = wrapperVariants({ repoRoot, bNone });

const counts = {};
try {
  for (const variant of variants) {
    const counted = await countInstructions(variant, {
      workload: WORKLOADS.home,
      warmup: Number(warmup),
      requests: Number(requests),
      windows: Number(windows),
      outDir: path.join(benchDir, '.cache', `callgrind-${variant.id}-${process.pid}`),
      stderrPath: path.join(benchDir, '.cache', `callgrind-${variant.id}-${process.pid}.log`),
    });
    counts[variant.id] = counted.mainPerRequest;
    process.stdout.write(
      `${JSON.stringify({ id: variant.id, ...counted, mainPerWindow: counted.mainPerWindow.map(Math.round) })}\n`,
    );
  }
  const costs = wrapperCosts(counts);
  process.stdout.write(
    `${JSON.stringify({ leanWrapper: Math.round(costs.lean), serviceWrapper: Math.round(costs.service), ratio: +costs.ratio.toFixed(3) })}\n`,
  );
} finally {
  sink.send({ type: 'stop' });
  await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
}
