// The orders path against the real service as the image runs it (node dist/main.js: the bundle with the AWS SDK
// instrumentation the build applies), storing orders in a real DynamoDB API (dynalite) and exporting to a real
// OTLP/gRPC receiver: the SDK spans it emits, named by the awsxray exporter's rules (fakes.ts: xrayName and the
// namespace/aws fields of an AWS SDK span, from opentelemetry-collector-contrib v0.156.0
// exporter/awsxrayexporter/internal/translator/segment.go and aws.go), must be the DynamoDB subsegments verify
// expects, and the whole command, reading the orders table from --orders-table, must judge every trace OK.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Dynalite } from '../../../app/test/support/dynalite';
import { OtlpReceiver, type ReceivedSpan } from '../../../app/test/support/otlp-receiver';
import { main } from '../cli';
import { toXRayTraceId } from '../ids';
import { ORDER_READ_ROUTE_NAME, ordersTableRoutes, sendTraffic, type SentRequest } from '../traffic';
import { missingSpans } from '../xray';
import { FakeAws, captureIo, routeOf, segmentDocuments, type ReceivedRequest } from './fakes';
import {
  APP_DIR,
  RealPauseClock,
  asServiceSpan,
  rootServerSpan,
  startService,
  until,
  type LogLine,
  type RunningService,
} from './real-service';

const TABLE = 'orders-verify-test';

jest.setTimeout(60_000);

describe('against the built service with its orders in DynamoDB (dynalite)', () => {
  let service: RunningService;
  let receiver: OtlpReceiver;
  let dynamo: Dynalite;
  let url: string;
  let lines: LogLine[] = [];

  /** The verifier's request's server span, and every span under it (the SDK span sits under store.write/read). */
  const spansOf = (traceId: string) => {
    const spans = receiver.trace(traceId);
    const root = rootServerSpan(spans);
    const below = (parent: ReceivedSpan): ReceivedSpan[] =>
      spans.filter((s) => s.parentSpanId === parent.spanId).flatMap((s) => [s, ...below(s)]);
    return { root, descendants: root ? below(root).filter((s) => s.name !== 'GET /prices/:sku') : [] };
  };

  beforeAll(async () => {
    expect(existsSync(join(APP_DIR, 'dist', 'main.js'))).toBe(true);
    receiver = await OtlpReceiver.start();
    dynamo = await Dynalite.start();
    await dynamo.createOrdersTable(TABLE);
    service = await startService(['dist/main.js'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_TRACES_SAMPLER: 'always_on',
      ...dynamo.serviceEnv(TABLE),
    });
    ({ url, lines } = service);
  });

  afterAll(async () => {
    await service?.stop();
    await receiver?.stop();
    await dynamo?.stop();
  });

  it('emits, per route, the spans verify expects, the SDK calls as DynamoDB subsegments on the table', async () => {
    const sent: SentRequest[] = await sendTraffic(url, {
      requestsPerRoute: 1,
      userAgent: 'otel-fargate-verify/serviceorders',
      ordersTable: TABLE,
    });
    expect(sent.map((s) => [s.route.name, s.status])).toEqual([
      ['GET /', 200],
      ['POST /orders', 201],
      [ORDER_READ_ROUTE_NAME, 200],
      [ORDER_READ_ROUTE_NAME, 200],
      [ORDER_READ_ROUTE_NAME, 200],
    ]);
    expect(sent.filter((s) => s.readBack).every((s) => s.readBack?.sameOrder)).toBe(true);
    const { routes, read } = ordersTableRoutes(TABLE);
    await until(() => sent.every((s) => spansOf(s.context.traceId).descendants.length >= s.route.expectedSpans.length));
    for (const s of sent) {
      const { root, descendants } = spansOf(s.context.traceId);
      const req: ReceivedRequest = {
        method: s.route.method,
        path: s.route.path,
        headers: {},
        body: '',
        traceId: s.context.traceId,
        sampled: true,
      };
      const docs = segmentDocuments(req, descendants.map(asServiceSpan), null);
      const findings = {
        segmentCount: docs.length,
        spanNames: new Set(docs.flatMap((d) => [d.name, ...(d.subsegments ?? []).map((x) => x.name)])),
        logGroupLinks: [],
        awsCalls: docs
          .flatMap((d) => [d, ...(d.subsegments ?? [])])
          .filter((d) => d.namespace === 'aws')
          .map((d) => ({ name: d.name, operation: d.aws?.operation, tableName: d.aws?.table_name })),
      };
      const expected = [...routes, read].find((r) => r.name === s.route.name)!.expectedSpans;
      expect({ route: s.route.name, root: root?.name, missing: missingSpans(findings, expected) }).toEqual({
        route: s.route.name,
        root: routeOf(req) === ORDER_READ_ROUTE_NAME ? 'GET /orders/:id' : s.route.name,
        missing: [],
      });
    }
  });

  it('the whole command with --orders-table judges every trace OK and every order read back', async () => {
    const completed = {
      get received(): ReceivedRequest[] {
        return lines
          .filter((l) => l.msg === 'request completed' && l.trace_id && /^\/(orders(\/.*)?)?$/.test(l.path ?? ''))
          .map((l) => ({
            method: l.method ?? 'GET',
            path: l.path ?? '/',
            headers: {},
            body: '',
            traceId: l.trace_id,
            sampled: true,
          }));
      },
    };
    const fake = new FakeAws(completed, {
      exported: (req) => spansOf(req.traceId ?? '').root !== undefined,
      serviceSpans: (req) => spansOf(req.traceId ?? '').descendants.map(asServiceSpan),
      lines: (req) => ({
        xray: lines.filter((l) => l.trace_id === req.traceId && l.xray_trace_id === toXRayTraceId(req.traceId ?? ''))
          .length,
        hexOnly: 0,
      }),
    });
    const io = captureIo();
    const code = await main(['--url', url, '--requests', '1', '--orders-table', TABLE], io, () => ({
      cfn: fake.cfn,
      xray: fake.xray,
      logs: fake.logs,
      clock: new RealPauseClock(),
    }));
    expect(io.err).not.toMatch(/^verify:/m);
    expect(io.out).toMatch(/All 5 traces verified/);
    expect(io.out).toContain(
      `Every order read back: 1 created, each read 3 times from separate requests, in the DynamoDB table ${TABLE}.`,
    );
    expect(code).toBe(0);
  });
});
