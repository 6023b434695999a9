// Runs, for each trace, the CloudWatch Logs Insights query the X-Ray console runs to show a trace's logs:
// `filter @message like "<X-Ray trace ID>"` over the linked log group.
import { GetQueryResultsCommand, StartQueryCommand, type CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { Clock } from './clock';
import { describeAwsError } from './errors';
import { backoffMs, isThrottling } from './retry';

export interface LogLookup {
  readonly xrayTraceId: string;
  /** The 32-hex form, searched only when the X-Ray form finds nothing, to tell "no lines" from "wrong ID format". */
  readonly traceId: string;
}

export interface LogLinesFound {
  /** Lines that hold the X-Ray form (at most QUERY_LIMIT). */
  readonly lines: number;
  /** When `lines` is 0: lines that hold only the 32-hex form, which the console's query does not find. */
  readonly hexOnlyLines?: number;
  /** Why the query could not answer. */
  readonly error?: string;
}

export interface LogsProgress {
  readonly withLines: number;
  readonly total: number;
  readonly remainingMs: number;
}

export interface LogsOptions {
  readonly clock: Clock;
  readonly deadline: number;
  /** Epoch milliseconds: the query window starts 5 minutes before this. */
  readonly since: number;
  /** Pause between rounds of queries for the traces still without lines. @default 10000 */
  readonly intervalMs?: number;
  /** Pause between GetQueryResults calls. @default 1000 */
  readonly resultPollMs?: number;
  /** Queries running at once; Insights allows a few dozen per account. @default 4 */
  readonly concurrency?: number;
  /** How long one query may run, whatever the deadline. @default 60000 */
  readonly queryTimeoutMs?: number;
  readonly onProgress?: (progress: LogsProgress) => void;
}

export const QUERY_LIMIT = 100;
const WINDOW_MARGIN_S = 300;

export function insightsQuery(id: string): string {
  return `fields @timestamp, @message | filter @message like "${id}" | sort @timestamp asc | limit ${QUERY_LIMIT}`;
}

class QueryFailed extends Error {}
class LogGroupMissing extends Error {}

async function runQuery(logs: CloudWatchLogsClient, logGroupName: string, id: string, opts: LogsOptions) {
  const { clock } = opts;
  let queryId: string | undefined;
  try {
    const started = await logs.send(
      new StartQueryCommand({
        logGroupNames: [logGroupName],
        startTime: Math.floor(opts.since / 1000) - WINDOW_MARGIN_S,
        endTime: Math.ceil(clock.now() / 1000) + WINDOW_MARGIN_S,
        queryString: insightsQuery(id),
        limit: QUERY_LIMIT,
      }),
    );
    queryId = started.queryId;
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') {
      throw new LogGroupMissing(`log group ${logGroupName} does not exist`);
    }
    throw err;
  }
  if (!queryId) throw new QueryFailed('StartQuery returned no query ID');
  const giveUpAt = clock.now() + (opts.queryTimeoutMs ?? 60_000);
  for (;;) {
    const res = await logs.send(new GetQueryResultsCommand({ queryId }));
    switch (res.status) {
      case 'Complete':
        return res.results?.length ?? 0;
      case 'Failed':
      case 'Cancelled':
      case 'Timeout':
        throw new QueryFailed(`Logs Insights query ${res.status.toLowerCase()}`);
    }
    if (clock.now() >= giveUpAt) throw new QueryFailed('Logs Insights query did not complete in time');
    await clock.sleep(opts.resultPollMs ?? 1000);
  }
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface LogsResult {
  readonly found: ReadonlyMap<string, LogLinesFound>;
  readonly throttled: number;
}

export async function findLogLines(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  lookups: readonly LogLookup[],
  opts: LogsOptions,
): Promise<LogsResult> {
  const found = new Map<string, LogLinesFound>();
  const pending = new Map(lookups.map((l) => [l.xrayTraceId, l]));
  const concurrency = opts.concurrency ?? 4;
  let throttled = 0;
  let consecutiveThrottles = 0;
  let groupMissing: string | undefined;

  const count = async (id: string): Promise<number | 'throttled'> => {
    try {
      return await runQuery(logs, logGroupName, id, opts);
    } catch (err) {
      if (isThrottling(err)) {
        throttled++;
        return 'throttled';
      }
      if (err instanceof LogGroupMissing) groupMissing = err.message;
      if (err instanceof QueryFailed || err instanceof LogGroupMissing) throw err;
      throw describeAwsError(err, 'querying CloudWatch Logs Insights', 'logs:StartQuery and logs:GetQueryResults');
    }
  };

  const settle = (id: string, result: LogLinesFound) => {
    found.set(id, result);
    pending.delete(id);
  };

  for (;;) {
    let throttledThisRound = false;
    await eachLimited([...pending.values()], concurrency, async ({ xrayTraceId }) => {
      if (groupMissing) return settle(xrayTraceId, { lines: 0, error: groupMissing });
      try {
        const lines = await count(xrayTraceId);
        if (lines === 'throttled') {
          throttledThisRound = true;
          if (!found.has(xrayTraceId)) found.set(xrayTraceId, { lines: 0, error: 'throttled until the deadline' });
        } else if (lines > 0) settle(xrayTraceId, { lines });
        else found.set(xrayTraceId, { lines: 0 });
      } catch (err) {
        if (err instanceof QueryFailed || err instanceof LogGroupMissing)
          settle(xrayTraceId, { lines: 0, error: err.message });
        else throw err;
      }
    });
    consecutiveThrottles = throttledThisRound ? consecutiveThrottles + 1 : 0;
    const remainingMs = Math.max(0, opts.deadline - opts.clock.now());
    const withLines = [...found.values()].filter((f) => f.lines > 0).length;
    opts.onProgress?.({ withLines, total: lookups.length, remainingMs });
    if (pending.size === 0 || remainingMs <= 0) break;
    await opts.clock.sleep(Math.min(remainingMs, backoffMs(opts.intervalMs ?? 10_000, consecutiveThrottles)));
  }

  // Lines that hold only the 32-hex ID are invisible to the console: say so rather than "no lines".
  const stillWithout = lookups.filter(
    (l) => (found.get(l.xrayTraceId)?.lines ?? 0) === 0 && !found.get(l.xrayTraceId)?.error,
  );
  await eachLimited(stillWithout, concurrency, async ({ xrayTraceId, traceId }) => {
    try {
      const hex = await count(traceId);
      found.set(xrayTraceId, { lines: 0, ...(typeof hex === 'number' ? { hexOnlyLines: hex } : {}) });
    } catch (err) {
      if (!(err instanceof QueryFailed)) throw err;
      found.set(xrayTraceId, { lines: 0 });
    }
  });
  return { found, throttled };
}
