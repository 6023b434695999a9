// The unrecorded-request wrapper alone (issue 22 item 3): three servers of bench/wrapper/server.cjs, one bare
// listener served as it is, inside the lean version's wrapper, and inside the service's, whose instruction counts
// (lib/instructions.mjs) give each wrapper's cost as its count less the bare one's. The service's runs under the
// X-Ray rules of (b-none), which record nothing; the lean one under the same Default rule, 0/s and 0%.
import path from 'node:path';

export const WRAPPER_IDS = ['wrapper-bare', 'wrapper-lean', 'wrapper-service'];

/**
 * Callgrind settings for the wrapper: the bare listener is fast enough under callgrind for a long warm-up. The
 * service's windows still fell for 14,000 requests (run of 82a3e54: 168.7 k in the first window after 10,000, 134.3 k in
 * the eighth, so a median of 142.1 k), the lean version's for 12,000; after 20,000 every variant's are flat within 2%.
 */
export const WRAPPER_COUNTING = { warmup: 20_000, requests: 500, windows: 8, connections: 4 };

/** The three variants, from (b-none)'s definition (its environment: the fake proxy's rules, the task's settings). */
export function wrapperVariants({ repoRoot, bNone }) {
  const server = path.join(repoRoot, 'bench', 'wrapper', 'server.cjs');
  const { LOG_LEVEL, NODE_ENV, NODE_OPTIONS } = bNone.env;
  const common = { LOG_LEVEL, NODE_ENV, NODE_OPTIONS };
  return [
    { id: 'wrapper-bare', env: common },
    { id: 'wrapper-lean', env: { ...common, BENCH_LEAN_RESERVOIR: '0', BENCH_LEAN_FIXED_RATE: '0' } },
    { id: 'wrapper-service', env: { ...bNone.env } },
  ].map((variant) => ({
    ...variant,
    cwd: repoRoot,
    nodeArgs: ['--import', 'tsx', server, variant.id.slice('wrapper-'.length)],
  }));
}

/** Each wrapper's instructions per request (main thread) and the service's against the lean version's. */
export function wrapperCosts(mainPerRequest) {
  const [bare, lean, service] = WRAPPER_IDS.map((id) => mainPerRequest[id]);
  if ([bare, lean, service].some((x) => x === undefined)) return undefined;
  return { lean: lean - bare, service: service - bare, ratio: (service - bare) / (lean - bare) };
}
