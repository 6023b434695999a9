// The task's surroundings for a (…-collector) variant, in a process of its own (forked by lib/collector.mjs): the
// X-Ray API stand-in (app/test/support/xray-proxy.ts) and the real collector with the task's configuration
// (tools/collector/collector.ts), pointed at it. Its own process keeps the stand-in's JSON parsing and its documents
// out of the harness, which is also the load generator. Over IPC it answers how many documents arrived (`count`),
// summarizes and forgets them (`take`), and forwards every sampling statistics document the service's sampler sent
// through the collector's awsproxy (`statistics`), so that the harness counts recorded requests as it does for
// (b-rule).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { collectorComplaints, summarizeSegments } from './segments.mjs';

const { repoRoot, fixedRate, cpu } = JSON.parse(process.argv[2]);
const { tsImport } = await import('tsx/esm/api');
const load = (file) => tsImport(pathToFileURL(path.join(repoRoot, file)).href, import.meta.url);

let collector;
let proxy;
let workDir;
try {
  const [
    { collectorBinary },
    { Collector },
    { logGroupArn, serviceTaskEnvironment, startOnFreePorts },
    xray,
    settings,
  ] = await Promise.all([
    load('tools/collector/build.ts'),
    load('tools/collector/collector.ts'),
    load('tools/collector/local-task.ts'),
    load('app/test/support/xray-proxy.ts'),
    load('lib/settings.ts'),
  ]);
  const binary = await collectorBinary();
  // The rule as startSamplingProxies (lib/variants.mjs) serves it, and the same 1 s reporting interval.
  const rule = xray.samplingRule({ RuleName: 'Default', Priority: 10000, ReservoirSize: 1, FixedRate: fixedRate });
  proxy = await xray.FakeXRayProxy.start({ rules: [rule], targetsIntervalS: 1 });
  // The collector shares the server's core, as the sidecar shares the task's CPU with the service. Pinned from its
  // first instruction (taskset execs it, same process ID), so that the Go runtime sizes GOMAXPROCS to that core.
  workDir = mkdtempSync(path.join(os.tmpdir(), 'bench-collector-'));
  let command = binary;
  if (cpu !== undefined) {
    command = path.join(workDir, 'otelcol-pinned');
    writeFileSync(command, `#!/bin/sh\nexec taskset -c ${Number(cpu)} '${binary}' "$@"\n`);
    chmodSync(command, 0o755);
  }
  collector = await startOnFreePorts((ports) =>
    Collector.start({ binary: command, xrayEndpoint: proxy.endpoint, ports }),
  );
  const { DEFAULTS } = settings;
  const env = serviceTaskEnvironment(collector.ports, DEFAULTS.serviceName, {
    name: DEFAULTS.logGroupName,
    arn: logGroupArn(DEFAULTS.logGroupName, 'us-east-1'),
  });
  process.send({ type: 'ready', pid: collector.pid, env, binary });
} catch (error) {
  await shutdown('SIGKILL');
  process.send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }, () =>
    process.exit(1),
  );
}

let logsTaken = 0;
let statisticsSent = 0;
void (async () => {
  for (let calls = 1; proxy && collector; calls += 1) {
    await proxy.called('/SamplingTargets', calls);
    const documents = proxy.statistics.slice(statisticsSent);
    statisticsSent = proxy.statistics.length;
    if (documents.length > 0) process.send({ type: 'statistics', documents });
  }
})();

process.on('message', async (message) => {
  if (message.type === 'count') {
    const documents = proxy.segmentCalls.reduce((sum, call) => sum + call.documents.length, 0);
    process.send({ type: 'count', id: message.id, documents, ruleRequests: proxy.ruleRequests });
  } else if (message.type === 'take') {
    const summary = summarizeSegments(proxy.segments);
    summary.calls = proxy.segmentCalls.length;
    summary.complaints = collectorComplaints(collector.logs.slice(logsTaken));
    logsTaken = collector.logs.length;
    proxy.segmentCalls.length = 0;
    process.send({ type: 'summary', id: message.id, summary });
  } else if (message.type === 'stop') {
    await shutdown('SIGTERM');
    process.exit(0);
  }
});
process.on('disconnect', async () => {
  await shutdown('SIGKILL');
  process.exit(0);
});

async function shutdown(signal) {
  await collector?.stop(signal);
  await proxy?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  collector = undefined;
  proxy = undefined;
}
