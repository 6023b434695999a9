// Finds each trace's log lines with CloudWatch Logs Insights: one query per round for every trace still without
// lines, matching the exact X-Ray IDs as substrings of @message, the test the X-Ray console's
// `filter @message like "<X-Ray trace ID>"` makes. The same query also matches the 32-hex form, to tell a router
// that delivers nothing from lines that lack the X-Ray form.
import {
  GetQueryResultsCommand,
  StartQueryCommand,
  StopQueryCommand,
  type CloudWatchLogsClient,
  type ResultField,
} from '@aws-sdk/client-cloudwatch-logs';
import type { Clock } from './clock';
import { VerifyError, describeAwsError } from './errors';
import { backoffMs, isNoAnswer, isThrottling } from './retry';

export interface LogLookup {
  readonly xrayTraceId: string;
  /** The 32-hex form: lines holding only it are invisible to the console, and reported as such. */
  readonly traceId: string;
}

export interface LogLinesFound {
  /** Lines that hold the X-Ray form. */
  readonly lines: number;
  /** When `lines` is 0: lines that hold only the 32-hex form, which the console's query does not find. */
  readonly hexOnlyLines?: number;
  /** Why no query could answer for this trace. */
  readonly error?: string;
}

export interface LogsProgress {
  readonly withLines: number;
  readonly total: number;
  readonly remainingMs: number;
}

export interface LogsOptions {
  readonly clock: Clock;
  /** No query starts after it, and a running one is given up (and stopped) when it passes. */
  readonly deadline: number;
  /** Aborts a call in flight when the run's hard stop passes. */
  readonly signal?: AbortSignal;
  /** Epoch milliseconds: the query window starts 5 minutes before this. */
  readonly since: number;
  /** The service's clock minus this machine's: the window is moved by it, to the times the lines carry. @default 0 */
  readonly serviceOffsetMs?: number;
  /** Pause between rounds. @default 10000 */
  readonly intervalMs?: number;
  /** Pause between GetQueryResults calls. @default 1000 */
  readonly resultPollMs?: number;
  /** How long one query may run, when the deadline is further away. @default 60000 */
  readonly queryTimeoutMs?: number;
  readonly onProgress?: (progress: LogsProgress) => void;
}

export interface LogsResult {
  readonly found: ReadonlyMap<string, LogLinesFound>;
  /** Calls still throttled after the SDK's own retries. */
  readonly throttled: number;
  /** The last failure of a round (a query failed or given up, access denied), for the report. */
  readonly error?: string;
}

/** Rows one query may return (StartQuery's `limit` maximum); a few lines per trace, at most 100 traces. */
export const QUERY_LIMIT = 10_000;
/** StartQuery's `queryString` takes at most 100,000 characters (CloudWatch Logs API reference). */
export const QUERY_STRING_MAX_CHARS = 100_000;
/** Logs Insights runs at most 100 queries at once per account; more are refused with LimitExceededException. */
export const CONCURRENT_QUERIES_PER_ACCOUNT = 100;
const WINDOW_MARGIN_S = 300;
const PERMISSIONS = 'logs:StartQuery, logs:GetQueryResults and logs:StopQuery on the log group';

/** One query for all `lookups`: a row per line holding one of their IDs, with the X-Ray form or the 32-hex form. */
export function insightsQuery(lookups: readonly LogLookup[]): string {
  const xrayIds = lookups.map((l) => l.xrayTraceId).join('|');
  const hexIds = lookups.map((l) => l.traceId).join('|');
  const query = [
    `parse @message /(?<xid>${xrayIds})/`,
    `parse @message /(?<hex>${hexIds})/`,
    'filter ispresent(xid) or ispresent(hex)',
    'display xid, hex',
  ].join(' | ');
  if (query.length > QUERY_STRING_MAX_CHARS) {
    throw new Error(`a query for ${lookups.length} traces has ${query.length} characters; StartQuery takes 100,000`);
  }
  return query;
}

function queryWindow(opts: LogsOptions): { startTime: number; endTime: number } {
  return {
    startTime: Math.floor((opts.since + (opts.serviceOffsetMs ?? 0)) / 1000) - WINDOW_MARGIN_S,
    endTime: Math.ceil((opts.clock.now() + (opts.serviceOffsetMs ?? 0)) / 1000) + WINDOW_MARGIN_S,
  };
}

const sendOptions = (signal?: AbortSignal) => (signal ? { abortSignal: signal } : {});

function isNotFound(err: unknown): boolean {
  return (err as { name?: string }).name === 'ResourceNotFoundException';
}

/**
 * Before any traffic: one tiny query, stopped at once, so that a missing log group or a missing Logs permission
 * ends the run in its first second rather than after the whole wait. Throttling proves access, so it passes.
 */
export async function probeLogGroup(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  clock: Clock,
  signal?: AbortSignal,
): Promise<void> {
  const now = Math.floor(clock.now() / 1000);
  let queryId: string | undefined;
  try {
    ({ queryId } = await logs.send(
      new StartQueryCommand({
        logGroupNames: [logGroupName],
        startTime: now - 60,
        endTime: now,
        queryString: 'fields @timestamp',
        limit: 1,
      }),
      sendOptions(signal),
    ));
  } catch (err) {
    if (isThrottling(err)) return;
    if (isNotFound(err)) {
      const region = await logs.config.region().catch(() => 'this region');
      throw new VerifyError(
        `Log group ${logGroupName} not found in ${region}. Deploy the stack, or pass --log-group or --region.`,
      );
    }
    throw describeAwsError(err, `querying log group ${logGroupName}`, PERMISSIONS);
  }
  if (queryId) await stopQuery(logs, queryId, signal);
}

