// The verifier's outcomes, each against a stand-in service on port 0 and aws-sdk-client-mock'd AWS clients whose
// documents follow the awsxray exporter's naming rules (see fakes.ts).
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, StartQueryCommand } from '@aws-sdk/client-cloudwatch-logs';
import {
  BatchGetTracesCommand,
  ListRetrievedTracesCommand,
  StartTraceRetrievalCommand,
  XRayClient,
} from '@aws-sdk/client-xray';
import 'aws-sdk-client-mock-jest';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { main, type Signals } from '../cli';
import { systemClock } from '../clock';
import { CONCURRENT_QUERIES_PER_ACCOUNT, QUERY_STRING_MAX_CHARS, insightsQuery } from '../logs';
import { consoleUrl } from '../report';
import { awsClientConfig } from '../retry';
import { ROUTES } from '../traffic';
import { verify, type VerifyOptions, type VerifyOutcome } from '../verify';
import {
  FakeAws,
  FakeClock,
  LOG_GROUP,
  LOG_GROUP_ARN,
  SAMPLING_RULE_NAME,
  SERVICE_NAME,
  SERVICE_SPANS,
  START_MS,
  StandInService,
  TRACES_CONSOLE_URL,
  captureIo,
  segmentDocuments,
  xrayName,
  type ReceivedRequest,
  type Scenario,
} from './fakes';

let service: StandInService;
let url: string;

beforeEach(async () => {
  service = new StandInService();
  url = await service.start();
});

afterEach(async () => {
  await service.stop();
});

const OPTIONS: VerifyOptions = { stackName: 'OtelFargateStack', requestsPerRoute: 2, timeoutMs: 120_000 };

/** The mocked AWS of a deployed stack, on a virtual clock that the stand-in service shares. */
function deployed(scenario: Scenario = {}, outputs: Record<string, string> = {}) {
  return new FakeAws(service, scenario, new FakeClock()).withStack({
    ServiceUrl: url,
    LogGroupName: LOG_GROUP,
    LogGroupArn: LOG_GROUP_ARN,
    XRayTracesConsoleUrl: TRACES_CONSOLE_URL,
    SamplingRuleName: SAMPLING_RULE_NAME,
    ...outputs,
  });
}

const clockOf = (fake: FakeAws) => fake.clock as FakeClock;

async function runVerify(scenario: Scenario = {}, options: Partial<VerifyOptions> = {}, fake = deployed(scenario)) {
  const clock = clockOf(fake);
  const progress: string[] = [];
  const outcome = await verify(
    { ...OPTIONS, ...options },
    { cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock, progress: (text) => progress.push(text) },
  );
  return { outcome, fake, clock, progress };
}

async function runCli(argv: string[], fake: FakeAws, signals?: Signals) {
  const io = captureIo();
  const clock = fake.clock instanceof FakeClock ? fake.clock : new FakeClock();
  const code = await main(
    argv,
    io,
    () => ({ cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock }),
    signals ?? new EventEmitter(),
  );
  return { code, io, clock };
}

/** The requests whose traces the run judged (probes and requests sent again aside), in the order sent. */
function judged(outcome: VerifyOutcome): ReceivedRequest[] {
  return outcome.rows.map((r) => service.received.find((q) => q.traceId && xrayIdOf(q) === r.xrayTraceId)!);
}

const isOrder = (r: ReceivedRequest) => r.path === '/orders';
const xrayIdOf = (r: ReceivedRequest) => `1-${r.traceId?.slice(0, 8)}-${r.traceId?.slice(8)}`;

async function closedPortUrl(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return `http://127.0.0.1:${port}`;
}

