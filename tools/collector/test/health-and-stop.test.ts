// The collector sidecar's health and its stops, with the real collector and the task's configuration: the container
// health check (the ADOT image's own /healthcheck program, healthcheck/main.go) against the health_check extension;
// SIGTERM, as ECS stops a task, while spans wait in the batch processor; X-Ray unreachable from the collector; and the
// collector itself gone from under the service, which is what the service's span-export alarm watches. The log lines
// go through the stack's own metric filter patterns (lib/operations/log-patterns.ts) with CloudWatch's matching rules
// (test/support/filter-pattern.ts).
import * as fs from 'node:fs';
import { parse, parseDocument } from 'yaml';
import { COLLECTOR_ERRORS, SPAN_EXPORT_FAILING } from '../../../lib/operations/log-patterns';
import { closeAgent, request, startService, traceResponse, type Service } from '../../../app/test/support/service';
import { FakeXRayProxy } from '../../../app/test/support/xray-proxy';
import { container, synthTemplate } from '../../../test/helpers';
import { matchesFilterPattern } from '../../../test/support/filter-pattern';
import { Collector, freePorts, TASK_CONFIG_PATH, type CollectorPorts } from '../collector';
import { healthcheckBinary, HEALTHCHECK_SOURCE, runHealthcheck } from '../healthcheck';

jest.setTimeout(90_000);

const binary = process.env.OTELCOL_TASK_BINARY!;
const taskConfig = fs.readFileSync(TASK_CONFIG_PATH, 'utf8');
const xrayId = (traceId: string) => `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;

let healthcheck: string;

beforeAll(async () => {
  healthcheck = await healthcheckBinary();
});

afterAll(() => closeAgent());

/** A stand-in for X-Ray, the collector in front of it, and the service sending every request's spans to it. */
async function startTask(options: { taskConfig?: string; ports?: CollectorPorts } = {}) {
  const xray = await FakeXRayProxy.start();
  const ports = options.ports ?? (await freePorts());
  const collector = await Collector.start({
    binary,
    xrayEndpoint: xray.endpoint,
    ports,
    taskConfig: options.taskConfig,
  });
  const service = await startService({
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpEndpoint,
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  return { xray, collector, service };
}

async function recordedRequest(service: Service): Promise<string> {
  const reply = await request(service.url('/'));
  expect(reply.status).toBe(200);
  return traceResponse(reply).traceId;
}

describe('the container health check, the ADOT image’s /healthcheck (aws-otel-collector v0.49.0 cmd/healthcheck)', () => {
  test('the task runs it without arguments, so it asks 127.0.0.1:13133/, where the task’s collector answers', () => {
    const collector = container(synthTemplate(), 'aws-otel-collector');
    expect((collector.HealthCheck as { Command: string[] }).Command).toEqual(['CMD', '/healthcheck']);
    // The program's defaults, from its source: host, port and path.
    const source = fs.readFileSync(HEALTHCHECK_SOURCE, 'utf8');
    expect(source).toMatch(/const host = "127\.0\.0\.1"/);
    expect(source).toMatch(/usedPort := "13133"/);
    expect(source).toMatch(/const path = "\/"/);
    const config = parse(taskConfig) as { extensions: { health_check: { endpoint: string } } };
    expect(config.extensions.health_check.endpoint).toBe('127.0.0.1:13133');
  });

  test('passes (exit code 0) while the collector runs, and fails once it has stopped', async () => {
    const xray = await FakeXRayProxy.start();
    const collector = await Collector.start({ binary, xrayEndpoint: xray.endpoint, ports: await freePorts() });
    try {
      const healthy = await runHealthcheck(healthcheck, collector.ports.healthCheck);
      expect(healthy.code).toBe(0);
      expect(healthy.output).toMatch(/STATUS: 200/);
    } finally {
      await collector.stop('SIGTERM');
      await xray.stop();
    }
    const stopped = await runHealthcheck(healthcheck, collector.ports.healthCheck);
    expect(stopped.code).toBe(1);
    expect(stopped.output).toMatch(/unable to retrieve health status/);
  });
});

describe('SIGTERM to the collector while spans wait in its batch', () => {
  // The task's configuration with the batch's timeout at 60 s rather than 1 s, so that the spans are certainly still
  // in the batch when SIGTERM arrives; the shutdown path is the same (processor/batchprocessor@v0.143.0,
  // batch_processor.go: on shutdown each shard sends what it holds).
  const slowBatch = parseDocument(taskConfig);
  if (slowBatch.getIn(['processors', 'batch/traces', 'timeout']) !== '1s') throw new Error('the batch timeout moved');
  slowBatch.setIn(['processors', 'batch/traces', 'timeout'], '60s');

  const traceIds: string[] = [];
  let segmentsBeforeStop = -1;
  let exitCode: number | null | undefined;
  let xray: FakeXRayProxy;
  let collector: Collector;

  beforeAll(async () => {
    const task = await startTask({ taskConfig: slowBatch.toString() });
    ({ xray, collector } = task);
    try {
      for (let i = 0; i < 3; i++) traceIds.push(await recordedRequest(task.service));
      // The service flushes its spans to the collector as it stops (its SIGTERM path), then exits.
      await task.service.stop('SIGTERM');
      expect(task.service.lines.filter((line) => /^span (flush|export) fail/.test(line.msg))).toEqual([]);
      segmentsBeforeStop = xray.segments.length;
      exitCode = await collector.stop('SIGTERM');
    } finally {
      await xray.stop();
    }
  });

  test('the spans were in the collector, not yet at X-Ray, when the signal came', () => {
    expect(segmentsBeforeStop).toBe(0);
  });

  test('the collector sends them to X-Ray before it exits', () => {
    const arrived = new Set(xray.segments.map((segment) => segment.trace_id));
    expect(traceIds.map(xrayId).filter((id) => !arrived.has(id))).toEqual([]);
  });

  test('and exits with code 0, which ECS records as a clean stop', () => {
    expect(exitCode).toBe(0);
    expect(collector.logs.some((line) => /"msg":"Shutdown complete\."/.test(line))).toBe(true);
  });
});

describe('X-Ray unreachable from the collector', () => {
  let task: Awaited<ReturnType<typeof startTask>>;
  let errorLine: string | undefined;
  let afterOutage: string;
  const duringOutage: string[] = [];
  /** The spans the collector's error lines say it rejected. */
  const rejected = () =>
    task.collector.logs
      .filter((line) => matchesFilterPattern(COLLECTOR_ERRORS, line))
      .reduce((sum, line) => sum + Number((JSON.parse(line) as { rejected_items?: number }).rejected_items ?? 0), 0);

  beforeAll(async () => {
    task = await startTask();
    await task.xray.down();
    // Three GET / requests: two spans each (the request's and the `about` step's).
    for (let i = 0; i < 3; i++) duringOutage.push(await recordedRequest(task.service));
    const deadline = Date.now() + 30_000;
    while (rejected() < 2 * duringOutage.length) {
      if (Date.now() > deadline)
        throw new Error(`no error lines from the collector:\n${task.collector.logs.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    errorLine = task.collector.logs.find((line) => matchesFilterPattern(COLLECTOR_ERRORS, line));
    await task.xray.up();
    afterOutage = await recordedRequest(task.service);
  });

  afterAll(async () => {
    await task.service.stop();
    await task.collector.stop();
    await task.xray.stop();
  });

  test('the service keeps serving, and writes no span-export warning: the collector took its spans', () => {
    expect(
      task.service.lines.filter((line) => matchesFilterPattern(SPAN_EXPORT_FAILING, JSON.stringify(line))),
    ).toEqual([]);
  });

  test('the collector writes an error line that the stack’s collector-errors filter counts, naming the exporter', () => {
    expect(JSON.parse(errorLine!)).toMatchObject({
      level: 'error',
      msg: expect.stringMatching(/^Exporting failed/),
      'otelcol.component.id': 'awsxray',
      'otelcol.component.kind': 'exporter',
    });
  });

  test('once X-Ray answers again, the next spans reach it', async () => {
    await expect(task.xray.segmentsOf(xrayId(afterOutage))).resolves.toHaveLength(2);
  });

  test('the spans sent during the outage are dropped after the SDK’s two attempts, not kept for later', async () => {
    // The awsxray exporter gives exporterhelper no queue and no retry (exporter/awsxrayexporter@v0.143.0, awsxray.go),
    // so the batch is rejected once the AWS SDK's own attempts fail; the error lines count every span of it.
    await task.xray.segmentsOf(xrayId(afterOutage));
    expect(rejected()).toBe(2 * duringOutage.length);
    expect(errorLine).toMatch(/exceeded maximum number of attempts, 2/);
    const arrived = new Set(task.xray.segments.map((segment) => segment.trace_id));
    expect(duringOutage.map(xrayId).filter((id) => arrived.has(id))).toEqual([]);
  });
});

