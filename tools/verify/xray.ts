// Polls X-Ray until each trace has arrived with its expected spans, or the deadline passes.
import {
  GetTraceSegmentDestinationCommand,
  paginateBatchGetTraces,
  type Trace,
  type XRayClient,
} from '@aws-sdk/client-xray';
import type { Clock } from './clock';
import { describeAwsError } from './errors';
import { backoffMs, isNoAnswer, isThrottling } from './retry';
import type { ExpectedSpan } from './traffic';

/** One entry of a segment's `aws.cloudwatch_logs`, as the ADOT awsxray exporter writes it. */
export interface LogGroupLink {
  readonly logGroup?: string;
  readonly arn?: string;
}

export interface TraceFindings {
  readonly segmentCount: number;
  /** Names of every segment and subsegment (X-Ray's names, see ExpectedSpan). */
  readonly spanNames: ReadonlySet<string>;
  readonly logGroupLinks: readonly LogGroupLink[];
}

export interface WantedTrace {
  readonly xrayTraceId: string;
  readonly expectedSpans: readonly ExpectedSpan[];
}

export interface XRayProgress {
  readonly complete: number;
  readonly partial: number;
  readonly total: number;
  readonly remainingMs: number;
  readonly throttled: number;
}

export interface XRayPollOptions {
  readonly clock: Clock;
  /** Epoch milliseconds after which no new poll starts. */
  readonly deadline: number;
  /** Aborts a call in flight when the run's hard stop passes. */
  readonly signal?: AbortSignal;
  /** @default 5000 */
  readonly intervalMs?: number;
  readonly onProgress?: (progress: XRayProgress) => void;
}

export interface XRayPollResult {
  /** Only the traces X-Ray returned; a missing key means the trace never arrived. */
  readonly findings: ReadonlyMap<string, TraceFindings>;
  /** Calls still throttled after the SDK's own retries. */
  readonly throttled: number;
  /** Why polling stopped early or kept failing (access denied, no answer in time), for the report. */
  readonly error?: string;
}

/** BatchGetTraces takes at most 5 IDs per call. */
const BATCH_SIZE = 5;

interface SegmentDocument {
  name?: unknown;
  subsegments?: unknown;
  aws?: { cloudwatch_logs?: unknown };
}

function walk(doc: SegmentDocument, names: Set<string>, links: LogGroupLink[]): void {
  if (typeof doc.name === 'string') names.add(doc.name);
  const cwl = doc.aws?.cloudwatch_logs;
  if (Array.isArray(cwl)) {
    for (const entry of cwl as { log_group?: unknown; arn?: unknown }[]) {
      links.push({
        ...(typeof entry.log_group === 'string' ? { logGroup: entry.log_group } : {}),
        ...(typeof entry.arn === 'string' ? { arn: entry.arn } : {}),
      });
    }
  }
  if (Array.isArray(doc.subsegments)) {
    for (const sub of doc.subsegments as SegmentDocument[]) walk(sub, names, links);
  }
}

export function analyseTrace(trace: Trace): TraceFindings {
  const names = new Set<string>();
  const links: LogGroupLink[] = [];
  let segmentCount = 0;
  for (const segment of trace.Segments ?? []) {
    if (!segment.Document) continue;
    let doc: SegmentDocument;
    try {
      doc = JSON.parse(segment.Document) as SegmentDocument;
    } catch {
      continue;
    }
    segmentCount++;
    walk(doc, names, links);
  }
  return { segmentCount, spanNames: names, logGroupLinks: links };
}

/** The log group name inside an ARN such as `arn:aws:logs:us-east-1:123:log-group:otel-test:*`. */
export function logGroupNameFromArn(arn: string): string | undefined {
  return /:log-group:([^:]+)/.exec(arn)?.[1];
}

/** A log group ARN without the `:*` that CloudFormation's `Arn` attribute (and so the stack output) carries. */
export function normalizeLogGroupArn(arn: string): string {
  return arn.replace(/:\*$/, '');
}

export interface LinkStatus {
  readonly linked: boolean;
  /**
   * With a known ARN: the group is named, but no entry carries that ARN. Without one: the group is named only by
   * `log_group`, with no ARN at all (the console may then show no logs).
   */
  readonly byNameOnly: boolean;
}