describe('when every trace arrives with its spans, its log link and its log lines', () => {
  it('judges every trace OK and exits 0', async () => {
    const { code, io } = await runCli([], deployed());
    expect(code).toBe(0);
    expect(io.out).toMatch(/All 4 traces verified: .* linked to otel-test by its ARN arn:aws:logs:/);
    expect(io.out.split('\n').filter((l) => /^1-[0-9a-f]{8}-[0-9a-f]{24} /.test(l))).toHaveLength(4);
  });

  it('sends requests to / and to /orders, each with its own time-prefixed trace in both header formats', async () => {
    const { outcome } = await runVerify();
    const sent = judged(outcome);
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /', 'POST /orders', 'GET /', 'POST /orders']);
    const epochHex = Math.floor(START_MS / 1000).toString(16);
    for (const req of sent) {
      expect(req.traceId?.slice(0, 8)).toBe(epochHex);
      expect(req.headers['x-amzn-trace-id']).toMatch(
        new RegExp(`^Root=${xrayIdOf(req)};Parent=[0-9a-f]{16};Sampled=1$`),
      );
      expect(req.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    }
    expect(new Set(sent.map((r) => r.traceId)).size).toBe(4);
    expect(JSON.parse(sent[1].body)).toEqual({ sku: 'verify-1', quantity: 1 });
  });

  it('asks X-Ray for exactly the trace IDs it generated', async () => {
    const { fake, outcome } = await runVerify();
    expect([...fake.askedTraceIds].sort()).toEqual(judged(outcome).map(xrayIdOf).sort());
    expect(outcome.rows.map((r) => r.xrayTraceId)).toEqual(outcome.rows.map((r) => r.sentXrayTraceId));
  });

  it("runs one Logs Insights query per round on the stack's log group, matching every trace's IDs", async () => {
    const { fake, outcome } = await runVerify();
    expect(fake.logsMock).toHaveReceivedCommandWith(StartQueryCommand, { logGroupNames: [LOG_GROUP] });
    expect(fake.queries).toHaveLength(1);
    for (const req of judged(outcome)) {
      expect(fake.queries[0]).toContain(xrayIdOf(req));
      expect(fake.queries[0]).toContain(req.traceId);
    }
    expect(outcome.rows.every((r) => r.logs.lines === 3)).toBe(true);
  });

  it("reports spans found, link, line count and a console link derived from the stack's output", async () => {
    const { outcome } = await runVerify();
    expect(outcome.ok).toBe(true);
    const order = outcome.rows.find((r) => r.route === 'POST /orders');
    expect(order).toMatchObject({ spansFound: 3, spansExpected: 3, linked: true, logs: { lines: 3 }, gaps: [] });
    expect(order?.consoleUrl).toBe(TRACES_CONSOLE_URL.replace('traces/query', `traces/${order?.xrayTraceId}`));
    expect(outcome.report).toMatch(/TRACE ID\s+ROUTE\s+HTTP\s+SPANS\s+LOG LINK\s+LOG LINES\s+VERDICT\s+CONSOLE/);
  });
});

describe("the span names X-Ray shows, by the awsxray exporter's rules", () => {
  it('names a CLIENT span by peer.service, the server span by the service, an INTERNAL span by its name', () => {
    const [cache, pricing] = SERVICE_SPANS['POST /orders'];
    expect(xrayName(pricing)).toBe('pricing');
    expect(xrayName({ ...pricing, attributes: { ...pricing.attributes, 'aws.remote.service': 'Prices' } })).toBe(
      'Prices',
    );
    expect(xrayName(cache)).toBe('cache.read');
    expect(xrayName({ name: 'POST /orders', kind: 'SERVER' })).toBe(SERVICE_NAME);
    expect(xrayName({ name: 'a (b)!', kind: 'INTERNAL' })).toBe('a b');
  });

  it("expects each route's spans under those names", () => {
    for (const route of ROUTES) {
      const spans = SERVICE_SPANS[`${route.method} ${route.path}`];
      expect(route.expectedSpans.map((e) => [e.span, e.xrayName])).toEqual(
        expect.arrayContaining(spans.map((s) => [s.name, xrayName(s)])),
      );
      expect(route.expectedSpans).toHaveLength(spans.length);
    }
  });

  it('finds pricing.call as the remote subsegment "pricing", and not under its span name', async () => {
    const { outcome, fake } = await runVerify();
    const order = service.received.find(isOrder)!;
    const docs = segmentDocuments(order, SERVICE_SPANS['POST /orders'], null);
    expect(docs.map((d) => d.name)).not.toContain('pricing.call');
    expect(docs).toContainEqual(expect.objectContaining({ name: 'pricing', namespace: 'remote' }));
    expect(outcome.ok).toBe(true);
    // Two polls would mean a trace stayed partial.
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand).length).toBeLessThanOrEqual(1 + 1);
  });

  it('says MISSING SPANS pricing.call when its subsegment is absent', async () => {
    const { outcome } = await runVerify({ spans: (r) => (isOrder(r) ? ['cache.read', 'store.write'] : ['about']) });
    const order = outcome.rows.find((r) => r.route === 'POST /orders');
    expect(order).toMatchObject({ spansFound: 2, spansExpected: 3, missingSpans: ['pricing.call'] });
    expect(order?.gaps).toEqual(['spans-missing']);
    expect(outcome.report).toMatch(/MISSING SPANS \(2\): The trace arrived without span\(s\) pricing\.call/);
  });
});

