// The verification run: find the target, get the run's requests sampled, send traced requests, wait for X-Ray (or
// Transaction Search), query the logs, judge. The run's temporary sampling rule is deleted however it ends.
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetTracesCommand, type XRayClient } from '@aws-sdk/client-xray';
import { randomBytes } from 'node:crypto';
import type { Clock } from './clock';
import { describeAwsError } from './errors';
import { newTraceContext, type RandomHex } from './ids';
import { findLogLines, probeLogGroup } from './logs';
import { assess, renderReport, type TraceRow } from './report';
import {
  Cleanup,
  PROBE_INTERVAL_MS,
  RULE_PROPAGATION_MS,
  createTemporaryRule,
  describeRule,
  findRule,
  temporaryRule,
  userAgent,
  waitForRule,
  type ProbeOutcome,
} from './sampling';
import { DEFAULT_LOG_GROUP, DEFAULT_SERVICE_NAME, normalizeUrl, readStackTarget, type Target } from './stack';
import { ROUTES, checkReachable, sendOnce, sendTraffic } from './traffic';
import { isThrottling } from './retry';
import { pollTraces, traceSegmentDestination, type TraceSource } from './xray';

export interface VerifyOptions {
  /** Read the target from this stack's outputs (ignored when `url` is given). */
  readonly stackName: string;
  readonly url?: string;
  /** Overrides the stack's LogGroupName output. @default the output, else `otel-test` */
  readonly logGroup?: string;
  readonly requestsPerRoute: number;
  /** How long to wait for traces and log lines, from the first request. */
  readonly timeoutMs: number;
  /**
   * The service name the temporary sampling rule matches. @default the stack's sampling rule's ServiceName, else
   * `otel-fargate-service`
   */
  readonly serviceName?: string;
  /**
   * The DynamoDB table the service keeps orders in. @default the stack's OrdersTableName output; with `url`, none:
   * then neither the PutItem subsegment nor the read back is checked
   */
  readonly ordersTable?: string;
}

export interface VerifyClients {
  readonly cfn: CloudFormationClient;
  readonly xray: XRayClient;
  readonly logs: CloudWatchLogsClient;
}

export interface VerifyDeps extends VerifyClients {
  readonly clock: Clock;
  /** Status lines while waiting; `key` changes when something other than the time left changes. */
  readonly progress: (text: string, key: string) => void;
  readonly randomHex?: RandomHex;
  /** Poll intervals, shortened by tests. */
  readonly xrayIntervalMs?: number;
  readonly logsIntervalMs?: number;
  /** Real milliseconds past the deadline after which any AWS call still running is aborted. @default 15000 */
  readonly hardStopSlackMs?: number;
  /** Where the run registers what must be undone (its sampling rule); the CLI runs it on Ctrl-C. @default a new one */
  readonly cleanup?: Cleanup;
}

export interface VerifyOutcome {
  readonly target: Target;
  readonly region: string;
  readonly rows: readonly TraceRow[];
  readonly report: string;
  readonly ok: boolean;
}

/** How long each call before the traffic (credentials aside) may take, retries included. */
const PREFLIGHT_CALL_MS = 60_000;

interface Preflight {
  readonly region: string;
  /** Where the traces are read from. */
  readonly source: TraceSource;
  /** Why the segment destination is unknown, when it is. */
  readonly segmentDestinationUnknown?: string;
}

/**
 * Before any traffic: region and credentials, then whether X-Ray can show traces at all (Transaction Search) and
 * whether the identity may read them, so that a run that cannot succeed ends in its first seconds.
 */
async function preflight(clients: VerifyClients, clock: Clock): Promise<Preflight> {
  let region: string;
  try {
    region = await clients.xray.config.region();
    await clients.xray.config.credentials();
  } catch (err) {
    throw describeAwsError(err, 'resolving AWS credentials and region');
  }
  const { destination, unknown } = await traceSegmentDestination(clients.xray, AbortSignal.timeout(PREFLIGHT_CALL_MS));
  if (destination === 'CloudWatchLogs') {
    // Transaction Search: BatchGetTraces finds nothing; the retrieval API reads the aws/spans log group instead.
    return { region, source: 'transaction-search' };
  }
  try {
    const probeId = newTraceContext(clock.now(), (n) => '0'.repeat(n * 2)).xrayTraceId;
    await clients.xray.send(new BatchGetTracesCommand({ TraceIds: [probeId] }), {
      abortSignal: AbortSignal.timeout(PREFLIGHT_CALL_MS),
    });
  } catch (err) {
    if (!isThrottling(err)) throw describeAwsError(err, 'reading traces from X-Ray', 'xray:BatchGetTraces');
  }
  return { region, source: 'xray', ...(unknown ? { segmentDestinationUnknown: unknown } : {}) };
}

