// Polls X-Ray until each trace has arrived with its expected spans, or the deadline passes: with BatchGetTraces where
// X-Ray indexes the segments, and with StartTraceRetrieval / ListRetrievedTraces (in X-Ray's format) where CloudWatch
// Transaction Search keeps them in the aws/spans log group instead. Both give the same documents to the analysis.
import {
  CancelTraceRetrievalCommand,
  GetTraceSegmentDestinationCommand,
  ListRetrievedTracesCommand,
  StartTraceRetrievalCommand,
  paginateBatchGetTraces,
  type Trace,
  type XRayClient,
} from '@aws-sdk/client-xray';
import type { Clock } from './clock';
import { describeAwsError, oneLine } from './errors';
import { backoffMs, isNoAnswer, isThrottling } from './retry';
import type { ExpectedSpan } from './traffic';

/** One entry of a segment's `aws.cloudwatch_logs`, as the ADOT awsxray exporter writes it. */
export interface LogGroupLink {
  readonly logGroup?: string;
  readonly arn?: string;
}

/** A subsegment in namespace `aws`: an AWS SDK call, as the awsxray exporter writes it (aws.go, segment.go). */
export interface AwsCall {
  /** The service, e.g. `DynamoDB` (from `rpc.service`). */
  readonly name: string;
  /** `aws.operation`, e.g. `PutItem` (from `rpc.method`). */
  readonly operation?: string;
  /** `aws.table_name` (from a single-entry `aws.dynamodb.table_names`). */
  readonly tableName?: string;
}

export interface TraceFindings {
  readonly segmentCount: number;
  /** Names of every segment and subsegment (X-Ray's names, see ExpectedSpan). */
  readonly spanNames: ReadonlySet<string>;
  readonly logGroupLinks: readonly LogGroupLink[];
  /** The subsegments in namespace `aws`. @default none */
  readonly awsCalls?: readonly AwsCall[];
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

/** Where the account keeps trace segments (GetTraceSegmentDestination). */
export type TraceSource = 'xray' | 'transaction-search';

export interface XRayPollOptions {
  /** How to read the traces. @default 'xray' (BatchGetTraces) */
  readonly source?: TraceSource;
  /** Epoch milliseconds of the first request: Transaction Search retrievals cover from 5 minutes before it. */
  readonly since?: number;
  /** The service's clock minus this machine's: the retrieval window is moved by it. @default 0 */
  readonly serviceOffsetMs?: number;
  /** Pause between ListRetrievedTraces calls while a retrieval runs. @default 1000 */
  readonly retrievalPollMs?: number;
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
  namespace?: unknown;
  subsegments?: unknown;
  aws?: { cloudwatch_logs?: unknown; operation?: unknown; table_name?: unknown };
}

function walk(doc: SegmentDocument, names: Set<string>, links: LogGroupLink[], calls: AwsCall[] = []): void {
  if (typeof doc.name === 'string') names.add(doc.name);
  if (doc.namespace === 'aws' && typeof doc.name === 'string') {
    const { operation, table_name: tableName } = doc.aws ?? {};
    calls.push({
      name: doc.name,
      ...(typeof operation === 'string' ? { operation } : {}),
      ...(typeof tableName === 'string' ? { tableName } : {}),
    });
  }
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
    for (const sub of doc.subsegments as SegmentDocument[]) walk(sub, names, links, calls);
  }
}

export function analyseTrace(trace: Trace): TraceFindings {
  const names = new Set<string>();
  const links: LogGroupLink[] = [];
  const calls: AwsCall[] = [];
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
    walk(doc, names, links, calls);
  }
  return { segmentCount, spanNames: names, logGroupLinks: links, awsCalls: calls };
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

/**
 * The linked ARNs that end in `:*`, as CloudFormation's `Arn` attribute of a log group does: CloudWatch Logs'
 * StartQuery refuses `*` in `logGroupIdentifiers`, so the console cannot query such a group for the trace's lines.
 */
export function wildcardArns(links: readonly LogGroupLink[]): string[] {
  return [...new Set(links.map((l) => l.arn).filter((arn): arn is string => arn !== undefined && arn.endsWith(':*')))];
}

/** Whether X-Ray shows the expected span: by name, and an AWS SDK call also by namespace, operation and table. */
function shows(findings: TraceFindings | undefined, expected: ExpectedSpan): boolean {
  if (!findings?.spanNames.has(expected.xrayName)) return false;
  const { aws } = expected;
  return (
    aws === undefined ||
    (findings.awsCalls ?? []).some(
      (c) => c.name === expected.xrayName && c.operation === aws.operation && c.tableName === aws.tableName,
    )
  );
}

/** The span names (as the service names them) X-Ray does not show for this trace. */
export function missingSpans(findings: TraceFindings | undefined, expected: readonly ExpectedSpan[]): string[] {
  return expected.filter((e) => !shows(findings, e)).map((e) => e.span);
}

/**
 * Where the account sends trace segments: `XRay`, or `CloudWatchLogs` when CloudWatch Transaction Search is on (then
 * BatchGetTraces finds nothing: "You cannot find traces through this API if Transaction Search is enabled since trace
 * is not indexed in X-Ray", X-Ray API reference). Unknown, with the reason, when the identity may not ask, the call
 * fails, or a change of destination is still PENDING: the run goes on with BatchGetTraces and says so.
 */