describe('while traces are still on their way', () => {
  it('keeps polling X-Ray, showing progress, until they arrive', async () => {
    const { outcome, fake, progress } = await runVerify({ emptyPolls: 3 });
    expect(outcome.ok).toBe(true);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(1 + 4);
    expect(progress).toContainEqual(expect.stringMatching(/^Waiting: X-Ray 0\/4 traces complete, 0 partial; /));
    expect(progress.filter((line) => line.startsWith('Waiting: ')).at(-1)).toMatch(
      /^Waiting: X-Ray 4\/4 traces complete, 0 partial; Logs 4\/4 with lines \(\d+ s/,
    );
  });

  it('polls again the traces X-Ray lists as unprocessed', async () => {
    const { outcome, fake } = await runVerify({ unprocessedPolls: 2 });
    expect(outcome.ok).toBe(true);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(1 + 3);
  });

  it('on a terminal, rewrites one status line in place', async () => {
    const fake = deployed({ emptyPolls: 2 });
    let err = '';
    const code = await main(
      [],
      { ...captureIo(), isTTY: true, stderr: (t) => (err += t) },
      () => ({ cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock: clockOf(fake) }),
      new EventEmitter(),
    );
    expect(code).toBe(0);
    const shown = err.split('\n').map((line) => line.split('\r\x1b[K').at(-1));
    expect(shown).toEqual([
      expect.stringMatching(/^Service /),
      expect.stringMatching(/^Sampling rule of the stack: /),
      expect.stringMatching(/^Temporary sampling rule: /),
      expect.stringMatching(/^Temporary rule in force: probe 1 sampled/),
      'Sent 4 traced requests, 4 answered',
      expect.stringMatching(/^Waiting: X-Ray 4\/4 traces complete, 0 partial; Logs 4\/4 with lines/),
      expect.stringMatching(/^Deleted the temporary sampling rule otel-verify-[0-9a-f]{12}\.$/),
      '',
    ]);
    expect(err.match(/Waiting: /g)!.length).toBeGreaterThanOrEqual(3);
  });

  it('in a log, prints a progress line only when the counts change', async () => {
    const { io } = await runCli([], deployed({ emptyPolls: 5 }));
    expect(io.err.match(/Waiting: X-Ray 0\/4 traces complete, 0 partial; Logs 4\/4/g)).toHaveLength(1);
    expect(io.err).toMatch(/Waiting: X-Ray 4\/4 traces complete, 0 partial; Logs 4\/4 with lines/);
  });
});

describe('when the service does not continue the sent trace context (issue 14.4)', () => {
  it('says NOT CONTINUED with both IDs, and finds the trace under the ID the service answered with', async () => {
    service.continuesContext = false;
    const { outcome } = await runVerify();
    expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(4).fill(['not-continued']));
    const order = outcome.rows.find((r) => r.route === 'POST /orders')!;
    expect(order.xrayTraceId).not.toBe(order.sentXrayTraceId);
    expect(order).toMatchObject({ traceFound: true, spansFound: 3, logs: { lines: 3 } });
    expect(outcome.report).toMatch(
      /NOT CONTINUED \(4\): A propagation gap: the service did not continue the trace context it was sent .*sent 1-[0-9a-f]{8}-[0-9a-f]{24}, got 1-[0-9a-f]{8}-[0-9a-f]{24}/,
    );
  });

  it("takes the service's ID from POST /orders' xrayTraceId when it sends no traceresponse", async () => {
    service.continuesContext = false;
    service.sendsTraceResponse = false;
    const { outcome } = await runVerify();
    const order = outcome.rows.find((r) => r.route === 'POST /orders')!;
    expect(order.gaps).toEqual(['not-continued']);
    expect(order.traceFound).toBe(true);
  });
});

