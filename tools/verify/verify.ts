// The verification run: find the target, send traced requests, wait for X-Ray, query the logs, judge.
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetTracesCommand, type XRayClient } from '@aws-sdk/client-xray';
import type { Clock } from './clock';
import { VerifyError, describeAwsError } from './errors';
import { newTraceContext, type RandomHex } from './ids';
import { findLogLines, probeLogGroup } from './logs';
import { assess, renderReport, type TraceRow } from './report';
import { DEFAULT_LOG_GROUP, normalizeUrl, readStackTarget, type Target } from './stack';
import { checkReachable, sendTraffic } from './traffic';
import { isThrottling } from './retry';
import { pollTraces, traceSegmentDestination } from './xray';

export interface VerifyOptions {
  /** Read the target from this stack's outputs (ignored when `url` is given). */
  readonly stackName: string;
  readonly url?: string;
  /** Overrides the stack's LogGroupName output. @default the output, else `otel-test` */
  readonly logGroup?: string;
  readonly requestsPerRoute: number;
  /** How long to wait for traces and log lines, from the first request. */
  readonly timeoutMs: number;
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
    throw new VerifyError(
      `CloudWatch Transaction Search is on in ${region}: spans go to the aws/spans log group and X-Ray's ` +
        'BatchGetTraces cannot find traces, so this check cannot run. Open the trace in the console ' +
        '(CloudWatch > Transaction Search), or turn Transaction Search off.',
    );
  }
  try {
    const probeId = newTraceContext(clock.now(), (n) => '0'.repeat(n * 2)).xrayTraceId;
    await clients.xray.send(new BatchGetTracesCommand({ TraceIds: [probeId] }), {
      abortSignal: AbortSignal.timeout(PREFLIGHT_CALL_MS),
    });
  } catch (err) {
    if (!isThrottling(err)) throw describeAwsError(err, 'reading traces from X-Ray', 'xray:BatchGetTraces');
  }
  return { region, ...(unknown ? { segmentDestinationUnknown: unknown } : {}) };
}

async function resolveTarget(opts: VerifyOptions, cfn: CloudFormationClient): Promise<Target> {
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
  };
}

const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s left`;

export async function verify(opts: VerifyOptions, deps: VerifyDeps): Promise<VerifyOutcome> {
  const { clock, progress } = deps;
  const { region, segmentDestinationUnknown } = await preflight(deps, clock);
  const target = await resolveTarget(opts, deps.cfn);
  progress(
    `Service ${target.serviceUrl} (${target.source}), log group ${target.logGroupName}, region ${region}`,
    'target',
  );
  await probeLogGroup(deps.logs, target.logGroupName, clock, AbortSignal.timeout(PREFLIGHT_CALL_MS));
  await checkReachable(target.serviceUrl);

  const start = clock.now();
  const sent = await sendTraffic(target.serviceUrl, {
    requestsPerRoute: opts.requestsPerRoute,
    now: () => clock.now(),
    ...(deps.randomHex ? { randomHex: deps.randomHex } : {}),
  });
  const answered = sent.filter((s) => s.status !== undefined);
  progress(`Sent ${sent.length} traced requests, ${answered.length} answered`, 'sent');
  const deadline = start + opts.timeoutMs;
  // The polling loops stop at the deadline; this aborts a call that a stalled connection keeps past it.
  const signal = AbortSignal.timeout(Math.max(0, deadline - clock.now()) + (deps.hardStopSlackMs ?? 15_000));

  // X-Ray and Logs are polled side by side from the first request, on one status line.
  const status = { complete: 0, partial: 0, withLines: 0, total: answered.length };
  const show = (remainingMs: number) =>
    progress(
      `Waiting: X-Ray ${status.complete}/${status.total} traces complete, ${status.partial} partial; ` +
        `Logs ${status.withLines}/${status.total} with lines (${seconds(remainingMs)})`,
      `wait ${status.complete} ${status.partial} ${status.withLines}`,
    );

  const [xray, logs] = await Promise.all([
    pollTraces(
      deps.xray,
      answered.map((s) => ({ xrayTraceId: s.context.xrayTraceId, expectedSpans: s.route.expectedSpans })),
      {
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
      answered.map((s) => ({ xrayTraceId: s.context.xrayTraceId, traceId: s.context.traceId })),
      {
        clock,
        deadline,
        signal,
        since: start,
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
    xrayThrottled: xray.throttled,
    logsThrottled: logs.throttled,
    ...(xray.error ? { xrayError: xray.error } : {}),
    ...(logs.error ? { logsError: logs.error } : {}),
    ...(segmentDestinationUnknown ? { segmentDestinationUnknown } : {}),
  });
  return { target, region, rows, report, ok: rows.every((r) => r.gaps.length === 0) };
}
