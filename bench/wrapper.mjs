// `node bench/wrapper.mjs [warmup] [requests] [windows]`: instructions per GET / of the unrecorded-request wrapper
// alone (issue 22 item 3), the service's against the lean version's, on one bare listener (wrapper/server.cjs), counted
// with callgrind as `npm run bench` counts the whole service (lib/instructions.mjs). Each wrapper's cost is its
// variant's count less the bare listener's; the service's runs under X-Ray rules that record nothing, through the
// same fake proxy as (b-none). Prints one JSON line a variant, then the two costs and their ratio. Needs valgrind and
// bench/'s own dependencies (`npm ci` in bench/, which `npm run bench` does itself); no build: it loads app/src.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withCountingHarness } from './lib/counting.mjs';
import { WRAPPER_COUNTING, wrapperCosts, wrapperVariants } from './lib/wrapper.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const [warmup = WRAPPER_COUNTING.warmup, requests = WRAPPER_COUNTING.requests, windows = WRAPPER_COUNTING.windows] =
  process.argv.slice(2);

await withCountingHarness({ repoRoot, benchDir }, async ({ variants, count }) => {
  const bNone = variants.find((v) => v.id === 'b-none');
  const counts = {};
  for (const variant of wrapperVariants({ repoRoot, bNone })) {
    counts[variant.id] = (await count(variant, { warmup, requests, windows })).mainPerRequest;
  }
  const costs = wrapperCosts(counts);
  const summary = { leanWrapper: Math.round(costs.lean), serviceWrapper: Math.round(costs.service) };
  process.stdout.write(`${JSON.stringify({ ...summary, ratio: +costs.ratio.toFixed(3) })}\n`);
});