async function stopQuery(logs: CloudWatchLogsClient, queryId: string, signal?: AbortSignal): Promise<void> {
  // Frees one of the account's CONCURRENT_QUERIES_PER_ACCOUNT slots; a query that already ended makes this fail,
  // harmlessly.
  try {
    await logs.send(new StopQueryCommand({ queryId }), sendOptions(signal));
  } catch {
    // nothing to do
  }
}

type RoundOutcome =
  | { readonly rows: readonly (readonly ResultField[])[] }
  | { readonly throttled: true }
  | { readonly error: string; readonly final: boolean };

async function runRound(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  lookups: readonly LogLookup[],
  opts: LogsOptions,
): Promise<RoundOutcome> {
  const { clock, signal } = opts;
  try {
    const { queryId } = await logs.send(
      new StartQueryCommand({
        logGroupNames: [logGroupName],
        ...queryWindow(opts),
        queryString: insightsQuery(lookups),
        limit: QUERY_LIMIT,
      }),
      sendOptions(signal),
    );
    if (!queryId) return { error: 'StartQuery returned no query ID', final: false };
    const giveUpAt = Math.min(clock.now() + (opts.queryTimeoutMs ?? 60_000), opts.deadline);
    for (;;) {
      const res = await logs.send(new GetQueryResultsCommand({ queryId }), sendOptions(signal));
      switch (res.status) {
        case 'Complete':
          return { rows: res.results ?? [] };
        case 'Failed':
        case 'Cancelled':
        case 'Timeout':
          return { error: `Logs Insights query ${res.status.toLowerCase()}`, final: false };
      }
      if (clock.now() >= giveUpAt || signal?.aborted) {
        await stopQuery(logs, queryId, signal);
        return {
          error: `Logs Insights query still ${(res.status ?? 'unknown').toLowerCase()} at the deadline, stopped`,
          final: false,
        };
      }
      await clock.sleep(Math.min(opts.resultPollMs ?? 1000, giveUpAt - clock.now()));
    }
  } catch (err) {
    if (isThrottling(err)) return { throttled: true };
    if (isNoAnswer(err)) return { error: 'CloudWatch Logs did not answer in time', final: Boolean(signal?.aborted) };
    if (isNotFound(err)) return { error: `log group ${logGroupName} does not exist`, final: true };
    return { error: describeAwsError(err, 'querying CloudWatch Logs Insights', PERMISSIONS).message, final: true };
  }
}

/** Lines per trace in one round's rows: those holding the X-Ray form, and those holding only the 32-hex form. */
function countRows(rows: readonly (readonly ResultField[])[], lookups: readonly LogLookup[]) {
  const byHex = new Map(lookups.map((l) => [l.traceId, l.xrayTraceId]));
  const lines = new Map<string, number>();
  const hexOnly = new Map<string, number>();
  for (const row of rows) {
    const field = (name: string) => row.find((f) => f.field === name)?.value;
    const xid = field('xid');
    const hex = field('hex');
    if (xid) lines.set(xid, (lines.get(xid) ?? 0) + 1);
    else if (hex && byHex.has(hex)) {
      const id = byHex.get(hex) as string;
      hexOnly.set(id, (hexOnly.get(id) ?? 0) + 1);
    }
  }
  return { lines, hexOnly };
}

export async function findLogLines(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  lookups: readonly LogLookup[],
  opts: LogsOptions,
): Promise<LogsResult> {
  const { clock } = opts;
  const found = new Map<string, LogLinesFound>();
  let pending = [...lookups];
  let throttled = 0;
  let consecutiveThrottles = 0;
  let error: string | undefined;

  while (pending.length > 0 && clock.now() < opts.deadline && !opts.signal?.aborted) {
    const outcome = await runRound(logs, logGroupName, pending, opts);
    consecutiveThrottles = 'throttled' in outcome ? consecutiveThrottles + 1 : 0;
    if ('throttled' in outcome) throttled++;
    if ('rows' in outcome) {
      const { lines, hexOnly } = countRows(outcome.rows, pending);
      for (const { xrayTraceId } of pending) {
        const n = lines.get(xrayTraceId) ?? 0;
        const hex = hexOnly.get(xrayTraceId) ?? 0;
        found.set(xrayTraceId, n > 0 ? { lines: n } : { lines: 0, ...(hex > 0 ? { hexOnlyLines: hex } : {}) });
      }
      pending = pending.filter((l) => (found.get(l.xrayTraceId)?.lines ?? 0) === 0);
    }
    if ('error' in outcome) error = outcome.error;
    const remainingMs = Math.max(0, opts.deadline - clock.now());
    const withLines = [...found.values()].filter((f) => f.lines > 0).length;
    opts.onProgress?.({ withLines, total: lookups.length, remainingMs });
    if ('error' in outcome && outcome.final) break;
    if (pending.length === 0 || remainingMs <= 0) break;
    await clock.sleep(Math.min(remainingMs, backoffMs(opts.intervalMs ?? 10_000, consecutiveThrottles)));
  }

  // A trace no completed round answered for carries the reason, so its row says "query failed", not "0 lines".
  const unanswered = error ?? (throttled > 0 ? 'throttled until the deadline' : 'no query ran before the deadline');
  for (const { xrayTraceId } of lookups) {
    if (!found.has(xrayTraceId)) found.set(xrayTraceId, { lines: 0, error: unanswered });
  }
  return { found, throttled, ...(error ? { error } : {}) };
}