describe("when this machine's clock is off (issue 14.4)", () => {
  it("makes the trace IDs from the service's Date header, and notes the skew", async () => {
    const fake = deployed();
    const local = clockOf(fake);
    service.now = () => local.now() - 10 * 60_000; // this machine is 10 minutes fast
    const { outcome } = await runVerify({}, {}, fake);
    expect(outcome.ok).toBe(true);
    const epochHex = Math.floor((START_MS - 10 * 60_000) / 1000).toString(16);
    for (const req of judged(outcome)) expect(req.traceId?.slice(0, 8)).toBe(epochHex);
    // The Logs Insights window follows the service's clock too: its lines carry the service's times.
    const round = fake.logsMock
      .commandCalls(StartQueryCommand)
      .find((call) => call.args[0].input.queryString !== 'fields @timestamp');
    expect(round?.args[0].input.startTime).toBe(Math.floor((START_MS - 10 * 60_000) / 1000) - 300);
    expect(outcome.report).toMatch(/Note: this machine's clock is 600 s ahead of the service's \(its Date header\)/);
  });

  it("names this machine's clock as a cause of NO TRACE when the service sends no Date header", async () => {
    service.sendsDate = false;
    const { outcome } = await runVerify({ exported: () => false }, { timeoutMs: 20_000 });
    expect(outcome.report).toMatch(/NO TRACE \(4\): .*Or this machine's clock: the trace IDs carry its time/);
  });
});

describe('when a trace comes from BatchGetTraces in two pages (issue 14.5)', () => {
  it('merges its segments by trace ID instead of keeping only the last page', async () => {
    const { outcome, fake } = await runVerify({ splitPages: true });
    expect(outcome.ok).toBe(true);
    expect(outcome.rows.find((r) => r.route === 'POST /orders')).toMatchObject({ spansFound: 3 });
    // One round: the preflight probe, then one call per page for the one batch of 4 IDs.
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(1 + 2);
  });
});

describe('when a trace never reaches X-Ray', () => {
  it('waits until the timeout, then says NO TRACE and blames the collector or IAM, exiting 1', async () => {
    const fake = deployed({ exported: (r) => !isOrder(r) });
    const { code, io } = await runCli(['--timeout', '90'], fake);
    expect(code).toBe(1);
    expect(io.out.split('\n').filter((l) => l.includes('POST /orders'))).toEqual([
      expect.stringMatching(/ - +- +3 +NO TRACE /),
      expect.stringMatching(/ - +- +3 +NO TRACE /),
    ]);
    expect(io.out).toMatch(/NO TRACE \(2\): The collector or IAM/);
    expect(io.out).toMatch(/xray:PutTraceSegments/);
  });

  it('ends within one poll interval of the deadline, both phases included', async () => {
    const { clock, outcome } = await runVerify(
      { exported: () => false, lines: () => ({ xray: 0, hexOnly: 0 }) },
      { timeoutMs: 60_000 },
    );
    expect(outcome.rows.every((r) => r.gaps.includes('trace-missing') && r.gaps.includes('lines-missing'))).toBe(true);
    expect(clock.now() - START_MS).toBeGreaterThanOrEqual(60_000);
    expect(clock.now() - START_MS).toBeLessThanOrEqual(60_000 + 5_000);
  });

  it('still queries the logs meanwhile, so their lines are known when X-Ray gives up', async () => {
    const { outcome } = await runVerify({ exported: () => false }, { timeoutMs: 30_000 });
    expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(4).fill(['trace-missing']));
    expect(outcome.rows.every((r) => r.logs.lines === 3)).toBe(true);
  });
});

describe('when CloudWatch Transaction Search is on (issue 14.3)', () => {
  it('reads the traces with StartTraceRetrieval and ListRetrievedTraces in X-Ray format, and judges them the same', async () => {
    const { outcome, fake } = await runVerify({ segmentDestination: 'CloudWatchLogs', retrievalRunning: 2 });
    expect(outcome.ok).toBe(true);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(0);
    const [start] = fake.xrayMock.commandCalls(StartTraceRetrievalCommand);
    expect([...start.args[0].input.TraceIds!].sort()).toEqual(outcome.rows.map((r) => r.xrayTraceId).sort());
    expect(start.args[0].input.StartTime!.getTime()).toBeLessThanOrEqual(START_MS);
    expect(fake.xrayMock).toHaveReceivedCommandWith(ListRetrievedTracesCommand, { TraceFormat: 'XRAY' });
    expect(outcome.rows.find((r) => r.route === 'POST /orders')).toMatchObject({ spansFound: 3, linked: true });
    expect(outcome.report).toMatch(/^Traces read from CloudWatch Transaction Search/m);
  });

  it('starts a new retrieval each round while traces are missing, and says why when a retrieval fails', async () => {
    const { outcome, fake } = await runVerify(
      { segmentDestination: 'CloudWatchLogs', retrievalStatus: 'FAILED' },
      { timeoutMs: 30_000 },
    );
    expect(fake.xrayMock.commandCalls(StartTraceRetrievalCommand).length).toBeGreaterThan(1);
    expect(outcome.rows.every((r) => r.gaps.includes('trace-missing'))).toBe(true);
    expect(outcome.report).toMatch(/Reading X-Ray: Transaction Search retrieval failed[;.]/);
  });

  it('treats a PENDING destination as unknown: reads X-Ray and says it could not tell', async () => {
    const { outcome, fake } = await runVerify(
      { segmentDestination: 'pending', exported: () => false },
      { timeoutMs: 20_000 },
    );
    expect(fake.xrayMock.commandCalls(StartTraceRetrievalCommand)).toHaveLength(0);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand).length).toBeGreaterThan(1);
    expect(outcome.report).toMatch(
      /Could not check whether CloudWatch Transaction Search is on \(a change of the trace segment destination to CloudWatchLogs is still pending\)/,
    );
  });

  it('carries on when it may not ask, and says so if a trace is missing', async () => {
    const { outcome } = await runVerify({ segmentDestination: 'denied', exported: () => false }, { timeoutMs: 20_000 });
    expect(outcome.report).toMatch(/Could not check whether CloudWatch Transaction Search is on \(AccessDenied/);
    expect(outcome.report).toMatch(/xray:GetTraceSegmentDestination/);
  });

  it('carries on when GetTraceSegmentDestination fails in any other way, and says so (issue 14.5)', async () => {
    const { outcome } = await runVerify(
      { segmentDestination: 'failing', exported: () => false },
      { timeoutMs: 20_000 },
    );
    expect(outcome.report).toMatch(
      /Could not check whether CloudWatch Transaction Search is on \(GetTraceSegmentDestination failed: InternalFailure: We encountered an internal error/,
    );
    expect(outcome.rows).toHaveLength(4);
  });
});

