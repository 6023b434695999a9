// Verify under sampling by rules (contract 3): the service ignores a caller's sampled flag at its public listener, so
// the verifier gets its own requests recorded with a temporary X-Ray rule that matches its run's User-Agent, waits
// until the service's `traceresponse` says sampled, and deletes the rule however the run ends. The X-Ray sampler
// matches a rule's Attributes against the span's attributes at start (open-telemetry/opentelemetry-js-contrib:
// packages/sampler-aws-xray/src/sampling-rule-applier.ts, `matches`), hence `user_agent.original`.
import { CreateSamplingRuleCommand, DeleteSamplingRuleCommand } from '@aws-sdk/client-xray';
import 'aws-sdk-client-mock-jest';
import { EventEmitter } from 'node:events';
import { main, INTERRUPTED } from '../cli';
import { Cleanup, RULE_PROPAGATION_MS, parseTraceResponse, temporaryRule } from '../sampling';
import { verify, type VerifyOptions } from '../verify';
import {
  FakeAws,
  FakeClock,
  LOG_GROUP,
  LOG_GROUP_ARN,
  SAMPLING_RULE_NAME,
  SERVICE_NAME,
  START_MS,
  StandInService,
  TRACES_CONSOLE_URL,
  captureIo,
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
  return new FakeAws(service, scenario, new FakeClock()).withStack({
    ServiceUrl: url,
    LogGroupName: LOG_GROUP,
    LogGroupArn: LOG_GROUP_ARN,
    XRayTracesConsoleUrl: TRACES_CONSOLE_URL,
    SamplingRuleName: SAMPLING_RULE_NAME,
  });
}

async function runVerify(scenario: Scenario = {}, options: Partial<VerifyOptions> = {}) {
  const fake = deployed(scenario);
  const clock = fake.clock as FakeClock;
  const progress: string[] = [];
  const outcome = await verify(
    { ...OPTIONS, ...options },
    { cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock, progress: (text) => progress.push(text) },
  );
  return { outcome, fake, clock, progress };
}

async function runCli(argv: string[], fake: FakeAws, signals = new EventEmitter()) {
  const io = captureIo();
  const clock = fake.clock as FakeClock;
  const code = await main(argv, io, () => ({ cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock }), signals);
  return { code, io };
}

describe('the temporary rule', () => {
  it("is priority 1, fixed rate 1, for the stack rule's service and this run's User-Agent only", async () => {
    const { fake, outcome } = await runVerify();
    expect(outcome.ok).toBe(true);
    expect(fake.created).toHaveLength(1);
    const rule = fake.created[0];
    const runId = /^otel-verify-([0-9a-f]{12})$/.exec(rule.RuleName ?? '')?.[1];
    expect(runId).toBeDefined();
    expect(rule).toEqual({
      RuleName: `otel-verify-${runId}`,
      Priority: 1,
      FixedRate: 1,
      ReservoirSize: 0,
      ServiceName: SERVICE_NAME,
      ServiceType: '*',
      Host: '*',
      HTTPMethod: '*',
      URLPath: '*',
      ResourceARN: '*',
      Version: 1,
      Attributes: { 'user_agent.original': `otel-fargate-verify/${runId}` },
    });
    expect((rule.RuleName ?? '').length).toBeLessThanOrEqual(32);
    // Every request of the run, probes included, carries that User-Agent.
    expect(new Set(service.received.map((r) => r.headers['user-agent']))).toEqual(
      new Set([`otel-fargate-verify/${runId}`]),
    );
  });

  it('is new for every run', async () => {
    const first = await runVerify();
    const second = await runVerify();
    expect(first.fake.created[0].RuleName).not.toBe(second.fake.created[0].RuleName);
  });

  it('matches the service named by --service-name, or the default when the stack has no such rule', async () => {
    expect((await runVerify({}, { serviceName: 'checkout' })).fake.created[0].ServiceName).toBe('checkout');
    const { fake, outcome } = await runVerify({ stackRule: null });
    expect(fake.created[0].ServiceName).toBe('otel-fargate-service');
    expect(outcome.report).toMatch(
      /^Sampling rule of the stack: otel-fargate-service-1a2b3c4d not found \(no rule named otel-fargate-service-1a2b3c4d in this region\)$/m,
    );
  });

  it('is shown in the report with the stack’s rule in force, its rate and reservoir', async () => {
    const { outcome } = await runVerify();
    const rule = temporaryRule('0123456789ab', SERVICE_NAME);
    expect(rule.RuleName).toBe('otel-verify-0123456789ab');
    expect(outcome.report).toMatch(
      /^Sampling rule of the stack: otel-fargate-service-1a2b3c4d \(priority 9000: 1\/s \+ 5% of the rest\), for service otel-fargate-service$/m,
    );
    expect(outcome.report).toMatch(
      /^Temporary sampling rule: otel-verify-[0-9a-f]{12} \(priority 1: 0\/s \+ 100% of the rest\), for service otel-fargate-service and User-Agent otel-fargate-verify\/[0-9a-f]{12}$/m,
    );
  });
});