export async function traceSegmentDestination(
  xray: XRayClient,
  signal?: AbortSignal,
): Promise<{ destination?: 'XRay' | 'CloudWatchLogs'; unknown?: string }> {
  try {
    const res = await xray.send(new GetTraceSegmentDestinationCommand({}), signal ? { abortSignal: signal } : {});
    const destination = res.Destination ?? 'XRay';
    if (res.Status === 'PENDING') {
      return { unknown: `a change of the trace segment destination to ${destination} is still pending` };
    }
    return { destination };
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error';
    if (name === 'AccessDenied' || name === 'AccessDeniedException') {
      return { unknown: `${name}; allow xray:GetTraceSegmentDestination to have it checked` };
    }
    if (isThrottling(err)) return { unknown: `${name}: throttled` };
    return { unknown: `GetTraceSegmentDestination failed: ${oneLine(err)}` };
  }
}

/** One Trace per ID: a trace whose segments come split across pages (or batches) is merged, not overwritten. */
export function mergeTraces(traces: readonly Trace[]): Trace[] {
  const byId = new Map<string, Trace>();
  for (const trace of traces) {
    if (!trace.Id) continue;
    const seen = byId.get(trace.Id);
    byId.set(
      trace.Id,
      seen ? { ...seen, Segments: [...(seen.Segments ?? []), ...(trace.Segments ?? [])] } : { ...trace },
    );
  }
  return [...byId.values()];
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
  return mergeTraces(traces);
}

/** StartTraceRetrieval takes at most 100 trace IDs (X-Ray API reference), as many as a run can make. */
const RETRIEVAL_BATCH_SIZE = 100;
const RETRIEVAL_WINDOW_MARGIN_MS = 5 * 60_000;

/**
 * Transaction Search: one retrieval for `ids` over the run's window, its results in X-Ray's format (each span's
 * Document is a segment document). A retrieval still running when `giveUpAt` passes is cancelled.
 */
async function fetchRetrievedTraces(
  xray: XRayClient,
  ids: string[],
  opts: XRayPollOptions,
  giveUpAt: number,
): Promise<Trace[]> {
  const send = opts.signal ? { abortSignal: opts.signal } : {};
  const offset = opts.serviceOffsetMs ?? 0;
  const since = (opts.since ?? opts.clock.now()) + offset;
  const { RetrievalToken } = await xray.send(
    new StartTraceRetrievalCommand({
      TraceIds: ids,
      StartTime: new Date(since - RETRIEVAL_WINDOW_MARGIN_MS),
      EndTime: new Date(opts.clock.now() + offset + RETRIEVAL_WINDOW_MARGIN_MS),
    }),
    send,
  );
  if (!RetrievalToken) return [];
  const traces: Trace[] = [];
  let nextToken: string | undefined;
  for (;;) {
    const page = await xray.send(
      new ListRetrievedTracesCommand({
        RetrievalToken,
        TraceFormat: 'XRAY',
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
      send,
    );
    const status = page.RetrievalStatus;
    if (status === 'COMPLETE') {
      for (const t of page.Traces ?? []) {
        traces.push({
          Id: t.Id,
          Duration: t.Duration,
          Segments: (t.Spans ?? []).map((sp) => ({ Id: sp.Id, Document: sp.Document })),
        });
      }
      nextToken = page.NextToken;
      if (!nextToken) return mergeTraces(traces);
      continue;
    }
    if (status === 'FAILED' || status === 'CANCELLED' || status === 'TIMEOUT') {
      throw Object.assign(new Error(`Transaction Search retrieval ${status.toLowerCase()}`), {
        name: 'RetrievalEnded',
      });
    }
    if (opts.clock.now() >= giveUpAt || opts.signal?.aborted) {
      await xray.send(new CancelTraceRetrievalCommand({ RetrievalToken }), send).catch(() => undefined);
      throw Object.assign(new Error('Transaction Search retrieval still running at the deadline, cancelled'), {
        name: 'RetrievalEnded',
      });
    }
    await opts.clock.sleep(Math.min(opts.retrievalPollMs ?? 1000, Math.max(0, giveUpAt - opts.clock.now())));
  }
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

  const transactionSearch = opts.source === 'transaction-search';
  const retrievalErrors = new Set<string>();
  const batchSize = transactionSearch ? RETRIEVAL_BATCH_SIZE : BATCH_SIZE;
  const permission = transactionSearch
    ? 'xray:StartTraceRetrieval and xray:ListRetrievedTraces'
    : 'xray:BatchGetTraces';
  while (!stop) {
    let throttledThisRound = false;
    const ids = [...pending];
    for (let i = 0; i < ids.length && !stop; i += batchSize) {
      try {
        const batch = ids.slice(i, i + batchSize);
        const traces = transactionSearch
          ? await fetchRetrievedTraces(xray, batch, opts, opts.deadline)
          : await fetchTraces(xray, batch, opts.signal);
        for (const trace of traces) {
          if (!trace.Id || !expected.has(trace.Id)) continue;
          const found = analyseTrace(trace);
          findings.set(trace.Id, found);
          if (missingSpans(found, expected.get(trace.Id) ?? []).length === 0) pending.delete(trace.Id);
        }
      } catch (err) {
        if (isThrottling(err)) {
          throttled++;
          throttledThisRound = true;
        } else if ((err as { name?: string }).name === 'RetrievalEnded') {
          // A retrieval that failed or ran out of time: the next round starts a new one.
          retrievalErrors.add((err as Error).message);
          error = [...retrievalErrors].join('; ');
        } else if (isNoAnswer(err)) {
          // A request timeout after the SDK's attempts: try again next round. The run's abort: stop.
          error = 'X-Ray did not answer in time';
          if (opts.signal?.aborted) stop = true;
        } else {
          // Access denied or anything else mid-run: keep what was found, say why in the report.
          error = describeAwsError(err, 'reading traces from X-Ray', permission).message;
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
