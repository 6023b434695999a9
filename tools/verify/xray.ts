// Polls X-Ray until each trace has arrived with its expected spans, or the deadline passes.
import { BatchGetTracesCommand, type Trace, type XRayClient } from '@aws-sdk/client-xray';
import type { Clock } from './clock';
import { describeAwsError } from './errors';
import { backoffMs, isThrottling } from './retry';

/** One entry of a segment's `aws.cloudwatch_logs`, as the ADOT awsxray exporter writes it. */
export interface LogGroupLink {
  readonly logGroup?: string;
  readonly arn?: string;
}

export interface TraceFindings {
  readonly segmentCount: number;
  /** Names of every segment and subsegment: span names become subsegment names. */
  readonly spanNames: ReadonlySet<string>;
  readonly logGroupLinks: readonly LogGroupLink[];
}

export interface WantedTrace {
  readonly xrayTraceId: string;
  readonly expectedSpans: readonly string[];
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
  /** @default 5000 */
  readonly intervalMs?: number;
  readonly onProgress?: (progress: XRayProgress) => void;
}

export interface XRayPollResult {
  /** Only the traces X-Ray returned; a missing key means the trace never arrived. */
  readonly findings: ReadonlyMap<string, TraceFindings>;
  /** Calls still throttled after the SDK's own retries. */
  readonly throttled: number;
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

export function linksTo(links: readonly LogGroupLink[], logGroupName: string): boolean {
  return links.some((l) => l.logGroup === logGroupName || (l.arn && logGroupNameFromArn(l.arn) === logGroupName));
}

export function missingSpans(findings: TraceFindings | undefined, expected: readonly string[]): string[] {
  return expected.filter((name) => !findings?.spanNames.has(name));
}

async function fetchTraces(xray: XRayClient, ids: string[]): Promise<Trace[]> {
  const traces: Trace[] = [];
  let nextToken: string | undefined;
  do {
    const res = await xray.send(
      new BatchGetTracesCommand({ TraceIds: ids, ...(nextToken ? { NextToken: nextToken } : {}) }),
    );
    traces.push(...(res.Traces ?? []));
    nextToken = res.NextToken;
  } while (nextToken);
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

  for (;;) {
    let throttledThisRound = false;
    const ids = [...pending];
    for (let i = 0; i < ids.length; i += BATCH_SIZE) {
      try {
        for (const trace of await fetchTraces(xray, ids.slice(i, i + BATCH_SIZE))) {
          if (!trace.Id || !expected.has(trace.Id)) continue;
          const found = analyseTrace(trace);
          findings.set(trace.Id, found);
          if (missingSpans(found, expected.get(trace.Id) ?? []).length === 0) pending.delete(trace.Id);
        }
      } catch (err) {
        if (!isThrottling(err)) throw describeAwsError(err, 'reading traces from X-Ray', 'xray:BatchGetTraces');
        throttled++;
        throttledThisRound = true;
      }
    }
    consecutiveThrottles = throttledThisRound ? consecutiveThrottles + 1 : 0;
    const remainingMs = Math.max(0, opts.deadline - opts.clock.now());
    const complete = expected.size - pending.size;
    const partial = [...pending].filter((id) => findings.has(id)).length;
    opts.onProgress?.({ complete, partial, total: expected.size, remainingMs, throttled });
    if (pending.size === 0) break;
    if (remainingMs <= 0) break;
    await opts.clock.sleep(Math.min(remainingMs, backoffMs(intervalMs, consecutiveThrottles)));
  }
  return { findings, throttled };
}