describe('when the segments carry no log link, or the wrong one', () => {
  it('says NO LOG LINK and blames the resource attributes', async () => {
    const { outcome } = await runVerify({ links: null });
    expect(outcome.ok).toBe(false);
    expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(4).fill(['link-missing']));
    expect(outcome.report).toMatch(/NO LOG LINK \(4\): The resource attributes: .*aws\.log\.group\.arns/);
  });

  it('names the other log group when the link points elsewhere', async () => {
    const { outcome } = await runVerify({ links: [{ log_group: 'wrong-group' }] });
    expect(outcome.rows[0].gaps).toEqual(['link-missing']);
    expect(outcome.report).toMatch(/they name wrong-group instead/);
  });

  it("requires the stack's ARN: a link by name only is a gap", async () => {
    const { outcome } = await runVerify({ links: [{ log_group: LOG_GROUP }] });
    expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(4).fill(['link-missing']));
    expect(outcome.report).toMatch(/no aws\.cloudwatch_logs entry with the ARN arn:aws:logs:us-east-1:123456789012/);
    expect(outcome.report).toMatch(/4 of these name otel-test only by name or by another ARN/);
  });

  it('rejects a group of the same name in another account, and names its ARN', async () => {
    const other = 'arn:aws:logs:us-east-1:999999999999:log-group:otel-test:*';
    const { outcome } = await runVerify({ links: [{ log_group: LOG_GROUP, arn: other }] });
    expect(outcome.rows[0].gaps).toEqual(['link-missing']);
    expect(outcome.report).toContain(`they name ${other} instead`);
  });

  it('accepts a link given only as the ARN, and lists nothing elsewhere', async () => {
    const { outcome } = await runVerify({ links: [{ arn: LOG_GROUP_ARN }] });
    expect(outcome.ok).toBe(true);
    expect(outcome.rows.every((r) => r.linkedElsewhere.length === 0)).toBe(true);
  });

  it('flags a linked ARN that ends in :*, which StartQuery refuses, naming the ARN to set instead', async () => {
    // CloudFormation's Arn attribute of a log group ends in `:*`; CloudWatch Logs' StartQuery refuses `*` in
    // logGroupIdentifiers, so the console cannot query such a group (issue 14.2).
    const { outcome } = await runVerify({ links: [{ log_group: LOG_GROUP, arn: `${LOG_GROUP_ARN}:*` }] });
    expect(outcome.ok).toBe(false);
    expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(4).fill(['link-wildcard']));
    expect(outcome.report).toMatch(/ yes, :\* +3 +LINK ARN :\* /);
    expect(outcome.report).toContain(
      `LINK ARN :* (4): The resource attribute aws.log.group.arns ends in ":*" (${LOG_GROUP_ARN}:*)`,
    );
    expect(outcome.report).toContain(`Set it without the suffix: ${LOG_GROUP_ARN}.`);
  });

  it('without a known ARN (--url), accepts a link by name but warns that it is by name only', async () => {
    const fake = new FakeAws(service, { links: [{ log_group: LOG_GROUP }] });
    const { code, io } = await runCli(['--url', url, '--requests', '1'], fake);
    expect(code).toBe(0);
    expect(io.out).toMatch(/linked to otel-test by name,/);
    expect(io.out).toMatch(/Warning: 2 trace\(s\) link otel-test by name only, with no ARN/);
  });

  it("given --log-group with a stack, judges the link by that group's name, not the stack's ARN", async () => {
    const { outcome } = await runVerify({ links: [{ log_group: 'other' }] }, { logGroup: 'other' });
    expect(outcome.ok).toBe(true);
    expect(outcome.target.logGroupArn).toBeUndefined();
  });
});

