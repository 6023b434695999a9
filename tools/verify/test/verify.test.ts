// The verifier's outcomes, each against a stand-in service on port 0 and aws-sdk-client-mock'd AWS clients.
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { StartQueryCommand } from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetTracesCommand } from '@aws-sdk/client-xray';
import 'aws-sdk-client-mock-jest';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { main } from '../cli';
import { verify, type VerifyOptions } from '../verify';
import {
  FakeAws,
  FakeClock,
  LOG_GROUP,
  LOG_GROUP_ARN,
  START_MS,
  StandInService,
  captureIo,
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

function deployed(scenario: Scenario = {}) {
  return new FakeAws(service, scenario).withStack({
    ServiceUrl: url,
    LogGroupName: LOG_GROUP,
    LogGroupArn: LOG_GROUP_ARN,
  });
}

async function runVerify(scenario: Scenario = {}, options: Partial<VerifyOptions> = {}) {
  const fake = deployed(scenario);
  const clock = new FakeClock();
  const progress: string[] = [];
  const outcome = await verify(
    { ...OPTIONS, ...options },
    { cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock, progress: (text) => progress.push(text) },
  );
  return { outcome, fake, clock, progress };
}

async function runCli(argv: string[], fake: FakeAws) {
  const io = captureIo();
  const clock = new FakeClock();
  const code = await main(argv, io, () => ({ cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock }));
  return { code, io };
}

const isOrder = (r: ReceivedRequest) => r.path === '/orders';

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
    expect(io.out).toMatch(/All 4 traces verified/);
    expect(io.out.split('\n').filter((l) => /^1-[0-9a-f]{8}-[0-9a-f]{24} /.test(l))).toHaveLength(4);
  });

  it('sends requests to / and to /orders, each with its own time-prefixed trace in both header formats', async () => {
    await runVerify();
    expect(service.received.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /',
      'POST /orders',
      'GET /',
      'POST /orders',
    ]);
    const epochHex = Math.floor(START_MS / 1000).toString(16);
    for (const req of service.received) {
      expect(req.traceId?.slice(0, 8)).toBe(epochHex);
      const xrayId = `1-${req.traceId?.slice(0, 8)}-${req.traceId?.slice(8)}`;
      expect(req.headers['x-amzn-trace-id']).toMatch(new RegExp(`^Root=${xrayId};Parent=[0-9a-f]{16};Sampled=1$`));
      expect(req.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    }
    expect(new Set(service.received.map((r) => r.traceId)).size).toBe(4);
    expect(JSON.parse(service.received[1].body)).toEqual({ sku: 'verify-1', quantity: 1 });
  });

  it('asks X-Ray for exactly the trace IDs it generated', async () => {
    const { fake } = await runVerify();
    const asked = fake.xrayMock.commandCalls(BatchGetTracesCommand).flatMap((c) => c.args[0].input.TraceIds ?? []);
    const sent = service.received.map((r) => `1-${r.traceId?.slice(0, 8)}-${r.traceId?.slice(8)}`);
    expect(asked.sort()).toEqual([...sent].sort());
  });

  it("queries Logs Insights on the stack's log group for each trace's X-Ray ID, as the console does", async () => {
    const { fake, outcome } = await runVerify();
    expect(fake.logsMock).toHaveReceivedCommandWith(StartQueryCommand, { logGroupNames: [LOG_GROUP] });
    for (const row of outcome.rows) {
      expect(fake.queries).toContainEqual(expect.stringContaining(`filter @message like "${row.xrayTraceId}"`));
    }
  });

  it('reports spans found, link, line count and a console link per trace', async () => {
    const { outcome } = await runVerify();
    expect(outcome.ok).toBe(true);
    const order = outcome.rows.find((r) => r.route === 'POST /orders');
    expect(order).toMatchObject({ spansFound: 3, spansExpected: 3, linked: true, logs: { lines: 3 }, gaps: [] });
    expect(order?.consoleUrl).toBe(
      `https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#xray:traces/${order?.xrayTraceId}`,
    );
    expect(outcome.report).toMatch(/TRACE ID\s+ROUTE\s+HTTP\s+SPANS\s+LOG LINK\s+LOG LINES\s+VERDICT\s+CONSOLE/);
  });
});

