// The HTTP part against the real service, started from its sources (node --import tsx, so no build is needed and
// the test runs in a fresh checkout) on port 0, tracing on, exporting to a real OTLP/gRPC receiver (the app's own
// test receiver): the spans it emits, named by the awsxray exporter's rules, must be the ones the verifier expects.
import { OtlpReceiver, type ReceivedSpan } from '../../../app/test/support/otlp-receiver';
import { main } from '../cli';
import { toXRayTraceId } from '../ids';
import { ROUTES, checkReachable, sendTraffic, type SentRequest } from '../traffic';
import { FakeAws, captureIo, xrayName, type ReceivedRequest } from './fakes';
import {
  RealPauseClock,
  asServiceSpan,
  rootServerSpan,
  startService,
  until,
  type LogLine,
  type RunningService,
} from './real-service';

jest.setTimeout(30_000);

describe('against the real service (app/src, started with tsx)', () => {
  let service: RunningService;
  let receiver: OtlpReceiver;
  let url: string;
  let lines: LogLine[] = [];

  /** The server span the service made for a trace (its parent is the verifier's span), and that span's children. */
  const spansOf = (traceId: string) => {
    const spans = receiver.trace(traceId);
    const root = rootServerSpan(spans);
    const children = root ? spans.filter((s) => s.parentSpanId === root.spanId) : [];
    return { root, children };
  };
  const serviceName = (s: ReceivedSpan) => String(s.resource['service.name']);

  /** The requests the service logged as completed, in the shape the mocked AWS answers from. */
  const completed = {
    get received(): ReceivedRequest[] {
      return lines
        .filter((l) => l.msg === 'request completed' && (l.path === '/' || l.path === '/orders') && l.trace_id)
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

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    service = await startService(['--import', 'tsx', '--import', './src/instrumentation.ts', 'src/server.ts'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      // The mocked X-Ray cannot reach its sampler: record every request, as a rule of rate 1 would.
      OTEL_TRACES_SAMPLER: 'always_on',
    });
    ({ url, lines } = service);
  });

  afterAll(async () => {
    await service?.stop();
    await receiver?.stop();
  });

  describe('when the verifier sends its traffic', () => {
    let sent: SentRequest[];

    beforeAll(async () => {
      await checkReachable(url);
      sent = await sendTraffic(url, { requestsPerRoute: 2, userAgent: 'otel-fargate-verify/servicetest' });
    });

    it('gets the answers the contract promises: 200 for /, 201 for /orders', () => {
      expect(sent.map((s) => [s.route.name, s.status, s.error])).toEqual([
        ['GET /', 200, undefined],
        ['POST /orders', 201, undefined],
        ['GET /', 200, undefined],
        ['POST /orders', 201, undefined],
      ]);
    });

    it('the service continues each generated trace and logs its ID in both forms', async () => {
      const logged = (s: SentRequest) => lines.filter((l) => l.trace_id === s.context.traceId);
      await until(() => sent.every((s) => logged(s).some((l) => l.msg === 'request completed')));
      for (const s of sent) {
        const own = logged(s);
        expect(own.length).toBeGreaterThan(0);
        for (const line of own) {
          expect(line.xray_trace_id).toBe(s.context.xrayTraceId);
          expect(line['AWS-XRAY-TRACE-ID']).toMatch(new RegExp(`^${s.context.xrayTraceId}@[0-9a-f]{16}$`));
        }
      }
    });

    it('emits, per route, the child spans the verifier expects, under the names X-Ray gives them', async () => {
      await until(() => sent.every((s) => spansOf(s.context.traceId).children.length >= s.route.expectedSpans.length));
      for (const s of sent) {
        const { root, children } = spansOf(s.context.traceId);
        expect(root?.parentSpanId).toBe(s.context.parentSpanId);
        expect(xrayName(asServiceSpan(root!), serviceName(root!))).toBe('otel-fargate-service');
        const emitted = children.map((c) => [c.name, xrayName(asServiceSpan(c), serviceName(c))]).sort();
        const expected = ROUTES.find((r) => r.name === s.route.name)!.expectedSpans.map((e) => [e.span, e.xrayName]);
        expect(emitted).toEqual(expected.sort());
      }
    });
  });

  describe('when the whole command runs against it, X-Ray documents made from its real spans, AWS mocked', () => {
    it('judges every trace OK and exits 0', async () => {
      const spansFor = (req: ReceivedRequest) => spansOf(req.traceId ?? '');
      const fake = new FakeAws(completed, {
        exported: (req) => spansFor(req).root !== undefined,
        serviceSpans: (req) => spansFor(req).children.map(asServiceSpan),
        lines: (req) => {
          const xid = toXRayTraceId(req.traceId ?? '');
          return {
            xray: lines.filter((l) => l.trace_id === req.traceId && l.xray_trace_id === xid).length,
            hexOnly: 0,
          };
        },
      });
      const io = captureIo();
      const code = await main(['--url', url, '--requests', '1'], io, () => ({
        cfn: fake.cfn,
        xray: fake.xray,
        logs: fake.logs,
        clock: new RealPauseClock(),
      }));
      expect(io.err).not.toMatch(/^verify:/m);
      expect(io.out).toMatch(/All 2 traces verified/);
      expect(code).toBe(0);
      const mine = completed.received.slice(-2).map((r) => toXRayTraceId(r.traceId ?? ''));
      for (const id of mine) expect(io.out).toMatch(new RegExp(`^${id} .* OK `, 'm'));
    });
  });
});