describe('when the trace links the log group but Logs Insights finds no lines', () => {
  it('says NO LOG LINES and blames the log router or the ID format', async () => {
    const { outcome } = await runVerify({ lines: () => ({ xray: 0, hexOnly: 0 }) });
    expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(4).fill(['lines-missing']));
    expect(outcome.report).toMatch(/NO LOG LINES \(4\): The log router or the ID format in the lines/);
  });

  it('re-queries the traces still without lines, since lines can reach the log group after the trace', async () => {
    let late = true;
    const fake = deployed({ lines: () => (late ? { xray: 0, hexOnly: 0 } : { xray: 2, hexOnly: 0 }) });
    const outcome = await verify(OPTIONS, {
      cfn: fake.cfn,
      xray: fake.xray,
      logs: fake.logs,
      clock: clockOf(fake),
      progress: (text) => {
        if (/Logs 0\/4/.test(text)) late = false;
      },
    });
    expect(outcome.ok).toBe(true);
    expect(outcome.rows[0].logs.lines).toBe(2);
    expect(fake.queries.length).toBeGreaterThanOrEqual(2);
  });

  it('tells the ID format apart when lines hold only the 32-hex trace ID', async () => {
    const { outcome } = await runVerify({ lines: () => ({ xray: 0, hexOnly: 2 }) }, { timeoutMs: 30_000 });
    expect(outcome.rows[0].logs).toEqual({ lines: 0, hexOnlyLines: 2 });
    expect(outcome.report).toMatch(/0 \(2 hex-only\)/);
    expect(outcome.report).toMatch(/holding only the 32-hex trace_id: the ID format, not the router/);
  });

  it('stops a query still running at the deadline, and ends within one poll interval of it', async () => {
    const { outcome, fake, clock } = await runVerify({ queryStatus: 'Running' }, { timeoutMs: 60_000 });
    expect(fake.stopped).toEqual(['q-probe', 'q-1']);
    expect(outcome.rows[0].logs.error).toMatch(/still running at the deadline, stopped/);
    expect(outcome.report).toMatch(/0 \(query failed\)/);
    expect(clock.now() - START_MS).toBeLessThanOrEqual(60_000 + 5_000);
  });

  it.each(['Failed', 'Timeout'] as const)('reports a query that ends %s, retrying until the deadline', async (st) => {
    const { outcome, fake, clock } = await runVerify({ queryStatus: st }, { timeoutMs: 60_000 });
    expect(fake.queries.length).toBeGreaterThan(1);
    expect(outcome.rows[0].logs.error).toBe(`Logs Insights query ${st.toLowerCase()}`);
    expect(outcome.report).toMatch(new RegExp(`Queries failed: Logs Insights query ${st.toLowerCase()}`));
    expect(clock.now() - START_MS).toBeLessThanOrEqual(60_000 + 5_000);
  });
});

describe('when access is denied', () => {
  it('to Logs Insights: exits 2 with one line before sending traffic', async () => {
    const { code, io } = await runCli([], deployed({ logsDenied: 'probe' }));
    expect(code).toBe(2);
    expect(io.err).toMatch(/^verify: Access denied while querying log group otel-test: .*logs:StartQuery.*\n$/m);
    expect(service.received).toHaveLength(0);
  });

  it('to X-Ray: exits 2 with one line before sending traffic', async () => {
    const { code, io } = await runCli([], deployed({ xrayDenied: 'probe' }));
    expect(code).toBe(2);
    expect(io.err).toMatch(/^verify: Access denied while reading traces from X-Ray: .*xray:BatchGetTraces\.\n$/);
    expect(service.received).toHaveLength(0);
  });

  it('to X-Ray in the middle of a run: stops polling it and still prints the table, naming the permission', async () => {
    const { code, io } = await runCli([], deployed({ emptyPolls: 1, xrayDenied: 2 }));
    expect(code).toBe(1);
    expect(io.out).toMatch(/NO TRACE \(4\): .*Reading X-Ray: Access denied .*xray:BatchGetTraces/);
    expect(io.out.split('\n').filter((l) => / 3 +NO TRACE /.test(l))).toHaveLength(4);
  });

  it('to Logs Insights in the middle of a run: still prints the table, naming the permission', async () => {
    const { code, io } = await runCli([], deployed({ lines: () => ({ xray: 0, hexOnly: 0 }), logsDenied: 2 }));
    expect(code).toBe(1);
    expect(io.out).toMatch(/NO LOG LINES \(4\): .*A query round failed: Access denied .*logs:StartQuery/);
  });
});

describe('when the log group does not exist', () => {
  it('exits 2 with one line before sending traffic', async () => {
    const { code, io } = await runCli([], deployed({ logGroupMissing: true }));
    expect(code).toBe(2);
    expect(io.err.split('\n').slice(-2)).toEqual([
      'verify: Log group otel-test not found in us-east-1. Deploy the stack, or pass --log-group or --region.',
      '',
    ]);
    expect(service.received).toHaveLength(0);
  });
});