/** Whether the segments' links name the log group: by its ARN when the ARN is known, else by its name. */
export function linkStatus(links: readonly LogGroupLink[], logGroupName: string, logGroupArn?: string): LinkStatus {
  const named = links.some(
    (l) => l.logGroup === logGroupName || (l.arn !== undefined && logGroupNameFromArn(l.arn) === logGroupName),
  );
  if (logGroupArn !== undefined) {
    const wanted = normalizeLogGroupArn(logGroupArn);
    const exact = links.some((l) => l.arn !== undefined && normalizeLogGroupArn(l.arn) === wanted);
    return { linked: exact, byNameOnly: !exact && named };
  }
  const withArn = links.some((l) => l.arn !== undefined && logGroupNameFromArn(l.arn) === logGroupName);
  return { linked: named, byNameOnly: named && !withArn };
}

/** The span names (as the service names them) X-Ray does not show for this trace. */
export function missingSpans(findings: TraceFindings | undefined, expected: readonly ExpectedSpan[]): string[] {
  return expected.filter((e) => !findings?.spanNames.has(e.xrayName)).map((e) => e.span);
}

/**
 * Where the account sends trace segments. With CloudWatch Transaction Search on (`CloudWatchLogs`), BatchGetTraces
 * finds nothing: "You cannot find traces through this API if Transaction Search is enabled since trace is not
 * indexed in X-Ray" (API reference). `undefined` with a reason when the identity may not ask.
 */
export async function traceSegmentDestination(
  xray: XRayClient,
  signal?: AbortSignal,
): Promise<{ destination?: string; unknown?: string }> {
  try {
    const res = await xray.send(new GetTraceSegmentDestinationCommand({}), signal ? { abortSignal: signal } : {});
    return { destination: res.Destination ?? 'XRay' };
  } catch (err) {
    const name = (err as { name?: string }).name ?? '';
    if (name === 'AccessDenied' || name === 'AccessDeniedException' || isThrottling(err)) {
      return { unknown: `${name}; allow xray:GetTraceSegmentDestination to have it checked` };
    }
    throw describeAwsError(err, 'checking where X-Ray stores traces', 'xray:GetTraceSegmentDestination');
  }
}

async function fetchTraces(xray: XRayClient, ids: string[], signal?: AbortSignal): Promise<Trace[]> {
  const traces: Trace[] = [];
  for await (const page of paginateBatchGetTraces(
    { client: xray },
    { TraceIds: ids },
    ...(signal ? [{ abortSignal: signal }] : []),
  )) {
    traces.push(...(page.Traces ?? []));
  }
  return traces;
}

export async function pollTraces(
  xray: XRayClient,
  wanted: readonly WantedTrace[],
  opts: XRayPollOptions,
): Promise<XRayPollResult> {
  const intervalMs = opts.intervalMs ?? 5000;
  const findings = new Map<string, TraceFindings>();
  const expected = new Map(wanted.map((w) => [w.xrayTraceId, w.expectedSpans]));
  const pending = new Set(expected.keys());
  let throttled = 0;
  let consecutiveThrottles = 0;
  let error: string | undefined;
  let stop = false;

  while (!stop) {
    let throttledThisRound = false;
    const ids = [...pending];
    for (let i = 0; i < ids.length && !stop; i += BATCH_SIZE) {
      try {
        for (const trace of await fetchTraces(xray, ids.slice(i, i + BATCH_SIZE), opts.signal)) {
          if (!trace.Id || !expected.has(trace.Id)) continue;
          const found = analyseTrace(trace);
          findings.set(trace.Id, found);
          if (missingSpans(found, expected.get(trace.Id) ?? []).length === 0) pending.delete(trace.Id);
        }
      } catch (err) {
        if (isThrottling(err)) {
          throttled++;
          throttledThisRound = true;
        } else if (isNoAnswer(err)) {
          // A request timeout after the SDK's attempts: try again next round. The run's abort: stop.
          error = 'X-Ray did not answer in time';
          if (opts.signal?.aborted) stop = true;
        } else {
          // Access denied or anything else mid-run: keep what was found, say why in the report.
          error = describeAwsError(err, 'reading traces from X-Ray', 'xray:BatchGetTraces').message;
          stop = true;
        }
      }
    }
    consecutiveThrottles = throttledThisRound ? consecutiveThrottles + 1 : 0;
    const remainingMs = Math.max(0, opts.deadline - opts.clock.now());
    const complete = expected.size - pending.size;
    const partial = [...pending].filter((id) => findings.has(id)).length;
    opts.onProgress?.({ complete, partial, total: expected.size, remainingMs, throttled });
    if (pending.size === 0 || remainingMs <= 0 || opts.signal?.aborted) break;
    if (!stop) await opts.clock.sleep(Math.min(remainingMs, backoffMs(intervalMs, consecutiveThrottles)));
  }
  return { findings, throttled, ...(error ? { error } : {}) };
}