async function resolveTarget(opts: VerifyOptions, cfn: CloudFormationClient): Promise<Target> {
  const target = await resolveServiceTarget(opts, cfn);
  return opts.ordersTable === undefined ? target : { ...target, ordersTableName: opts.ordersTable };
}

async function resolveServiceTarget(opts: VerifyOptions, cfn: CloudFormationClient): Promise<Target> {
  if (opts.url) {
    const logGroupName = opts.logGroup ?? DEFAULT_LOG_GROUP;
    return { serviceUrl: normalizeUrl(opts.url), logGroupName, source: 'command line' };
  }
  const target = await readStackTarget(cfn, opts.stackName);
  if (!opts.logGroup || opts.logGroup === target.logGroupName) return target;
  // Another group than the stack's: the stack's ARN says nothing about it.
  return {
    serviceUrl: target.serviceUrl,
    logGroupName: opts.logGroup,
    source: target.source,
    ...(target.tracesConsoleUrl ? { tracesConsoleUrl: target.tracesConsoleUrl } : {}),
    ...(target.samplingRuleName ? { samplingRuleName: target.samplingRuleName } : {}),
    ...(target.ordersTableName ? { ordersTableName: target.ordersTableName } : {}),
  };
}

interface SamplingSetup {
  readonly lines: string[];
  readonly ruleName: string;
  readonly userAgent: string;
}

/**
 * Reads the stack's rule (for the report, and the service name it matches) and creates the run's temporary rule,
 * whose deletion `cleanup` then holds.
 */
async function setUpSampling(
  opts: VerifyOptions,
  deps: VerifyDeps,
  target: Target,
  runId: string,
  cleanup: Cleanup,
): Promise<SamplingSetup> {
  const signal = AbortSignal.timeout(PREFLIGHT_CALL_MS);
  const lines: string[] = [];
  let serviceName = opts.serviceName;
  if (target.samplingRuleName) {
    const { rule, problem } = await findRule(deps.xray, target.samplingRuleName, signal);
    if (rule) {
      lines.push(`Sampling rule of the stack: ${describeRule(rule)}, for service ${rule.ServiceName}`);
      serviceName ??= rule.ServiceName;
    } else {
      lines.push(`Sampling rule of the stack: ${target.samplingRuleName} not found (${problem})`);
    }
  } else {
    lines.push('Sampling rule of the stack: not known (no SamplingRuleName output)');
  }
  const rule = temporaryRule(runId, serviceName ?? DEFAULT_SERVICE_NAME);
  await createTemporaryRule(deps.xray, rule, cleanup, signal);
  lines.push(
    `Temporary sampling rule: ${describeRule(rule)}, for service ${rule.ServiceName} and User-Agent ${userAgent(runId)}`,
  );
  return { lines, ruleName: rule.RuleName as string, userAgent: userAgent(runId) };
}