describe('when AWS throttles the verifier', () => {
  it('keeps polling X-Ray with a growing pause and still verifies every trace', async () => {
    const { outcome, fake, clock } = await runVerify({ xrayThrottles: 2 });
    expect(outcome.ok).toBe(true);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(1 + 3);
    expect(clock.sleeps).toEqual(expect.arrayContaining([10_000, 20_000]));
  });

  it('retries Logs Insights when too many queries run at once', async () => {
    const { outcome, fake } = await runVerify({ logsThrottles: 3 });
    expect(outcome.ok).toBe(true);
    expect(fake.logsMock.commandCalls(StartQueryCommand)).toHaveLength(1 + 4);
    expect(outcome.rows.every((r) => r.logs.lines === 3)).toBe(true);
  });

  it('notes calls that stayed throttled until the deadline', async () => {
    const { outcome } = await runVerify({ xrayThrottles: 1000 }, { timeoutMs: 30_000 });
    expect(outcome.rows.every((r) => r.gaps[0] === 'trace-missing')).toBe(true);
    expect(outcome.report).toMatch(/AWS call\(s\) stayed throttled after retries/);
  });
});

describe('when AWS stops answering mid-run (real SDK clients, a local endpoint that hangs)', () => {
  it('aborts the calls in flight shortly after the deadline and still prints the table', async () => {
    const sockets: ServerResponse[] = [];
    const endpoint = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const target = String(req.headers['x-amz-target'] ?? '');
        const json = (value: object) =>
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (req.url === '/GetTraceSegmentDestination') json({ Destination: 'XRay', Status: 'ACTIVE' });
        else if (req.url === '/CreateSamplingRule' || req.url === '/DeleteSamplingRule') json({});
        else if (req.url === '/Traces' && body.includes('000000000000000000000000')) json({ Traces: [] });
        else if (target.endsWith('.StartQuery') && body.includes('"fields @timestamp"')) json({ queryId: 'p' });
        else if (target.endsWith('.StopQuery')) json({ success: true });
        else sockets.push(res); // everything else: no answer
      });
    }).listen(0, '127.0.0.1');
    await once(endpoint, 'listening');
    const at = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
    const config = {
      ...awsClientConfig('us-east-1'),
      endpoint: at,
      credentials: { accessKeyId: 'a', secretAccessKey: 's' },
    };
    const fake = new FakeAws(service);
    // The rule goes to the local endpoint, not to the fake: the service samples everything.
    service.sample = () => true;
    const started = Date.now();
    try {
      const outcome = await verify(
        { ...OPTIONS, url, requestsPerRoute: 1, timeoutMs: 1_000 },
        {
          cfn: fake.cfn,
          xray: new XRayClient(config),
          logs: new CloudWatchLogsClient(config),
          clock: systemClock,
          progress: () => undefined,
          hardStopSlackMs: 300,
        },
      );
      expect(Date.now() - started).toBeLessThan(1_000 + 300 + 2_000);
      expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(2).fill(['trace-missing', 'lines-missing']));
      expect(outcome.report).toMatch(/Reading X-Ray: X-Ray did not answer in time/);
      expect(outcome.rows[0].logs.error).toBe('CloudWatch Logs did not answer in time');
    } finally {
      endpoint.closeAllConnections();
      endpoint.close();
    }
  });
});

