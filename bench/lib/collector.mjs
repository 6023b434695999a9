// What the task really costs (issue 20): (b) and (b-rule) exporting to the REAL collector the task runs, its awsxray
// exporter sending to an X-Ray API stand-in that records each PutTraceSegments call, and the service's sampler asking
// X-Ray's rules through the collector's awsproxy, as in the task. Each such variant has its own collector and
// stand-in for the whole run (lib/task-sidecar.mjs); the collector shares the server's core, and the harness adds
// its CPU to the service's over each measurement (lib/procfs.mjs) and counts the documents the stand-in received
// against the responses served. Importing this module loads Node builtins only (lib/cli.mjs runs before bench/'s
// dependencies are installed).
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMicros, peakRssMB } from './procfs.mjs';

/** The variants with the real collector, and the variant each one is, exporting to the harness's sink instead. */
export const COLLECTOR_TWINS = { 'b-collector': 'b', 'b-rule-collector': 'b-rule' };
export const COLLECTOR_IDS = Object.keys(COLLECTOR_TWINS);

/** The Default rule's fixed rate each variant's stand-in serves: every request, or X-Ray's default 5%. */
const FIXED_RATES = { 'b-collector': 1, 'b-rule-collector': 0.05 };

/**
 * The (…-collector) variants among `wanted`, each its twin from `variants` with the environment the task gives the
 * service (tools/collector/local-task.ts serviceTaskEnvironment: OTLP to the collector, the sampler through its
 * awsproxy, the log group's resource attributes) and a running `collector` (a TaskSidecar). A variant whose collector
 * could not be built or started is returned with `missing` saying why, as a service not built is.
 */
export async function collectorVariants({ variants, wanted, repoRoot, cpu, log }) {
  const result = [];
  for (const id of COLLECTOR_IDS.filter((x) => wanted.includes(x))) {
    const twin = variants.find((v) => v.id === COLLECTOR_TWINS[id]);
    const label = `(${twin.id}) exporting to the real collector (the task's configuration), which sends to an X-Ray stand-in`;
    const base = { ...twin, id, label, sampling: undefined, experiment: false };
    if (twin.missing) {
      result.push({ ...base, missing: twin.missing });
      continue;
    }
    try {
      log(`starting the collector and X-Ray stand-in of (${id})`);
      const sidecar = await TaskSidecar.start({ repoRoot, fixedRate: FIXED_RATES[id], cpu });
      const env = { ...withoutTelemetrySettings(twin.env), ...sidecar.env };
      result.push({
        ...base,
        env,
        collector: sidecar,
        ...(twin.sampling ? { sampling: sidecar.sampling } : {}),
      });
    } catch (error) {
      result.push({ ...base, missing: `the collector did not start: ${error.message.split('\n')[0]}` });
    }
  }
  return result;
}

/** The twin's environment without where it sent spans and asked for rules: the task's settings replace them. */
function withoutTelemetrySettings(env) {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([key]) => !/^OTEL_(SERVICE_NAME|EXPORTER_OTLP_.*|TRACES_SAMPLER(_ARG)?|RESOURCE_ATTRIBUTES)$/.test(key),
    ),
  );
}

/** A quiet stand-in: no new document for this long means the collector's batch (1 s timeout) has gone out. */
const QUIET_MS = 2500;
const SETTLE_DEADLINE_MS = 60_000;

/** The collector and its X-Ray stand-in in their own process, seen from the harness. */
export class TaskSidecar {
  /** Statistics documents the stand-in received, mirrored: the same counts FakeXRayProxy gives (b-rule). */
  statistics = [];
  sampling = {
    sampledCount: () => this.statistics.reduce((sum, s) => sum + s.SampledCount, 0),
    requestCount: () => this.statistics.reduce((sum, s) => sum + s.RequestCount, 0),
  };
  #child;
  #requests = 0;
  #ruleRequestsAtBegin = 0;