describe('waiting for the rule to reach the service', () => {
  it('probes every 5 s until traceresponse says sampled, then sends the traffic, all of it sampled', async () => {
    const { outcome, progress, fake } = await runVerify({ rulePropagationMs: 60_000 });
    expect(outcome.ok).toBe(true);
    // Probes at 0, 5, …, 60 s: the 13th is the first after the rule reached the service.
    expect(progress).toContain('Temporary rule in force: probe 13 sampled after 60 s');
    expect(progress).toContainEqual(
      expect.stringMatching(
        /^Waiting for the temporary rule to reach the service: 12 probe\(s\) not sampled \(35 s left\)$/,
      ),
    );
    const traffic = service.received.slice(13);
    expect(traffic).toHaveLength(4);
    expect(traffic.every((r) => r.sampled)).toBe(true);
    expect(outcome.rows.every((r) => r.sampled === true && r.attempts === 1)).toBe(true);
    expect(fake.deleted).toEqual([fake.created[0].RuleName]);
  });

  it('sends again a request a second task answers as not sampled yet, until that task has the rule', async () => {
    const { outcome, progress } = await runVerify({ rulePropagationMs: 20_000, secondTaskLagMs: 30_000 });
    expect(outcome.ok).toBe(true);
    expect(outcome.rows.some((r) => r.attempts > 1)).toBe(true);
    expect(progress).toContainEqual(
      expect.stringMatching(/^Sent 4 traced requests, 4 answered, \d+ sent again until sampled$/),
    );
  });

  it(`gives up after ${RULE_PROPAGATION_MS / 1000} s and says NOT SAMPLED, naming what to check, exit 1`, async () => {
    const fake = deployed({ neverSampled: true });
    const { code, io } = await runCli(['--timeout', '30'], fake);
    expect(code).toBe(1);
    expect(io.err).toMatch(/No probe sampled in 90 s: the temporary rule is not in force/);
    expect(io.out).toMatch(
      /NOT SAMPLED \(4\): The service answered these requests as not sampled \(traceresponse flags 00\) although the run's temporary rule otel-verify-[0-9a-f]{12} matches them/,
    );
    expect(io.out).toMatch(/OTEL_TRACES_SAMPLER=xray.*awsproxy on 127\.0\.0\.1:2000.*user_agent\.original/);
    expect(fake.askedTraceIds).toHaveLength(0);
    expect(fake.deleted).toHaveLength(1);
  });

  it('goes on with the IDs it sent when the service sends no traceresponse at all (a service before that contract)', async () => {
    service.sendsTraceResponse = false;
    const fake = deployed();
    service.sample = () => true; // such a service honours the caller's sampled flag
    const { code, io } = await runCli([], fake);
    expect(code).toBe(0);
    expect(io.err).toMatch(/The service sends no traceresponse header: cannot tell what it samples/);
    expect(service.received).toHaveLength(1 + 4);
  });
});

