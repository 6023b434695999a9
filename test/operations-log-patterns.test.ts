// The metric filter patterns against real lines: the built service (node app/dist/main.js) runs through a collector
// outage (no collector, then the real one, built from tools/collector/manifest.yaml, with the task's configuration),
// a failing downstream call, a clean stop and a bad configuration; its stdout and the collector's go through each
// pattern with the matching rules CloudWatch documents (test/support/filter-pattern.ts, itself checked against the
// guide's examples in test/filter-pattern.test.ts). The log router cannot run here (its image is not reachable), and
// the collector's crash and memory-limiter lines are not produced on demand, so those lines are written in the exact
// form their pinned sources print.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APP_DIR, freePort, request, spawnService, type Service } from '../app/test/support/service';
import { FakeXRayProxy } from '../app/test/support/xray-proxy';
import { Collector, freePorts } from '../tools/collector/collector';
import {
  COLLECTOR_ERRORS,
  LOG_ROUTER_ERRORS,
  SERVICE_ERROR_LINES,
  SPAN_EXPORT_FAILING,
} from '../lib/operations/log-patterns';
import { matchesFilterPattern } from './support/filter-pattern';

jest.setTimeout(120_000);

/** A service process with its raw stdout kept, line by line, exactly as the log router receives it. */
function spawnWithRawOutput(env: Record<string, string>): { service: Service; raw: () => string[] } {
  const service = spawnService(env);
  let text = '';
  service.proc.stdout!.on('data', (chunk: string) => (text += chunk));
  return { service, raw: () => text.split('\n').filter((line) => line !== '') };
}

async function listening(service: Service): Promise<void> {
  const line = await service.waitForLine((l) => l.msg === 'listening', 30_000);
  service.port = line.port as number;
}

/** The `msg` of each line a pattern matches, in order. */
function matched(pattern: string, lines: string[]): string[] {
  return lines
    .filter((line) => matchesFilterPattern(pattern, line))
    .map((line) => String((JSON.parse(line) as { msg: unknown }).msg));
}

/**
 * FireLens's parse-json.conf turns each line into the event's fields and adds the task's metadata beside them
 * (enableECSLogMetadata), so the event CloudWatch filters has more fields than the line itself.
 */
function asDeliveredByFireLens(line: string): string {
  return JSON.stringify({
    source: 'stdout',
    container_name: 'app',
    ecs_cluster: 'OtelFargateStack-Cluster',
    ecs_task_arn: 'arn:aws:ecs:eu-west-1:123456789012:task/OtelFargateStack-Cluster/0123456789abcdef',
    ecs_task_definition: 'OtelFargateStackObservedTask:7',
    ...(JSON.parse(line) as object),
  });
}

describe("the service's own lines", () => {
  let lines: string[] = [];
  let configErrorLines: string[] = [];
  let collectorLines: string[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(path.join(APP_DIR, 'dist', 'main.js'))) {
      throw new Error('app/dist/main.js is missing: run `npm run build` first');
    }
    const collectorPort = await freePort();
    const pricingPort = await freePort();
    const { service, raw } = spawnWithRawOutput({
      // Nothing listens on either port yet: span export fails, and so does every price lookup.
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
      OTEL_BSP_SCHEDULE_DELAY: '20',
      PRICING_URL: `http://127.0.0.1:${pricingPort}`,
    });
    const xray = await FakeXRayProxy.start();
    let collector: Collector | undefined;
    try {
      await listening(service);
      expect((await request(service.url('/'))).status).toBe(200);
      await service.waitForLine((l) => /^span export failing/.test(l.msg));

      const order = await request(service.url('/orders'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sku: 'WIDGET-7', quantity: 2 }),
      });
      expect(order.status).toBe(502);
      expect((await request(service.url('/no-such-route'))).status).toBe(404);

      // The collector comes up; the gRPC channel reconnects with backoff, so keep the spans coming.
      collector = await Collector.start({
        binary: process.env.OTELCOL_TASK_BINARY!,
        xrayEndpoint: xray.endpoint,
        ports: { ...(await freePorts()), otlpGrpc: collectorPort },
      });
      const until = Date.now() + 60_000;
      while (!service.lines.some((l) => l.msg === 'span export resumed') && Date.now() < until) {
        expect((await request(service.url('/'))).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await service.waitForLine((l) => l.msg === 'span export resumed');
    } finally {
      await service.stop('SIGTERM');
      await collector?.stop('SIGTERM');
      await xray.stop();
    }
    lines = raw();
    collectorLines = collector?.logs ?? [];

    // A bad variable stops the service at start with one fatal line.
    const misconfigured = spawnWithRawOutput({ LOG_LEVEL: 'loud' });
    expect((await misconfigured.service.exited).code).toBe(1);
    configErrorLines = misconfigured.raw();
  });

  test('are one JSON object per line, which JSON filter patterns need', () => {
    expect(lines.length).toBeGreaterThan(10);
    for (const line of [...lines, ...configErrorLines]) {
      expect(JSON.parse(line)).toEqual(expect.any(Object));
    }
  });

  test('error lines: the failed step and the fatal start-up line, not warnings or 5xx access lines', () => {
    expect(matched(SERVICE_ERROR_LINES, lines)).toEqual(['pricing.call failed']);
    expect(matched(SERVICE_ERROR_LINES, configErrorLines)).toHaveLength(1);
    // The 502's access line and the outage warning are the same incident, but not error lines.
    expect(lines.some((l) => /"status":502/.test(l) && /"request completed"/.test(l))).toBe(true);
    expect(lines.some((l) => /"level":"warn"/.test(l))).toBe(true);
  });

  test('span export failing: the outage lines (the first, and its repeats while it lasts), not the resumed line', () => {
    const failing = matched(SPAN_EXPORT_FAILING, lines);
    expect(failing.length).toBeGreaterThanOrEqual(1);
    expect(new Set(failing)).toEqual(
      new Set(['span export failing: collector unreachable or not answering; repeated every 30 s until it recovers']),
    );
    expect(lines.some((l) => /"msg":"span export resumed"/.test(l))).toBe(true);
  });

  test('the real collector’s own lines through that outage, start to stop, count no error', () => {
    expect(collectorLines.length).toBeGreaterThan(3);
    for (const line of collectorLines) expect(JSON.parse(line)).toEqual(expect.any(Object));
    expect(collectorLines.filter((line) => matchesFilterPattern(COLLECTOR_ERRORS, line))).toEqual([]);
  });

  test('each pattern decides the same on the events FireLens delivers, with the task metadata beside the fields', () => {
    const delivered = lines.map(asDeliveredByFireLens);
    for (const pattern of [SERVICE_ERROR_LINES, SPAN_EXPORT_FAILING]) {
      expect(matched(pattern, delivered)).toEqual(matched(pattern, lines));
    }
  });
});