describe('while traces are still on their way', () => {
  it('keeps polling X-Ray, showing progress, until they arrive', async () => {
    const { outcome, fake, progress } = await runVerify({ emptyPolls: 3 });
    expect(outcome.ok).toBe(true);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(4);
    expect(progress).toContainEqual(expect.stringMatching(/^X-Ray: 0\/4 traces complete, 0 partial \(\d+ s left\)$/));
    expect(progress).toContainEqual(expect.stringMatching(/^X-Ray: 4\/4 traces complete/));
  });

  it('on a terminal, rewrites one status line in place per phase', async () => {
    const fake = deployed({ emptyPolls: 2 });
    const io = { ...captureIo(), isTTY: true };
    let err = '';
    const code = await main([], { ...io, stderr: (t) => (err += t) }, () => ({
      cfn: fake.cfn,
      xray: fake.xray,
      logs: fake.logs,
      clock: new FakeClock(),
    }));
    expect(code).toBe(0);
    const shown = err.split('\n').map((line) => line.split('\r\x1b[K').at(-1));
    expect(shown).toEqual([
      expect.stringMatching(/^Service /),
      'Sent 4 traced requests, 4 answered',
      expect.stringMatching(/^X-Ray: 4\/4 traces complete/),
      expect.stringMatching(/^Logs: 4\/4 traces have lines/),
      '',
    ]);
    expect(err.match(/X-Ray: /g)).toHaveLength(3);
  });

  it('in a log, prints a progress line only when the counts change', async () => {
    const { io } = await runCli([], deployed({ emptyPolls: 5 }));
    expect(io.err.match(/X-Ray: 0\/4/g)).toHaveLength(1);
    expect(io.err).toMatch(/Logs: 4\/4 traces have lines/);
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

  it('stops polling at the deadline', async () => {
    const { clock, outcome } = await runVerify({ exported: () => false }, { timeoutMs: 60_000 });
    expect(outcome.rows.every((r) => r.gaps.includes('trace-missing'))).toBe(true);
    expect(clock.now() - START_MS).toBeGreaterThanOrEqual(60_000);
    expect(clock.now() - START_MS).toBeLessThan(60_000 + 120_000);
  });
});

describe('when the trace arrives without some expected spans', () => {
  it('says MISSING SPANS and names them', async () => {
    const { outcome } = await runVerify({ spans: (r) => (isOrder(r) ? ['cache.read', 'store.write'] : ['about']) });
    const order = outcome.rows.find((r) => r.route === 'POST /orders');
    expect(order).toMatchObject({ spansFound: 2, spansExpected: 3, missingSpans: ['pricing.call'] });
    expect(order?.gaps).toEqual(['spans-missing']);
    expect(outcome.report).toMatch(/MISSING SPANS \(2\): The trace arrived without span\(s\) pricing\.call/);
  });
});

describe('when the segments carry no log link', () => {
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

  it('accepts a link given only as the log group ARN', async () => {
    const { outcome } = await runVerify({ links: [{ arn: `${LOG_GROUP_ARN}:*` }] });
    expect(outcome.ok).toBe(true);
  });
});

describe('when the trace links the log group but Logs Insights finds no lines', () => {
  it('says NO LOG LINES and blames the log router or the ID format', async () => {
    const { outcome } = await runVerify({ lines: () => ({ xray: 0, hex: 0 }) });
    expect(outcome.rows.map((r) => r.gaps)).toEqual(Array(4).fill(['lines-missing']));
    expect(outcome.report).toMatch(/NO LOG LINES \(4\): The log router or the ID format in the lines/);
  });

  it('re-queries until the deadline, since lines can reach the log group after the trace', async () => {
    let late = true;
    const fake = deployed({ lines: () => (late ? { xray: 0, hex: 0 } : { xray: 2, hex: 2 }) });
    const clock = new FakeClock();
    let rounds = 0;
    const outcome = await verify(OPTIONS, {
      cfn: fake.cfn,
      xray: fake.xray,
      logs: fake.logs,
      clock,
      progress: (text) => {
        if (text.startsWith('Logs:') && ++rounds === 1) late = false;
      },
    });
    expect(outcome.ok).toBe(true);
    expect(outcome.rows[0].logs.lines).toBe(2);
    expect(rounds).toBeGreaterThanOrEqual(2);
  });

  it('tells the ID format apart when lines hold only the 32-hex trace ID', async () => {
    const { outcome } = await runVerify({ lines: () => ({ xray: 0, hex: 2 }) });
    expect(outcome.rows[0].logs).toEqual({ lines: 0, hexOnlyLines: 2 });
    expect(outcome.report).toMatch(/0 \(2 hex-only\)/);
    expect(outcome.report).toMatch(/holding only the 32-hex trace_id: the ID format, not the router/);
  });

  it('says the log group does not exist when StartQuery cannot find it', async () => {
    const { outcome } = await runVerify({ logGroupMissing: true });
    expect(outcome.rows[0].logs.error).toBe('log group otel-test does not exist');
    expect(outcome.report).toMatch(/Queries failed: log group otel-test does not exist/);
  });
});

describe('when AWS throttles the verifier', () => {
  it('keeps polling X-Ray with a growing pause and still verifies every trace', async () => {
    const { outcome, fake, clock } = await runVerify({ xrayThrottles: 2 });
    expect(outcome.ok).toBe(true);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(3);
    expect(clock.sleeps.slice(0, 2)).toEqual([10_000, 20_000]);
  });

  it('retries Logs Insights when too many queries run at once', async () => {
    const { outcome, fake } = await runVerify({ logsThrottles: 3 });
    expect(outcome.ok).toBe(true);
    expect(fake.logsMock.commandCalls(StartQueryCommand).length).toBeGreaterThan(4);
    expect(outcome.rows.every((r) => r.logs.lines === 3)).toBe(true);
  });

  it('notes calls that stayed throttled until the deadline', async () => {
    const { outcome } = await runVerify({ xrayThrottles: 1000 }, { timeoutMs: 30_000 });
    expect(outcome.rows.every((r) => r.gaps[0] === 'trace-missing')).toBe(true);
    expect(outcome.report).toMatch(/AWS call\(s\) stayed throttled after retries/);
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
  it("prints one line with the stack's URL and exits 2, before asking X-Ray", async () => {
    const dead = await closedPortUrl();
    const fake = new FakeAws(service).withStack({ ServiceUrl: dead, LogGroupName: LOG_GROUP });
    const { code, io } = await runCli([], fake);
    expect(code).toBe(2);
    expect(io.err).toMatch(
      new RegExp(`^verify: Cannot reach the service at ${dead}/healthz: ECONNREFUSED\\.\\n$`, 'm'),
    );
    expect(io.err).not.toMatch(/\n\s+at /);
    expect(fake.xrayMock.commandCalls(BatchGetTracesCommand)).toHaveLength(0);
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
    const fake = new FakeAws(service, { links: [{ log_group: 'my-group' }] });
    const { code, io } = await runCli(['--url', `${url}/`, '--log-group', 'my-group', '--requests', '1'], fake);
    expect(code).toBe(0);
    expect(fake.cfnMock.commandCalls(DescribeStacksCommand)).toHaveLength(0);
    expect(fake.logsMock).toHaveReceivedCommandWith(StartQueryCommand, { logGroupNames: ['my-group'] });
    expect(service.received).toHaveLength(2);
    expect(io.err).toMatch(new RegExp(`^Service ${url} \\(command line\\), log group my-group, region us-east-1`));
  });
});