describe('deleting the rule on every exit path', () => {
  it('after a run with gaps (exit 1)', async () => {
    const fake = deployed({ exported: () => false });
    const { code, io } = await runCli(['--timeout', '20'], fake);
    expect(code).toBe(1);
    expect(fake.xrayMock).toHaveReceivedCommandWith(DeleteSamplingRuleCommand, { RuleName: fake.created[0].RuleName });
    expect(io.err).toMatch(/^Deleted the temporary sampling rule otel-verify-[0-9a-f]{12}\.$/m);
  });

  it('after a failure in the middle of the run', async () => {
    const fake = deployed();
    fake.logs.send = () => Promise.reject(new Error('the network went away'));
    const cleanup = new Cleanup();
    await expect(
      verify(OPTIONS, {
        cfn: fake.cfn,
        xray: fake.xray,
        logs: fake.logs,
        clock: fake.clock as FakeClock,
        progress: () => undefined,
        cleanup,
      }),
    ).rejects.toThrow();
    // The log group probe fails before the rule exists: nothing to delete, nothing deleted.
    expect(fake.created).toHaveLength(0);
    const later = deployed({ xrayDenied: 1 });
    const { code } = await runCli([], later);
    expect(code).toBe(1);
    expect(later.deleted).toEqual([later.created[0].RuleName]);
  });

  it('on Ctrl-C: deletes it, says so, and exits 130', async () => {
    const fake = deployed({ rulePropagationMs: 60_000 });
    const signals = new EventEmitter();
    const io = captureIo();
    const clock = fake.clock as FakeClock;
    const stderr = io.stderr;
    let interrupted = false;
    const interruptingIo = {
      ...io,
      stderr: (text: string) => {
        stderr(text);
        if (!interrupted && /Waiting for the temporary rule/.test(text)) {
          interrupted = true;
          signals.emit('SIGINT');
        }
      },
    };
    const code = await main(
      [],
      interruptingIo,
      () => ({ cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock }),
      signals,
    );
    expect(code).toBe(INTERRUPTED);
    expect(io.err).toMatch(/verify: interrupted\.\nDeleted the temporary sampling rule otel-verify-[0-9a-f]{12}\.\n$/);
    expect(fake.deleted).toEqual([fake.created[0].RuleName]);
    expect(signals.listenerCount('SIGINT')).toBe(0);
  });

  it('says how to delete it by hand when DeleteSamplingRule fails', async () => {
    const fake = deployed({ deleteRuleFails: true });
    const { code, io } = await runCli([], fake);
    expect(code).toBe(0);
    expect(io.err).toMatch(
      /Could not delete the temporary sampling rule (otel-verify-[0-9a-f]{12}) \(InternalFailure: try again later\)\. .*aws xray delete-sampling-rule --rule-name \1$/m,
    );
  });
});

describe('when the rule cannot be created', () => {
  it('exits 2 with one line naming xray:CreateSamplingRule, before any traffic', async () => {
    const fake = deployed({ createRule: 'denied' });
    const { code, io } = await runCli([], fake);
    expect(code).toBe(2);
    expect(io.err).toMatch(
      /^verify: Access denied while creating the temporary sampling rule otel-verify-[0-9a-f]{12}: .*xray:CreateSamplingRule\.$/m,
    );
    expect(service.received).toHaveLength(0);
    expect(fake.xrayMock.commandCalls(DeleteSamplingRuleCommand)).toHaveLength(0);
  });

  it("says so when the account has X-Ray's maximum of rules", async () => {
    const { code, io } = await runCli([], deployed({ createRule: 'limit' }));
    expect(code).toBe(2);
    expect(io.err).toMatch(/the account has its maximum of sampling rules in this region/);
  });
});

describe('traceresponse', () => {
  it.each([
    ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', { sampled: true }],
    ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', { sampled: false }],
    ['00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-03', { sampled: true }],
  ])('parses %s', (value, expected) => {
    expect(parseTraceResponse(value)).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', ...expected });
  });

  it.each([
    undefined,
    '',
    'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    '00-00000000000000000000000000000000-b7ad6b7169203331-01',
    '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01',
  ])('ignores %p', (value) => {
    expect(parseTraceResponse(value)).toBeUndefined();
  });
});

it('the stand-in starts at the fixed time the other tests assume', () => {
  expect(new FakeClock().now()).toBe(START_MS);
  expect(CreateSamplingRuleCommand).toBeDefined();
});