describe("the collector's lines (zap JSON; opentelemetry-collector v0.156.0, the core of ADOT v0.49.0)", () => {
  // Keys from zap's production encoder config with ISO 8601 times and lowercase levels
  // (service/telemetry/otelconftelemetry/logger.go), the component fields from internal/telemetry/attribute.go,
  // the messages from exporter/exporterhelper/internal/base_exporter.go and internal/memorylimiter/memorylimiter.go.
  const resource = {
    'service.instance.id': '5d4b0c0e-5e6a-4a8f-9d43-0f3f0d8a1b2c',
    'service.name': 'aws-otel-collector',
    'service.version': 'v0.49.0',
  };
  const exporter = {
    'otelcol.component.id': 'awsxray',
    'otelcol.component.kind': 'exporter',
    'otelcol.signal': 'traces',
  };
  const zap = (level: string, caller: string, msg: string, fields: object = {}) =>
    JSON.stringify({ level, ts: '2026-11-25T13:15:10.986Z', caller, msg, resource, ...fields });
  const exportFailed = zap(
    'error',
    'internal/base_exporter.go:118',
    'Exporting failed. Rejecting data. Try enabling sending_queue to survive temporary failures.',
    {
      ...exporter,
      error: 'AccessDeniedException: not authorized to perform: xray:PutTraceSegments',
      rejected_items: 12,
    },
  );
  const refusing = zap(
    'warn',
    'memorylimiter/memorylimiter.go:301',
    'Memory usage is above soft limit. Refusing data.',
    {
      'otelcol.component.id': 'memory_limiter',
      'otelcol.component.kind': 'processor',
      cur_mem_mib: 210,
    },
  );
  const ready = zap(
    'info',
    'service@v0.156.0/service.go:263',
    'Everything is ready. Begin running and processing data.',
  );
  const crashed = zap('fatal', 'collector/collector.go:310', 'collector server run finished with error', {
    error: 'failed to start extensions',
  });

  test('the error count takes error and fatal lines only', () => {
    const lines = [ready, refusing, exportFailed, crashed];
    expect(lines.filter((line) => matchesFilterPattern(COLLECTOR_ERRORS, line))).toEqual([exportFailed, crashed]);
  });

  test('zap’s default console form would match nothing, which is why the configuration asks for JSON', () => {
    const consoleForm = `2026-11-25T13:15:10.986Z\terror\tinternal/base_exporter.go:118\tExporting failed. Rejecting data.\t{"otelcol.component.id": "awsxray"}`;
    expect(matchesFilterPattern(COLLECTOR_ERRORS, consoleForm)).toBe(false);
  });
});

describe("the log router's lines (Fluent Bit text: fluent/fluent-bit src/flb_log.c)", () => {
  // `[%Y/%m/%d %H:%M:%S] [%5s] ` then the plugin's own prefix; the messages from plugins/out_cloudwatch_logs and the
  // engine, and the parser warning that REFERENCE.md §8 describes.
  const failedToSend =
    '[2026/11/25 13:15:10] [error] [output:cloudwatch_logs:cloudwatch_logs.0] Failed to send log events';
  const dropped =
    "[2026/11/25 13:15:10] [error] [engine] chunk '1-1764076510.123456789.flb' cannot be retried: task_id=0, input=forward.1 > output=cloudwatch_logs.0";
  const retrying =
    "[2026/11/25 13:15:10] [ warn] [engine] failed to flush chunk '1-1764076510.123456789.flb', retry in 7 seconds: task_id=0, input=forward.1 > output=cloudwatch_logs.0 (out_id=0)";
  const parserWarning =
    "[2026/11/25 13:15:10] [ warn] [parser:json] invalid time format %d/%b/%Y:%H:%M:%S %z for '2026-11-25T13:15:10.986Z'";
  const started = '[2026/11/25 13:15:09] [ info] [output:cloudwatch_logs:cloudwatch_logs.0] worker #0 started';
  const banner = 'AWS for Fluent Bit Container Image Version 3.4.16';

  test('the error count takes [error] lines only, not warnings, retries or the banner', () => {
    const lines = [banner, started, parserWarning, retrying, failedToSend, dropped];
    expect(lines.filter((line) => matchesFilterPattern(LOG_ROUTER_ERRORS, line))).toEqual([failedToSend, dropped]);
  });
});
