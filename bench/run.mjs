// The benchmark: five variants on the same routes, alternating rounds, a real OTLP gRPC sink in its own process,
// closed-loop (autocannon) and open-loop load, start-up times, image sizes, a 60-second run of (b), and a CPU
// profile of (b). Writes bench/results/<mode>.json and renders BENCHMARKS.md (full) or results/quick.md (--quick).
import { execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { closedLoop, openLoop, WORKLOADS } from './lib/load.mjs';
import { cpuBusyMicros, cpuMicros, currentRssMB, peakRssMB } from './lib/procfs.mjs';
import { freePort, startServer, stopServer, waitFor200 } from './lib/server.mjs';
import {
  defaultTaskNodeOptions,
  defineVariants,
  DYNAMODB_IDS,
  startSamplingProxies,
  VARIANT_IDS,
} from './lib/variants.mjs';
import { startDynalite } from './lib/dynalite.mjs';
import { COLLECTOR_IDS, collectorVariants } from './lib/collector.mjs';
import { imageSizes } from './lib/image.mjs';
import { summarizeProfile } from './lib/profile.mjs';
import { analyse } from './lib/analyse.mjs';
import { countInstructions, instructionsUnavailable, reportHourly } from './lib/instructions.mjs';
import { WRAPPER_COUNTING, wrapperVariants } from './lib/wrapper.mjs';
import { render } from './lib/render.mjs';
import { exitCodeFor, parseBenchArgs } from './lib/cli.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const resultsDir = path.join(benchDir, 'results');

const options = parseBenchArgs(process.argv.slice(2));

const quick = options.quick;
const config = {
  mode: quick ? 'quick' : 'full',
  rounds: Number(options.rounds ?? (quick ? 2 : 5)),
  warmupS: quick ? 1 : 2,
  durationS: Number(options.duration ?? (quick ? 3 : 6)),
  openDurationS: quick ? 2 : 5,
  openRate: Number(options.rate ?? 1000),
  connections: 32,
  starts: Number(options.starts ?? (quick ? 3 : 9)),
  soakS: quick ? 10 : 60,
  profileS: quick ? 3 : 6,
  // Callgrind: a long warm-up (the main thread's count still falls for thousands of requests: bench/FINDINGS.md),
  // then windows enough for a stable median. --quick's counts are still warming up.
  instructions: quick
    ? { warmup: 1000, requests: 250, windows: 4, connections: 4 }
    : { warmup: 4000, requests: 250, windows: 8, connections: 4 },
  wrapperInstructions: quick ? { warmup: 2000, requests: 250, windows: 4, connections: 4 } : WRAPPER_COUNTING,
};

const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

// Two cores: the load generator, the sink and this harness on core 0, the server under test alone on core 1.
const cores = os.availableParallelism();
const pinned = cores >= 2;
if (pinned) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const serverCpu = pinned ? 1 : undefined;

function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model,
    cores,
    memoryGB: os.totalmem() / 1e9,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    pinning: pinned ? 'server under test on core 1 (taskset -c 1); load generator, sink and harness on core 0' : 'none',
  };
}

function loadAverage() {
  return os.loadavg().map((v) => Math.round(v * 100) / 100);
}

function otherNodeProcesses() {
  const ps = execFileSync('ps', ['-eo', 'pid,ppid,pcpu,args'], { encoding: 'utf8' }).split('\n').slice(1);
  return ps
    .filter((line) => /\b(node|jest|tsx|tsc|esbuild)\b/.test(line))
    .filter((line) => !line.includes(String(process.pid)))
    .map((line) => line.trim().slice(0, 160));
}