describe('when there are no AWS credentials', () => {
  it('prints one line naming the fix, exits 2 and sends no request', async () => {
    const fake = deployed();
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    jest.spyOn(fake.xray.config, 'credentials').mockRejectedValue(noCredentials);
    const { code, io } = await runCli([], fake);
    expect(code).toBe(2);
    expect(io.err).toBe(
      'verify: No usable AWS credentials while resolving AWS credentials and region (CredentialsProviderError: ' +
        'Could not load credentials from any providers). Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ' +
        'or run `aws sso login`.\n',
    );
    expect(io.out).toBe('');
    expect(service.received).toHaveLength(0);
  });

  it('says the same when a call is refused for an expired token', async () => {
    const fake = deployed();
    fake.cfnMock
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error('The security token included in the request is expired'), { name: 'ExpiredToken' }),
      );
    const { code, io } = await runCli([], fake);
    expect(code).toBe(2);
    expect(io.err).toMatch(
      /^verify: No usable AWS credentials while reading the outputs of stack OtelFargateStack \(ExpiredToken/,
    );
    expect(io.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('when the stack does not exist', () => {
  it('prints one line naming the stack and region, and exits 2', async () => {
    const fake = deployed();
    fake.cfnMock
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack with id NoSuchStack does not exist'), { name: 'ValidationError' }));
    const { code, io } = await runCli(['--stack', 'NoSuchStack'], fake);
    expect(code).toBe(2);
    expect(io.err).toBe(
      'verify: Stack NoSuchStack not found in us-east-1. Deploy it (npx cdk deploy), or pass --stack, --region, or --url.\n',
    );
    expect(fake.cfnMock).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'NoSuchStack' });
  });

  it('says so when the stack has no ServiceUrl output yet', async () => {
    const fake = new FakeAws(service).withStack({ LogGroupName: LOG_GROUP });
    const { code, io } = await runCli([], fake);
    expect(code).toBe(2);
    expect(io.err).toMatch(/^verify: Stack OtelFargateStack \(CREATE_COMPLETE\) has no ServiceUrl output\./);
  });
});

describe('when the service cannot be reached', () => {
  it("prints one line with the stack's URL and exits 2, before polling X-Ray", async () => {
    const dead = await closedPortUrl();
    const fake = new FakeAws(service).withStack({ ServiceUrl: dead, LogGroupName: LOG_GROUP });
    const { code, io } = await runCli([], fake);
    expect(code).toBe(2);
    expect(io.err).toMatch(
      new RegExp(`^verify: Cannot reach the service at ${dead}/healthz: ECONNREFUSED\\.\\n$`, 'm'),
    );
    expect(io.err).not.toMatch(/\n\s+at /);
    expect(fake.askedTraceIds).toHaveLength(0);
  });

  it('says the load balancer has no healthy task when /healthz answers 503', async () => {
    service.statusFor = (_m, path) => (path === '/healthz' ? 503 : undefined);
    const { code, io } = await runCli([], deployed());
    expect(code).toBe(2);
    expect(io.err).toMatch(/answered HTTP 503, not 200\. The load balancer has no healthy task yet\?/);
  });
});

describe('when a route answers an error', () => {
  it('says REQUEST FAILED with the status, and still checks its trace', async () => {
    service.statusFor = (_method, path) => (path === '/orders' ? 500 : undefined);
    const { outcome } = await runVerify();
    const order = outcome.rows.find((r) => r.route === 'POST /orders');
    expect(order).toMatchObject({ http: '500', gaps: ['request-failed'] });
    expect(outcome.report).toMatch(/REQUEST FAILED \(2\): .*POST \/orders -> 500/);
  });
});

describe('given --url and --log-group instead of a stack', () => {
  it('uses them without calling CloudFormation', async () => {
    const fake = new FakeAws(service, {
      links: [{ log_group: 'my-group', arn: 'arn:aws:logs:x:1:log-group:my-group' }],
    });
    const { code, io } = await runCli(['--url', `${url}/`, '--log-group', 'my-group', '--requests', '1'], fake);
    expect(code).toBe(0);
    expect(fake.cfnMock.commandCalls(DescribeStacksCommand)).toHaveLength(0);
    expect(fake.logsMock).toHaveReceivedCommandWith(StartQueryCommand, { logGroupNames: ['my-group'] });
    expect(service.received).toHaveLength(1 + 2);
    expect(io.err).toMatch(new RegExp(`^Service ${url} \\(command line\\), log group my-group, region us-east-1`));
  });
});

describe('console links', () => {
  it("come from the stack's output when known, else from the region's partition", () => {
    const id = '1-6b06cdc0-be332af218f8790a89930f6c';
    const cn = 'https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1#xray:traces/query';
    expect(consoleUrl('cn-north-1', id, cn)).toBe(cn.replace('traces/query', `traces/${id}`));
    expect(consoleUrl('eu-west-1', id)).toBe(
      `https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#xray:traces/${id}`,
    );
    expect(consoleUrl('cn-north-1', id)).toMatch(/^https:\/\/console\.amazonaws\.cn\//);
    expect(consoleUrl('us-gov-west-1', id)).toMatch(/^https:\/\/console\.amazonaws-us-gov\.com\//);
  });
});

describe('the Logs Insights query (issue 14.5: the API reference limits)', () => {
  const lookups = (n: number) =>
    Array.from({ length: n }, (_, i) => {
      const traceId = `6b06cdc0${String(i).padStart(24, 'f')}`;
      return { traceId, xrayTraceId: `1-${traceId.slice(0, 8)}-${traceId.slice(8)}` };
    });

  it("knows StartQuery's limits: 100,000 characters of query, 100 queries at once per account", () => {
    expect(QUERY_STRING_MAX_CHARS).toBe(100_000);
    expect(CONCURRENT_QUERIES_PER_ACCOUNT).toBe(100);
  });

  it('fits the most traces a run makes (50 per route) in one query, and refuses a query StartQuery would', () => {
    expect(insightsQuery(lookups(100)).length).toBeLessThan(QUERY_STRING_MAX_CHARS);
    expect(() => insightsQuery(lookups(2000))).toThrow(/StartQuery takes 100,000/);
  });
});
