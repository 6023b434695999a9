// X-Ray's sampling API through the real collector's awsproxy extension, as in the task: the built service's sampler
// (OTEL_TRACES_SAMPLER=xray, the task's argument with the endpoint moved to this collector's port) asks the awsproxy
// for GetSamplingRules and sends it SamplingTargets; the awsproxy signs each call with SigV4 and forwards it to the
// X-Ray API stand-in (internal/aws/proxy@v0.143.0, server.go: the reverse proxy's Director rewrites the host and
// signs for the configured region). Two rules by path, one at rate 1 and one at rate 0, decide what the service
// records, and the stand-in sees the service's statistics for each.
import { closeAgent, postOrder, request, traceResponse, type Service } from '../../../app/test/support/service';
import { FakeXRayProxy, samplingRule, type StatisticsDocument } from '../../../app/test/support/xray-proxy';
import type { Collector } from '../collector';
import { LocalTask } from '../local-task';

jest.setTimeout(60_000);

const REGION = 'eu-west-1';
/** Every GET / is recorded: a rate of 1 and no reservoir, so nothing is borrowed either. */
const RECORD_ALL = samplingRule({ RuleName: 'root-all', Priority: 1, URLPath: '/', FixedRate: 1 });
/** No POST /orders is recorded: a rate of 0 and no reservoir. */
const RECORD_NONE = samplingRule({ RuleName: 'orders-none', Priority: 2, URLPath: '/orders*', FixedRate: 0 });
/** X-Ray always has a Default rule; here it records nothing, so only the two rules above decide. */
const DEFAULT = samplingRule({ RuleName: 'Default', Priority: 10000 });
const REQUESTS = 5;

let task: LocalTask;
let xray: FakeXRayProxy;
let collector: Collector;
let service: Service;
const recorded: string[] = [];
const unrecorded: string[] = [];
const xrayId = (traceId: string) => `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;

beforeAll(async () => {
  // The service with the task's sampler environment, its endpoint moved to this collector's awsproxy.
  task = await LocalTask.start({ rules: [RECORD_ALL, RECORD_NONE, DEFAULT], region: REGION });
  ({ xray, collector, service } = task);
  // The sampler's first line says whether the rules came: loaded, or unavailable and why.
  const first = await service.waitForLine((line) => line.component === 'sampling');
  if (first.msg !== 'sampling rules loaded') {
    throw new Error(
      `the service got no rules through the collector's awsproxy at ${collector.samplingEndpoint}: ` +
        `${first.msg} (${String(first.detail)})`,
    );
  }
  for (let i = 0; i < REQUESTS; i++) {
    recorded.push(traceResponse(await request(service.url('/'))).traceId);
    unrecorded.push(traceResponse(await postOrder(service, { sku: 'WIDGET-7', quantity: 1 })).traceId);
  }
  // The first statistics go about 10 s after the rules arrived (app/src/telemetry/xray-sampling.ts).
  await xray.called('/SamplingTargets', 1);
});

afterAll(async () => {
  await task?.stop();
  closeAgent();
});

describe('the sampling rules, fetched through the awsproxy', () => {
  test('reach the service: it loads the stand-in’s rules, not the fallback', () => {
    const loaded = service.lines.find((line) => line.msg === 'sampling rules loaded');
    // Named as the task names it (localhost), on this collector's port.
    const endpoint = collector.samplingEndpoint.replace('127.0.0.1', 'localhost');
    expect(loaded).toMatchObject({ component: 'sampling', endpoint });
    expect(JSON.stringify(loaded!.rules)).toMatch(/root-all.*orders-none/);
    expect(xray.ruleRequests).toBeGreaterThanOrEqual(1);
  });

  test('a rule at rate 1 records every request it matches', () => {
    expect(recorded).toHaveLength(REQUESTS);
    for (const traceId of recorded) {
      expect(service.linesOf(traceId).find((line) => line.msg === 'request completed')?.trace_flags).toBe('01');
    }
  });

  test('a rule at rate 0 records none of them', async () => {
    for (const traceId of unrecorded) {
      expect(service.linesOf(traceId).find((line) => line.msg === 'request completed')?.trace_flags).toBe('00');
    }
    // Every recorded request's segment has reached X-Ray, sent beside the unrecorded ones: none of those came.
    await Promise.all(recorded.map((traceId) => xray.segmentsOf(xrayId(traceId))));
    const arrived = new Set(xray.segments.map((segment) => segment.trace_id));
    expect(unrecorded.map(xrayId).filter((id) => arrived.has(id))).toEqual([]);
  });
});

describe('the statistics, sent through the awsproxy', () => {
  const ofRule = (name: string): StatisticsDocument[] => xray.statistics.filter((d) => d.RuleName === name);

  test('count each rule’s requests and sampled requests as the service decided them', () => {
    expect(ofRule('root-all')).toEqual([
      expect.objectContaining({ RequestCount: REQUESTS, SampledCount: REQUESTS, BorrowCount: 0 }),
    ]);
    expect(ofRule('orders-none')).toEqual([
      expect.objectContaining({ RequestCount: REQUESTS, SampledCount: 0, BorrowCount: 0 }),
    ]);
  });

  test('leave out the rule that saw no request', () => {
    expect(ofRule('Default')).toEqual([]);
  });

  test('carry one client ID for the process, as X-Ray keys its quotas by it', () => {
    const clients = new Set(xray.statistics.map((d) => d.ClientID));
    expect(clients.size).toBe(1);
    expect([...clients][0]).toMatch(/^[0-9a-f]{24}$/);
  });
});

describe('the awsproxy’s forwarding', () => {
  test('signs each call with SigV4 for X-Ray in the task’s region, with the task’s credentials', () => {
    // The service sends no Authorization header; the awsproxy adds it (internal/aws/proxy server.go, signer.Sign).
    expect(xray.lastSamplingAuthorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/\\d{8}/${REGION}/xray/aws4_request, `),
    );
  });

  test('answers the service with what X-Ray answered: a path X-Ray does not know is its 404', async () => {
    const reply = await request(`${collector.samplingEndpoint}/NoSuchOperation`, { method: 'POST', body: '{}' });
    expect(reply.status).toBe(404);
    expect(reply.json()).toEqual({ message: 'no such path /NoSuchOperation' });
  });
});