describe('the collector gone from under the service', () => {
  let task: Awaited<ReturnType<typeof startTask>>;
  let restarted: Collector;
  let afterRestart: string;
  const servedMeanwhile: number[] = [];

  beforeAll(async () => {
    task = await startTask();
    await task.collector.stop('SIGTERM');
    for (let i = 0; i < 3; i++) servedMeanwhile.push((await request(task.service.url('/'))).status);
    await task.service.waitForLine((line) => matchesFilterPattern(SPAN_EXPORT_FAILING, JSON.stringify(line)), 30_000);
    // The sidecar comes back on the same ports (ECS restarts an essential container's task; a restart of the process
    // is the same to the service). gRPC reconnects with backoff, so keep the spans coming until the service says so.
    restarted = await Collector.start({ binary, xrayEndpoint: task.xray.endpoint, ports: task.collector.ports });
    const deadline = Date.now() + 60_000;
    while (!task.service.lines.some((line) => line.msg === 'span export resumed')) {
      if (Date.now() > deadline) throw new Error('the service never wrote `span export resumed`');
      await recordedRequest(task.service);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    afterRestart = await recordedRequest(task.service);
  });

  afterAll(async () => {
    await task.service.stop();
    await restarted?.stop();
    await task.xray.stop();
  });

  test('the service keeps serving', () => {
    expect(servedMeanwhile).toEqual([200, 200, 200]);
  });

  test('its span-export warning is the line the span-export alarm’s filter counts', () => {
    const failing = task.service.lines.filter((line) =>
      matchesFilterPattern(SPAN_EXPORT_FAILING, JSON.stringify(line)),
    );
    expect(failing.map((line) => [line.level, line.component])).toContainEqual(['warn', 'opentelemetry']);
  });

  test('the line that the outage ended is not counted', () => {
    const resumed = task.service.lines.filter((line) => line.msg === 'span export resumed');
    expect(resumed).toHaveLength(1);
    expect(matchesFilterPattern(SPAN_EXPORT_FAILING, JSON.stringify(resumed[0]))).toBe(false);
  });

  test('the collector back, the next request’s spans reach X-Ray', async () => {
    await expect(task.xray.segmentsOf(xrayId(afterRestart))).resolves.toHaveLength(2);
  });
});
