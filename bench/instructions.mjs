// `node bench/instructions.mjs [ids] [warmup] [requests] [windows]`: instructions per GET / of the named variants
// (default a0,a,b-rule,b-none,lean), counted with callgrind as `npm run bench` counts them (lib/instructions.mjs),
// without the rest of the benchmark: the quick, noise-free check of a change to the service. Prints one JSON line a
// variant. Needs `npm run build` and bench/'s dependencies (`npm ci` in bench/). BENCH_SERVICE_DIR=<dir> runs the
// service from another copy of its build (a `dist/` and the `package.json` beside it), to compare a change with the
// build before it; BENCH_KEEP_DUMPS=<dir> keeps each window's main-thread dump for `callgrind_annotate`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withCountingHarness } from './lib/counting.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const [ids = 'a0,a,b-rule,b-none,lean', warmup = '4000', requests = '250', windows = '8'] = process.argv.slice(2);

await withCountingHarness({ repoRoot, benchDir }, async ({ variants, count }) => {
  const appDir = path.join(repoRoot, 'app');
  for (const variant of variants) {
    if (process.env.BENCH_SERVICE_DIR && variant.cwd === appDir) variant.cwd = process.env.BENCH_SERVICE_DIR;
  }
  for (const id of ids.split(',')) {
    const variant = variants.find((v) => v.id === id);
    if (!variant || variant.missing) throw new Error(`variant ${id}: ${variant?.missing ?? 'unknown'}`);
    await count(variant, { warmup, requests, windows });
  }
});