const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s left`;

export async function verify(opts: VerifyOptions, deps: VerifyDeps): Promise<VerifyOutcome> {
  const cleanup = deps.cleanup ?? new Cleanup();
  try {
    return await run(opts, deps, cleanup);
  } finally {
    for (const line of await cleanup.run()) deps.progress(line, 'cleanup');
  }
}

async function run(opts: VerifyOptions, deps: VerifyDeps, cleanup: Cleanup): Promise<VerifyOutcome> {
  const { clock, progress } = deps;
  const { region, source, segmentDestinationUnknown } = await preflight(deps, clock);
  const target = await resolveTarget(opts, deps.cfn);
  progress(
    `Service ${target.serviceUrl} (${target.source}), log group ${target.logGroupName}, ` +
      `${target.ordersTableName ? `orders table ${target.ordersTableName}, ` : ''}region ${region}`,
    'target',
  );
  await probeLogGroup(deps.logs, target.logGroupName, clock, AbortSignal.timeout(PREFLIGHT_CALL_MS));
  const { serverDateMs } = await checkReachable(target.serviceUrl);
  // Trace IDs carry the service's time when it says it (a clock more than 5 minutes fast makes IDs a collector that
  // validates their timestamps drops); this machine's clock otherwise.
  const offsetMs = serverDateMs === undefined ? 0 : serverDateMs - clock.now();
  const idTime = () => clock.now() + offsetMs;

  const randomHex = deps.randomHex ?? ((n: number) => randomBytes(n).toString('hex'));
  const sampling = await setUpSampling(opts, deps, target, randomHex(6), cleanup);
  sampling.lines.forEach((line, i) => progress(line, `sampling${i}`));

  const traffic = { userAgent: sampling.userAgent, now: idTime, randomHex };
  const probeDeadline = clock.now() + RULE_PROPAGATION_MS;
  const probe: ProbeOutcome = await waitForRule(
    async () => {
      const answer = await sendOnce(target.serviceUrl, ROUTES[0], 0, traffic);
      return answer.error && answer.status === undefined ? new Error(answer.error) : answer.traceResponse;
    },
    {
      clock,
      deadline: probeDeadline,
      onProgress: (probes, remainingMs) =>
        progress(
          `Waiting for the temporary rule to reach the service: ${probes} probe(s) not sampled (${seconds(remainingMs)})`,
          'probe',
        ),
    },
  );
  const probeLine = {
    sampled: `Temporary rule in force: probe ${probe.probes} sampled after ${Math.round(probe.waitedMs / 1000)} s`,
    'no-header':
      'The service sends no traceresponse header: cannot tell what it samples; going on with the IDs it was sent',
    'not-sampled': `No probe sampled in ${Math.round(RULE_PROPAGATION_MS / 1000)} s: the temporary rule is not in force`,
  }[probe.state];
  progress(probeLine, 'probed');
  const samplingLines = [...sampling.lines, probeLine];

  const start = clock.now();
  const sent = await sendTraffic(target.serviceUrl, {
    ...traffic,
    requestsPerRoute: opts.requestsPerRoute,
    ...(target.ordersTableName ? { ordersTable: target.ordersTableName } : {}),
    // A task that has not fetched the rule yet answers "not sampled": send again until the rule has had its time.
    ...(probe.state === 'sampled'
      ? {
          resend: {
            until: Math.max(probeDeadline, clock.now() + PROBE_INTERVAL_MS),
            pauseMs: PROBE_INTERVAL_MS,
            clock,
          },
        }
      : {}),
  });
  const answered = sent.filter((s) => s.status !== undefined);
  const resent = sent.reduce((n, s) => n + s.attempts - 1, 0);
  progress(
    `Sent ${sent.length} traced requests, ${answered.length} answered${resent > 0 ? `, ${resent} sent again until sampled` : ''}`,
    'sent',
  );
  const deadline = start + opts.timeoutMs;
  // The polling loops stop at the deadline; this aborts a call that a stalled connection keeps past it.
  const signal = AbortSignal.timeout(Math.max(0, deadline - clock.now()) + (deps.hardStopSlackMs ?? 15_000));

  // Requests the service says it did not sample have no trace to wait for.
  const traced = answered.filter((s) => s.traceResponse?.sampled !== false);
  const status = { complete: 0, partial: 0, withLines: 0, total: answered.length };
  const show = (remainingMs: number) =>
    progress(
      `Waiting: X-Ray ${status.complete}/${traced.length} traces complete, ${status.partial} partial; ` +
        `Logs ${status.withLines}/${status.total} with lines (${seconds(remainingMs)})`,
      `wait ${status.complete} ${status.partial} ${status.withLines}`,
    );

  const [xray, logs] = await Promise.all([
    pollTraces(
      deps.xray,
      traced.map((s) => ({ xrayTraceId: s.xrayTraceId, expectedSpans: s.route.expectedSpans })),
      {
        source,
        since: start,
        serviceOffsetMs: offsetMs,
        clock,
        deadline,
        signal,
        ...(deps.xrayIntervalMs ? { intervalMs: deps.xrayIntervalMs } : {}),
        onProgress: (p) => {
          Object.assign(status, { complete: p.complete, partial: p.partial });
          show(p.remainingMs);
        },
      },
    ),
    findLogLines(
      deps.logs,
      target.logGroupName,
      answered.map((s) => ({ xrayTraceId: s.xrayTraceId, traceId: s.traceId })),
      {
        clock,
        deadline,
        signal,
        since: start,
        serviceOffsetMs: offsetMs,
        ...(deps.logsIntervalMs ? { intervalMs: deps.logsIntervalMs } : {}),
        onProgress: (p) => {
          status.withLines = p.withLines;
          show(p.remainingMs);
        },
      },
    ),
  ]);

  const rows = assess(sent, xray, logs, target, region);
  const report = renderReport(rows, {
    target,
    region,
    samplingLines,
    temporaryRuleName: sampling.ruleName,
    clock: {
      idsFrom: serverDateMs === undefined ? 'local' : 'service',
      ...(serverDateMs === undefined ? {} : { skewMs: -offsetMs }),
    },
    traceSource: source,
    xrayThrottled: xray.throttled,
    logsThrottled: logs.throttled,
    ...(xray.error ? { xrayError: xray.error } : {}),
    ...(logs.error ? { logsError: logs.error } : {}),
    ...(segmentDestinationUnknown ? { segmentDestinationUnknown } : {}),
  });
  return { target, region, rows, report, ok: rows.every((r) => r.gaps.length === 0) };
}