  constructor(child, ready) {
    this.#child = child;
    /** The collector's process ID, for its CPU time. */
    this.pid = ready.pid;
    /** The sidecar process's own ID: the stand-in's CPU is the harness's, not the server's. */
    this.helperPid = child.pid;
    this.env = ready.env;
    child.on('message', (message) => {
      if (message.type === 'statistics') this.statistics.push(...message.documents);
    });
  }

  static async start({ repoRoot, fixedRate, cpu }) {
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'task-sidecar.mjs');
    const child = fork(script, [JSON.stringify({ repoRoot, fixedRate, cpu })], {
      cwd: repoRoot,
      // Not this process's node flags (an `--input-type` or `--cpu-prof` meant for it).
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = await new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the collector's sidecar process exited (${code})`)));
      child.once('message', (message) =>
        message.type === 'ready' ? resolve(message) : reject(new Error(message.message)),
      );
    });
    child.removeAllListeners('exit');
    return new TaskSidecar(child, ready);
  }

  #ask(type) {
    const id = (this.#requests += 1);
    return new Promise((resolve) => {
      const onMessage = (message) => {
        if (message.type === 'statistics' || message.id !== id) return;
        this.#child.off('message', onMessage);
        resolve(message);
      };
      this.#child.on('message', onMessage);
      this.#child.send({ type, id });
    });
  }

  /**
   * The collector's CPU time so far (µs), NaN once it has exited: a collector that crashes mid-run shows as spans
   * missing at the stand-in and blank figures, not as a benchmark that stops.
   */
  cpuMicros() {
    return alive(() => cpuMicros(this.pid));
  }

  /** The collector's peak RSS so far (MB), NaN once it has exited. */
  peakRssMB() {
    return alive(() => peakRssMB(this.pid));
  }

  /** Waits until the collector has delivered what it holds: the stand-in's count stops moving. */
  async settle() {
    const deadline = Date.now() + SETTLE_DEADLINE_MS;
    let last = -1;
    let stableSince = Date.now();
    while (Date.now() < deadline) {
      const { documents } = await this.#ask('count');
      if (documents !== last) [last, stableSince] = [documents, Date.now()];
      else if (Date.now() - stableSince >= QUIET_MS) return;
      await sleep(250);
    }
  }

  /** Before a measurement: lets earlier spans (start-ups, the previous cell) arrive, and forgets them. */
  async begin() {
    await this.settle();
    await this.#ask('take');
    this.#ruleRequestsAtBegin = (await this.#ask('count')).ruleRequests;
  }

  /**
   * Resolves once the service started after `begin` has fetched X-Ray's rules through the collector's awsproxy. Until
   * its rules arrive the service's sampler decides by X-Ray's fallback (1/s + 5%), so a request sent earlier may go
   * unrecorded under a rule that records everything: not a span lost. The stand-in counts the call as it arrives; the
   * answer's way back through the awsproxy takes milliseconds, given 300.
   */
  async rulesFetched(timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    while ((await this.#ask('count')).ruleRequests <= this.#ruleRequestsAtBegin) {
      if (Date.now() > deadline) throw new Error(`the service fetched no sampling rules within ${timeoutMs} ms`);
      await sleep(20);
    }
    await sleep(300);
  }

  /**
   * After the service stopped (it flushed its spans to the collector): waits for the collector to deliver them, then
   * summarizes what the stand-in received since `begin` (lib/segments.mjs summarizeSegments) with the collector's
   * complaints (warn and error lines) in that time.
   */
  async take() {
    await this.settle();
    return (await this.#ask('take')).summary;
  }

  /** SIGTERM to the collector (it exports its batch), then the stand-in stops. */
  async stop() {
    if (!this.#child.connected) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.send({ type: 'stop' });
    await exited;
  }
}

/** What `read` returns, or NaN when the process has gone (its /proc entry with it). */
function alive(read) {
  try {
    return read();
  } catch {
    return NaN;
  }
}