// --- the sink -------------------------------------------------------------------------------------------------
const sink = fork(path.join(benchDir, 'lib', 'sink.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const sinkPort = await new Promise((resolve) => sink.once('message', (m) => resolve(m.port)));
let takeId = 0;
function takeSpans() {
  const id = (takeId += 1);
  return new Promise((resolve) => {
    const onMessage = (m) => {
      if (m.type === 'summary' && m.id === id) {
        sink.off('message', onMessage);
        resolve(m.summary);
      }
    };
    sink.on('message', onMessage);
    sink.send({ type: 'take', id });
  });
}

const proxies = await startSamplingProxies(repoRoot);
const wanted = options.variants ? options.variants.split(',') : [...VARIANT_IDS, ...DYNAMODB_IDS, ...COLLECTOR_IDS];
const dynamo = wanted.some((id) => DYNAMODB_IDS.includes(id)) ? await startDynalite(repoRoot) : undefined;
const allVariants = defineVariants({
  repoRoot,
  benchDir,
  sinkPort,
  cacheDir: path.join(benchDir, '.cache'),
  serviceNodeOptions: await defaultTaskNodeOptions(repoRoot),
  proxies,
  dynamo,
});
// The task's cost (issue 20): (b) and (b-rule) exporting to the real collector, started now for the whole run.
allVariants.push(
  ...(await collectorVariants({ variants: allVariants, wanted, repoRoot, cpu: pinned ? 1 : undefined, log })),
);
const sidecars = allVariants.filter((v) => v.collector).map((v) => v.collector);
const unknown = wanted.filter((id) => !allVariants.some((v) => v.id === id));
if (unknown.length > 0) {
  throw new Error(`unknown variant ${unknown.join(', ')}; known: ${allVariants.map((v) => v.id).join(', ')}`);
}
const variants = allVariants.filter((v) => wanted.includes(v.id) && !v.missing);
const skipped = allVariants
  .filter((v) => wanted.includes(v.id) && v.missing)
  .map((v) => ({ id: v.id, reason: v.missing }));
for (const s of skipped) log(`skipping ${s.id}: ${s.reason}`);
const byId = Object.fromEntries(variants.map((v) => [v.id, v]));
const stderrDir = path.join(benchDir, '.cache', 'stderr');
rmSync(stderrDir, { recursive: true, force: true });
rmSync(path.join(benchDir, '.cache', 'node-compile-cache'), { recursive: true, force: true });
mkdirSync(stderrDir, { recursive: true });

const results = {
  schema: 1,
  mode: config.mode,
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  date: new Date().toISOString(),
  commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim(),
  machine: machine(),
  config,
  quiet: { loadBefore: loadAverage(), otherProcessesBefore: otherNodeProcesses() },
  variants: allVariants.map(({ id, label, nodeArgs, env, missing, traced, sampling }) => ({
    id,
    label,
    nodeArgs,
    env,
    missing,
    traced,
    sampled: sampling ? 'rule' : traced ? 'all' : 'none',
  })),
  skipped,
};
const started = performance.now();

/** Which build of the service was measured: app/dist changes under other engineers' hands. */
function serviceBuild() {
  const dist = path.join(repoRoot, 'app', 'dist');
  try {
    const files = readdirSync(dist)
      .filter((f) => f.endsWith('.js'))
      .sort();
    const hash = createHash('sha256');
    for (const file of files) hash.update(file).update(readFileSync(path.join(dist, file)));
    const lastAppCommit = execFileSync('git', ['log', '-1', '--format=%h %cI', '--', 'app'], {
      cwd: repoRoot,
      encoding: 'utf8',
    }).trim();
    return { distSha256: hash.digest('hex').slice(0, 16), lastAppCommit };
  } catch {
    return undefined;
  }
}
results.serviceBuild = serviceBuild();

// --- image sizes (first: npm uses the network and the disk, not during timing) ---------------------------------
if (!options['no-image']) {
  results.image = imageSizes({ repoRoot, benchDir, serviceAvailable: Boolean(byId.b || byId.a), log });
}

// --- start-up: spawn to first 200 on GET / ----------------------------------------------------------------------
results.startup = Object.fromEntries(variants.map((v) => [v.id, []]));
for (let i = 0; i < config.starts; i += 1) {
  const order = rotate(variants, i);
  for (const variant of order) {
    const port = await freePort();
    const t0 = performance.now();
    const child = startServer(variant, { port, cpu: serverCpu, stderrPath: path.join(stderrDir, `${variant.id}.log`) });
    await waitFor200(child, port, '/');
    results.startup[variant.id].push(performance.now() - t0);
    await stopServer(child);
  }
  log(`start-up ${i + 1}/${config.starts}`);
}
await takeSpans();

/** CPU used by this harness (with the load generator in it) and by the sink. */
function ourCpuMicros() {
  const usage = process.cpuUsage();
  return usage.user + usage.system + cpuMicros(sink.pid) + sidecars.reduce((sum, s) => sum + cpuMicros(s.helperPid), 0);
}

/**
 * How disturbed the GET / measurement was: the share of a core that something else took (the worse of the two
 * cores), or how far the server fell short of a fully busy core although the load should saturate it.
 */
function interference(cell) {
  const { foreignShare, serverCpuShare } = cell.phases.home; // with a collector: the task's share (both processes)
  return Math.max(foreignShare ? Math.max(foreignShare.server, foreignShare.load) : 0, 1 - serverCpuShare);
}

/** What the SDK itself admits to (BatchSpanProcessor's "Dropped N spans because maxQueueSize reached"). */
function droppedInLog(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  let total = 0;
  for (const match of text.matchAll(/Dropped (\d+) spans because maxQueueSize reached/g)) total += Number(match[1]);
  return total;
}

// --- rounds -----------------------------------------------------------------------------------------------------
function rotate(list, by) {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

async function cell(variant, round) {
  const port = await freePort();
  const stderrPath = path.join(stderrDir, `${variant.id}-round${round + 1}.log`);
  const sampledBefore = variant.sampling?.sampledCount() ?? 0;
  const decisionsBefore = variant.sampling?.requestCount() ?? 0;
  await variant.collector?.begin();
  const child = startServer(variant, { port, cpu: serverCpu, stderrPath });
  await waitFor200(child, port, '/healthz');
  await variant.collector?.rulesFetched();
  const served = { '/': 0, '/orders': 0, '/healthz': 1 };
  const phases = {};
  // A variant with the real collector: the server under test is the task, the service and the collector on its core.
  const collectorCpu = () => (variant.collector ? variant.collector.cpuMicros() : 0);
  const measure = async (name, workload, fn) => {
    const before = {
      server: cpuMicros(child.pid),
      collector: collectorCpu(),
      ours: ourCpuMicros(),
      cores: cpuBusyMicros(),
    };
    const result = await fn();
    const cpu = cpuMicros(child.pid) - before.server;
    const collector = collectorCpu() - before.collector;
    const ours = ourCpuMicros() - before.ours;
    const cores = cpuBusyMicros().map((busy, i) => busy - before.cores[i]);
    served[workload.path] += result.sent;
    phases[name] = {
      ...result,
      cpuUsPerRequest: cpu / result.responses,
      ...(variant.collector ? { collectorCpuUsPerRequest: collector / result.responses } : {}),
      serverCpuShare: (cpu + collector) / 1e6 / result.elapsedS,
      // CPU that other processes (or the hypervisor) took from the server's core and from the load generator's.
      foreignShare: pinned
        ? {
            server: Math.max(0, cores[serverCpu] - cpu - collector) / 1e6 / result.elapsedS,
            load: Math.max(0, cores[0] - ours) / 1e6 / result.elapsedS,
          }
        : undefined,
    };
  };
  const alb = variant.albHeader !== false;
  const closed = (workload, durationS) =>
    closedLoop({ port, workload, durationS, connections: config.connections, alb });

  served['/'] += (await closed(WORKLOADS.home, config.warmupS)).sent;
  await measure('home', WORKLOADS.home, () => closed(WORKLOADS.home, config.durationS));
  served['/orders'] += (await closed(WORKLOADS.orders, 1)).sent;
  await measure('orders', WORKLOADS.orders, () => closed(WORKLOADS.orders, config.durationS));
  await measure('open', WORKLOADS.home, () =>
    openLoop({ port, workload: WORKLOADS.home, rate: config.openRate, durationS: config.openDurationS, alb }),
  );
  const rssMB = peakRssMB(child.pid);
  // The collector runs the whole run: its peak so far.
  const collectorPeakRssMB = variant.collector?.peakRssMB();
  // A sampled variant reports how many requests it recorded to the proxy (SamplingTargets, once a second here):
  // give it the time to report the last second before it stops.
  if (variant.sampling) await sleep(1500);
  const stop = await stopServer(child);
  // With the real collector, what the X-Ray stand-in received once the collector delivered it, counted alike.
  const spans = variant.collector ? await variant.collector.take() : await takeSpans();
  const lost = {};
  let sampling;
  if (variant.sampling) {
    // Recorded requests the sampler reported against server spans received: a recorded span lost in the queue or
    // the export shows as missing. Requests decided before the first rules arrived are not reported, so they can
    // only show as extra spans, never as missing ones.
    const reported = variant.sampling.sampledCount() - sampledBefore;
    const decisions = variant.sampling.requestCount() - decisionsBefore;
    const received = (spans.serverByPath['/'] ?? 0) + (spans.serverByPath['/orders'] ?? 0);
    sampling = { reported, decisions, received, share: received / (served['/'] + served['/orders']) };
    lost['/'] = Math.max(0, reported - received);
    lost['/orders'] = 0;
  } else {
    for (const p of ['/', '/orders']) lost[p] = variant.traced ? served[p] - (spans.serverByPath[p] ?? 0) : 0;
  }
  const sdkSaysDropped = droppedInLog(stderrPath);
  return {
    variant: variant.id,
    round,
    phases,
    peakRssMB: rssMB,
    collectorPeakRssMB,
    stop,
    served,
    spans,
    sampling,
    serverSpansMissing: lost,
    sdkSaysDropped,
  };
}

const MAX_INTERFERENCE = 0.1;
let retriesLeft = quick ? 2 : 8;
results.rounds = [];
for (let round = 0; round < config.rounds; round += 1) {
  const cells = {};
  for (const variant of rotate(variants, round)) {
    // A cell disturbed by other work on the machine (> 10% of a core taken from the server's core or the load
    // generator's, or the server short of a busy core by as much) is run again, twice at most, within a budget
    // for the whole run, and the least disturbed attempt is kept.
    let best;
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const result = await cell(variant, round);
      result.attempt = attempt;
      if (!best || interference(result) < interference(best)) best = result;
      if (interference(result) <= MAX_INTERFERENCE || retriesLeft <= 0) break;
      retriesLeft -= 1;
      log(`round ${round + 1} ${variant.id}: disturbed (${(interference(result) * 100).toFixed(0)}% of a core), again`);
    }
    cells[variant.id] = best;
    const h = cells[variant.id].phases.home;
    log(
      `round ${round + 1}/${config.rounds} ${variant.id}: ${h.rps.toFixed(0)} rps, p99 ${h.p99Ms} ms, ${h.cpuUsPerRequest.toFixed(0)} µs/req`,
    );
  }
  results.rounds.push(cells);
}

// --- instructions per GET / under callgrind: the figure the machine's other load does not move --------------------
if (!options['no-instructions']) {
  const ids = (options.instructions ?? 'a0,a,b-rule,b-rule-bare,b-none,lean').split(',').filter((id) => byId[id]);
  const unavailable = instructionsUnavailable();
  results.instructions = { config: config.instructions, variants: {}, unavailable };
  if (unavailable) log(`instructions not counted: ${unavailable}`);
  const restoreIntervals = reportHourly(proxies);
  for (const id of unavailable ? [] : ids) {
    log(`instructions: ${id} under callgrind`);
    results.instructions.variants[id] = await countInstructions(byId[id], {
      workload: WORKLOADS.home,
      ...config.instructions,
      cpu: serverCpu,
      outDir: path.join(benchDir, '.cache', 'callgrind'),
      stderrPath: path.join(stderrDir, `instructions-${id}.log`),
    });
    await takeSpans();
    log(`instructions: ${id} ${(results.instructions.variants[id].mainPerRequest / 1000).toFixed(1)} k per GET /`);
  }
  // The unrecorded-request wrapper alone, the service's against the lean version's (lib/wrapper.mjs).
  if (!unavailable && byId['b-none'] && !byId['b-none'].missing) {
    results.instructions.wrapper = { config: config.wrapperInstructions, variants: {} };
    for (const variant of wrapperVariants({ repoRoot, bNone: byId['b-none'] })) {
      log(`instructions: ${variant.id} under callgrind`);
      results.instructions.wrapper.variants[variant.id] = await countInstructions(variant, {
        workload: WORKLOADS.home,
        ...config.wrapperInstructions,
        cpu: serverCpu,
        outDir: path.join(benchDir, '.cache', 'callgrind'),
        stderrPath: path.join(stderrDir, `instructions-${variant.id}.log`),
      });
      // The service's wrapper may record a request under the fallback rule before its rules arrive: not the soak's.
      await takeSpans();
      const perRequest = results.instructions.wrapper.variants[variant.id].mainPerRequest;
      log(`instructions: ${variant.id} ${(perRequest / 1000).toFixed(1)} k per GET /`);
    }
  }
  restoreIntervals();
}

// --- 60-second run of (b) at saturation: does any span get lost? ---------------------------------------------
const soakVariant = byId.b ?? byId.c;
if (!options['no-soak'] && soakVariant) {
  log(`soak: ${soakVariant.id} for ${config.soakS} s`);
  const port = await freePort();
  const child = startServer(soakVariant, { port, cpu: serverCpu, stderrPath: path.join(stderrDir, 'soak.log') });
  await waitFor200(child, port, '/healthz');
  const cpu0 = cpuMicros(child.pid);
  // RSS once a second: a growing span queue shows up here long before it overflows.
  const rssTimeline = [];
  const sampler = setInterval(() => rssTimeline.push(Math.round(currentRssMB(child.pid))), 1000);
  const load = await closedLoop({
    port,
    workload: WORKLOADS.home,
    durationS: config.soakS,
    connections: config.connections,
  });
  clearInterval(sampler);
  const cpu = cpuMicros(child.pid) - cpu0;
  const rssMB = peakRssMB(child.pid);
  const stop = await stopServer(child);
  const spans = await takeSpans();
  const soakStderr = path.join(stderrDir, 'soak.log');
  results.soak = {
    sdkSaysDropped: droppedInLog(soakStderr),
    variant: soakVariant.id,
    durationS: config.soakS,
    ...load,
    cpuUsPerRequest: cpu / load.responses,
    peakRssMB: rssMB,
    rssTimeline,
    stop,
    serverSpans: spans.serverByPath['/'] ?? 0,
    sent: load.sent,
    serverSpansMissing: load.sent - (spans.serverByPath['/'] ?? 0),
    spans: spans.spans,
  };
}

// --- CPU profiles: by default (b), (b-none), (b-rule), (a) and (a0) -----------------------------------------------
if (!options['no-profile']) {
  const profileDir = path.join(benchDir, '.cache', 'profiles');
  rmSync(profileDir, { recursive: true, force: true });
  results.profiles = {};
  const profiled = options.profile ? options.profile.split(',') : [byId.b ? 'b' : 'c', 'b-none', 'b-rule', 'a', 'a0'];
  for (const variant of profiled.map((id) => byId[id]).filter(Boolean)) {
    const dir = path.join(profileDir, variant.id);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const child = startServer(variant, {
      port,
      cpu: serverCpu,
      extraNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250'],
      stderrPath: path.join(stderrDir, `profile-${variant.id}.log`),
    });
    await waitFor200(child, port, '/healthz');
    const alb = variant.albHeader !== false;
    await closedLoop({
      port,
      workload: WORKLOADS.home,
      durationS: config.warmupS,
      connections: config.connections,
      alb,
    });
    const windowStartUs = Number(process.hrtime.bigint() / 1000n);
    const load = await closedLoop({
      port,
      workload: WORKLOADS.home,
      durationS: config.profileS,
      connections: config.connections,
      alb,
    });
    const windowEndUs = Number(process.hrtime.bigint() / 1000n);
    await stopServer(child);
    await takeSpans();
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      log(`no profile written by ${variant.id} (did it exit cleanly on SIGTERM?)`);
      continue;
    }
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    results.profiles[variant.id] = {
      ...summarizeProfile(profile, { windowStartUs, windowEndUs, requests: load.responses }),
      rps: load.rps,
    };
    log(`profile ${variant.id}: ${results.profiles[variant.id].busyUsPerRequest.toFixed(0)} busy µs/request`);
  }
}

sink.send({ type: 'stop' });
await Promise.all(sidecars.map((sidecar) => sidecar.stop()));
await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
await dynamo?.stop?.();
results.elapsedS = (performance.now() - started) / 1000;
results.quiet.loadAfter = loadAverage();
const buildAfter = serviceBuild();
if (results.serviceBuild && buildAfter?.distSha256 !== results.serviceBuild.distSha256) {
  results.serviceBuild.changedDuringRun = true;
  log('app/dist changed during the run: the service was rebuilt under the benchmark');
}
results.analysis = analyse(results);

mkdirSync(resultsDir, { recursive: true });
// Only a full run of the standard variants renders the committed BENCHMARKS.md; anything else goes beside its JSON.
const name = options.out ?? (quick ? 'quick' : options.variants ? 'partial' : 'full');
const jsonPath = path.join(resultsDir, `${name}.json`);
results.name = name;
const markdownPath = name === 'full' ? path.join(repoRoot, 'BENCHMARKS.md') : path.join(resultsDir, `${name}.md`);
writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');
writeFileSync(markdownPath, render(results));
await formatWithPrettier([jsonPath, markdownPath]);
log(
  `wrote ${path.relative(repoRoot, jsonPath)} and ${path.relative(repoRoot, markdownPath)} in ${results.elapsedS.toFixed(0)} s`,
);
for (const target of results.analysis.targets)
  log(`${target.pass === null ? 'n/a ' : target.pass ? 'PASS' : 'FAIL'} ${target.name}: ${target.detail}`);
// A failed target fails the command (CI, scripts), after the results above are written.
process.exitCode = exitCodeFor(results.analysis.targets);
if (process.exitCode !== 0) log('exit code 1: a target failed');

/** The repo's own Prettier (root devDependency) formats what we wrote, so `prettier --check bench` stays green. */
async function formatWithPrettier(files) {
  try {
    const prettier = await import(path.join(repoRoot, 'node_modules', 'prettier', 'index.mjs'));
    for (const file of files) {
      const options = await prettier.resolveConfig(file);
      const source = readFileSync(file, 'utf8');
      writeFileSync(file, await prettier.format(source, { ...options, filepath: file }));
    }
  } catch (error) {
    log(`prettier unavailable (${error.message}); run \`npx prettier --write bench BENCHMARKS.md\``);
  }
}
