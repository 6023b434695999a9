// The verification run: find the target, send traced requests, wait for X-Ray, query the logs, judge.
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { XRayClient } from '@aws-sdk/client-xray';
import type { Clock } from './clock';
import { describeAwsError } from './errors';
import type { RandomHex } from './ids';
import { findLogLines } from './logs';
import { assess, renderReport, type TraceRow } from './report';
import { DEFAULT_LOG_GROUP, normalizeUrl, readStackTarget, type Target } from './stack';
import { checkReachable, sendTraffic } from './traffic';
import { pollTraces } from './xray';

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
}

export interface VerifyOutcome {
  readonly target: Target;
  readonly region: string;
  readonly rows: readonly TraceRow[];
  readonly report: string;
  readonly ok: boolean;
}

/** Resolves region and credentials first, so a missing one is reported before any traffic is sent. */
async function preflight(clients: VerifyClients): Promise<string> {
  let region: string;
  try {
    region = await clients.xray.config.region();
    await clients.xray.config.credentials();
  } catch (err) {
    throw describeAwsError(err, 'resolving AWS credentials and region');
  }
  return region;
}

async function resolveTarget(opts: VerifyOptions, cfn: CloudFormationClient): Promise<Target> {
  if (opts.url) {
    const logGroupName = opts.logGroup ?? DEFAULT_LOG_GROUP;
    return { serviceUrl: normalizeUrl(opts.url), logGroupName, source: 'command line' };
  }
  const target = await readStackTarget(cfn, opts.stackName);
  return opts.logGroup ? { ...target, logGroupName: opts.logGroup } : target;
}

const seconds = (ms: number) => `${Math.ceil(ms / 1000)} s left`;

export async function verify(opts: VerifyOptions, deps: VerifyDeps): Promise<VerifyOutcome> {
  const { clock, progress } = deps;
  const region = await preflight(deps);
  const target = await resolveTarget(opts, deps.cfn);
  progress(
    `Service ${target.serviceUrl} (${target.source}), log group ${target.logGroupName}, region ${region}`,
    'target',
  );
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

  const xray = await pollTraces(
    deps.xray,
    answered.map((s) => ({ xrayTraceId: s.context.xrayTraceId, expectedSpans: s.route.expectedSpans })),
    {
      clock,
      deadline,
      ...(deps.xrayIntervalMs ? { intervalMs: deps.xrayIntervalMs } : {}),
      onProgress: (p) =>
        progress(
          `X-Ray: ${p.complete}/${p.total} traces complete, ${p.partial} partial (${seconds(p.remainingMs)})`,
          `xray ${p.complete} ${p.partial}`,
        ),
    },
  );

  const logs = await findLogLines(
    deps.logs,
    target.logGroupName,
    answered.map((s) => ({ xrayTraceId: s.context.xrayTraceId, traceId: s.context.traceId })),
    {
      clock,
      deadline,
      since: start,
      ...(deps.logsIntervalMs ? { intervalMs: deps.logsIntervalMs } : {}),
      onProgress: (p) =>
        progress(
          `Logs: ${p.withLines}/${p.total} traces have lines (${seconds(p.remainingMs)})`,
          `logs ${p.withLines}`,
        ),
    },
  );

  const rows = assess(sent, xray, logs, target, region);
  const report = renderReport(rows, { target, region, xrayThrottled: xray.throttled, logsThrottled: logs.throttled });
  return { target, region, rows, report, ok: rows.every((r) => r.gaps.length === 0) };
}
