// `node bench/instructions.mjs [ids] [warmup] [requests] [windows]`: instructions per GET / of the named variants
// (default a0,a,b-rule,b-none,lean), counted with callgrind as `npm run bench` counts them (lib/instructions.mjs),
// without the rest of the benchmark: the quick, noise-free check of a change to the service. Prints one JSON line a
// variant. Needs `npm run build` and bench/'s dependencies (`npm ci` in bench/). BENCH_SERVICE_DIR=<dir> runs the
// service from another copy of its build (a `dist/` and the `package.json` beside it), to compare a change with the
// build before it; BENCH_KEEP_DUMPS=<dir> keeps each window's main-thread dump for `callgrind_annotate`.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countInstructions, instructionsUnavailable, reportHourly } from './lib/instructions.mjs';
import { WORKLOADS } from './lib/load.mjs';
import { defaultTaskNodeOptions, defineVariants, startSamplingProxies } from './lib/variants.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const [ids = 'a0,a,b-rule,b-none,lean', warmup = '4000', requests = '250', windows = '8'] = process.argv.slice(2);

const unavailable = instructionsUnavailable();
if (unavailable) {
  process.stderr.write(`${unavailable}\n`);
  process.exit(1);
}
const sink = fork(path.join(benchDir, 'lib', 'sink.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const sinkPort = await new Promise((resolve) => sink.once('message', (m) => resolve(m.port)));
const proxies = await startSamplingProxies(repoRoot);
reportHourly(proxies);
const variants = defineVariants({
  repoRoot,
  benchDir,
  sinkPort,
  cacheDir: path.join(benchDir, '.cache'),
  serviceNodeOptions: await defaultTaskNodeOptions(repoRoot),
  proxies,
});
const appDir = path.join(repoRoot, 'app');
for (const variant of variants) {
  if (process.env.BENCH_SERVICE_DIR && variant.cwd === appDir) variant.cwd = process.env.BENCH_SERVICE_DIR;
}
try {
  for (const id of ids.split(',')) {
    const variant = variants.find((v) => v.id === id);
    if (!variant || variant.missing) throw new Error(`variant ${id}: ${variant?.missing ?? 'unknown'}`);
    const counted = await countInstructions(variant, {
      workload: WORKLOADS.home,
      warmup: Number(warmup),
      requests: Number(requests),
      windows: Number(windows),
      outDir: path.join(benchDir, '.cache', `callgrind-${id}-${process.pid}`),
      stderrPath: path.join(benchDir, '.cache', `callgrind-${id}-${process.pid}.log`),
    });
    process.stdout.write(
      `${JSON.stringify({ id, ...counted, perWindow: counted.perWindow.map(Math.round), mainPerWindow: counted.mainPerWindow.map(Math.round) })}\n`,
    );
  }
} finally {
  sink.send({ type: 'stop' });
  await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
}
