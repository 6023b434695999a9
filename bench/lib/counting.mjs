// The command-line counts' shared harness (bench/instructions.mjs, bench/wrapper.mjs): valgrind checked, the sink and
// the fake sampling proxies started (reports once an hour, as npm run bench counts), the variants defined, and each
// count run as the full benchmark runs it, printed as one JSON line; everything stopped at the end.
import { fork } from 'node:child_process';
import path from 'node:path';
import { countInstructions, instructionsUnavailable, reportHourly } from './instructions.mjs';
import { WORKLOADS } from './load.mjs';
import { defaultTaskNodeOptions, defineVariants, startSamplingProxies } from './variants.mjs';

/** Runs `work({ variants, count })`, where `count(variant, { warmup, requests, windows })` counts and prints one. */
export async function withCountingHarness({ repoRoot, benchDir }, work) {
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
  const count = async (variant, { warmup, requests, windows }) => {
    const counted = await countInstructions(variant, {
      workload: WORKLOADS.home,
      warmup: Number(warmup),
      requests: Number(requests),
      windows: Number(windows),
      outDir: path.join(benchDir, '.cache', `callgrind-${variant.id}-${process.pid}`),
      stderrPath: path.join(benchDir, '.cache', `callgrind-${variant.id}-${process.pid}.log`),
    });
    const rounded = {
      perWindow: counted.perWindow.map(Math.round),
      mainPerWindow: counted.mainPerWindow.map(Math.round),
    };
    process.stdout.write(`${JSON.stringify({ id: variant.id, ...counted, ...rounded })}\n`);
    return counted;
  };
  try {
    await work({ variants, count });
  } finally {
    sink.send({ type: 'stop' });
    await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
  }
}
