// Judges each trace and renders the table, then names the most likely cause once per kind of gap.
import type { LogLinesFound, LogsResult } from './logs';
import type { Target } from './stack';
import type { ExpectedSpan, SentRequest } from './traffic';
import {
  linkStatus,
  missingSpans,
  normalizeLogGroupArn,
  wildcardArns,
  type LogGroupLink,
  type TraceFindings,
  type XRayPollResult,
} from './xray';

export type GapKind =
  | 'request-failed'
  | 'not-continued'
  | 'not-sampled'
  | 'trace-missing'
  | 'spans-missing'
  | 'link-missing'
  | 'link-wildcard'
  | 'lines-missing'
  | 'not-read-back';

export const VERDICT_LABELS: Record<GapKind, string> = {
  'request-failed': 'REQUEST FAILED',
  'not-continued': 'NOT CONTINUED',
  'not-sampled': 'NOT SAMPLED',
  'trace-missing': 'NO TRACE',
  'spans-missing': 'MISSING SPANS',
  'link-missing': 'NO LOG LINK',
  'link-wildcard': 'LINK ARN :*',
  'lines-missing': 'NO LOG LINES',
  'not-read-back': 'NOT READ BACK',
};

export interface TraceRow {
  /** The trace the service recorded the request under (its `traceresponse`), looked up in X-Ray and the logs. */
  readonly xrayTraceId: string;
  /** The trace the verifier sent; another ID above is a propagation gap. */
  readonly sentXrayTraceId: string;
  /** From `traceresponse`; undefined when the service sent none. */
  readonly sampled?: boolean;
  /** Requests sent until the service sampled one (a task may take a minute to fetch the run's rule). */
  readonly attempts: number;
  /** Linked ARNs ending in `:*`. */
  readonly wildcardArns: readonly string[];
  readonly route: string;
  readonly http: string;
  readonly traceFound: boolean;
  readonly spansFound: number;
  readonly spansExpected: number;
  readonly missingSpans: readonly string[];
  /** Undefined when there is no trace to carry a link. */
  readonly linked?: boolean;
  /** See LinkStatus: named without the stack's ARN (a gap), or, with no ARN known, without any ARN (a warning). */
  readonly linkedByNameOnly: boolean;
  /** Log groups the segments name instead of ours. */
  readonly linkedElsewhere: readonly string[];
  readonly logs: LogLinesFound;
  readonly gaps: readonly GapKind[];
  readonly consoleUrl: string;
  /** For a read of an order: the order's ID, and whether the answer was 200 with that order. */
  readonly readBack?: { readonly orderId: string; readonly sameOrder: boolean };
  /** Tables the trace's DynamoDB subsegments name, when the expected one is missing. */
  readonly otherTables?: readonly string[];
}

/**
 * The trace's page in the CloudWatch console: from the stack's XRayTracesConsoleUrl output when known (it is in the
 * stack's partition), else built for the region's partition.
 */
export function consoleUrl(region: string, xrayTraceId: string, tracesConsoleUrl?: string): string {
  if (tracesConsoleUrl?.includes('#xray:traces/query')) {
    return tracesConsoleUrl.replace('#xray:traces/query', `#xray:traces/${xrayTraceId}`);
  }
  const host = region.startsWith('cn-')
    ? 'console.amazonaws.cn'
    : region.startsWith('us-gov-')
      ? 'console.amazonaws-us-gov.com'
      : `${region}.console.aws.amazon.com`;
  return `https://${host}/cloudwatch/home?region=${region}#xray:traces/${xrayTraceId}`;
}

/** The links that name another log group: by another ARN when ours is known, else by another name. */
function elsewhere(links: readonly LogGroupLink[], target: Target): string[] {
  const other = links.flatMap((l) => {
    if (target.logGroupArn !== undefined && l.arn !== undefined) {
      return normalizeLogGroupArn(l.arn) === normalizeLogGroupArn(target.logGroupArn) ? [] : [l.arn];
    }
    return linkStatus([l], target.logGroupName).linked ? [] : [l.logGroup ?? l.arn ?? ''];
  });
  return [...new Set(other.filter((g) => g !== ''))];
}

export function assess(
  sent: readonly SentRequest[],
  xray: XRayPollResult,
  logs: LogsResult,
  target: Target,
  region: string,
): TraceRow[] {
  return sent.map((request) => {
    const { context, route, status, error } = request;
    const findings = xray.findings.get(request.xrayTraceId);
    const missing = missingSpans(findings, route.expectedSpans);
    const links = findings?.logGroupLinks ?? [];
    const link = findings ? linkStatus(links, target.logGroupName, target.logGroupArn) : undefined;
    const linked = link?.linked;
    const wildcards = wildcardArns(links);
    const found = logs.found.get(request.xrayTraceId) ?? { lines: 0, error: 'not queried' };
    const sampled = request.traceResponse?.sampled;
    const gaps: GapKind[] = [];
    const { readBack } = request;
    // A read of an order that was answered, but not with that order, is its own finding; no answer is a failed request.
    if (readBack && status !== undefined && !readBack.sameOrder) gaps.push('not-read-back');
    else if (error) gaps.push('request-failed');
    if (status !== undefined) {
      if (request.traceId !== context.traceId) gaps.push('not-continued');
      if (sampled === false && !findings) gaps.push('not-sampled');
      else {
        if (!findings) gaps.push('trace-missing');
        else if (missing.length > 0) gaps.push('spans-missing');
        if (findings && !linked) gaps.push('link-missing');
        if (findings && linked && wildcards.length > 0) gaps.push('link-wildcard');
      }
      if (found.lines === 0) gaps.push('lines-missing');
    }
    return {
      xrayTraceId: request.xrayTraceId,
      sentXrayTraceId: context.xrayTraceId,
      ...(sampled !== undefined ? { sampled } : {}),
      attempts: request.attempts,
      wildcardArns: wildcards,
      route: route.name,
      http: status === undefined ? 'none' : String(status),
      traceFound: findings !== undefined,
      spansFound: route.expectedSpans.length - missing.length,
      spansExpected: route.expectedSpans.length,
      missingSpans: missing,
      ...(linked !== undefined ? { linked } : {}),
      linkedByNameOnly: link?.byNameOnly ?? false,
      linkedElsewhere: elsewhere(links, target),
      logs: found,
      gaps,
      consoleUrl: consoleUrl(region, request.xrayTraceId, target.tracesConsoleUrl),
      ...(readBack ? { readBack } : {}),
      ...(otherTablesOf(findings, route.expectedSpans) ?? {}),
    };
  });
}

/** The tables a trace's DynamoDB subsegments name, when one of its expected DynamoDB calls is not among them. */
function otherTablesOf(
  findings: TraceFindings | undefined,
  expected: readonly ExpectedSpan[],
): { otherTables: string[] } | undefined {
  const wanted = expected.filter((e) => e.aws).map((e) => e.aws?.tableName);
  const seen = [
    ...new Set((findings?.awsCalls ?? []).map((c) => c.tableName).filter((t): t is string => t !== undefined)),
  ];
  const others = seen.filter((t) => !wanted.includes(t));
  return wanted.length > 0 && others.length > 0 ? { otherTables: others } : undefined;
}

function causeOf(kind: GapKind, rows: readonly TraceRow[], ctx: ReportContext): string {
  const { target } = ctx;
  const group = target.logGroupName;
  const affected = rows.filter((r) => r.gaps.includes(kind));
  switch (kind) {
    case 'request-failed': {
      const seen = [...new Set(affected.map((r) => `${r.route} -> ${r.http}`))].join(', ');
      return `The service did not answer as its contract says (${seen}): see the ECS service's events and the service's lines in ${group}.`;
    }
    case 'not-continued': {
      const example = affected[0];
      return (
        `A propagation gap: the service did not continue the trace context it was sent (traceparent and X-Amzn-Trace-Id) ` +
        `but answered under another trace (its traceresponse, or POST /orders' xrayTraceId): sent ${example.sentXrayTraceId}, ` +
        `got ${example.xrayTraceId}. At its public listener it must keep a caller's trace ID. The verifier looked ` +
        "each trace up under the service's ID."
      );
    }
    case 'not-sampled': {
      const rule = ctx.temporaryRuleName ? `the run's temporary rule ${ctx.temporaryRuleName}` : 'a sampling rule';
      return (
        `The service answered these requests as not sampled (traceresponse flags 00) although ${rule} matches them, ` +
        'so X-Ray has no trace for them. Has every task fetched the rule yet (the sampler polls every 60 s)? Does the ' +
        "service's sampler read X-Ray's rules through the collector (OTEL_TRACES_SAMPLER=xray, the collector's " +
        'awsproxy on 127.0.0.1:2000, xray:GetSamplingRules and xray:GetSamplingTargets on the task role), and does ' +
        'it record user_agent.original when the span starts?'
      );
    }
    case 'trace-missing': {
      const parts = [
        'The collector or IAM: no segment reached X-Ray. Is the ADOT collector sidecar running and healthy, and does the ' +
          'service export OTLP to it? Does the task role allow xray:PutTraceSegments and xray:PutTelemetryRecords? ' +
          "The collector's own log stream says which.",
      ];
      if (affected.some((r) => r.gaps.includes('not-continued'))) {
        parts.push('Or the propagation gap above: the service recorded these requests under traces of its own.');
      }
      if (ctx.clock?.idsFrom === 'local') {
        parts.push(
          "Or this machine's clock: the trace IDs carry its time (the service sent no Date header to take it from), " +
            'and a collector that validates trace ID timestamps drops an ID more than 5 minutes ahead of its own clock.',
        );
      }
      if (ctx.segmentDestinationUnknown) {
        parts.push(
          `Could not check whether CloudWatch Transaction Search is on (${ctx.segmentDestinationUnknown}): ` +
            'with it on, BatchGetTraces finds no trace at all.',
        );
      }
      if (ctx.xrayError) parts.push(`Reading X-Ray: ${ctx.xrayError}.`);
      return parts.join(' ');
    }
    case 'spans-missing': {
      const missing = [...new Set(affected.flatMap((r) => r.missingSpans))];
      const parts = [
        `The trace arrived without span(s) ${missing.join(', ')}: the service does not create them, or their batch was not exported before the deadline (try a longer --timeout).`,
      ];
      if (missing.some((name) => name.startsWith('DynamoDB.'))) {
        const table = target.ordersTableName ?? 'the orders table';
        const others = [...new Set(affected.flatMap((r) => r.otherTables ?? []))];
        parts.push(
          `DynamoDB.* is an AWS SDK call, which X-Ray shows as a subsegment named DynamoDB in namespace aws with ` +
            `aws.table_name ${table}. ` +
            (others.length > 0
              ? `The traces show DynamoDB calls on ${others.join(', ')} instead: the task's ORDERS_TABLE_NAME names another table.`
              : "None is there: either the service's SDK calls are not instrumented (instrumentation-aws-sdk must patch " +
                'the SDK modules the shipped bundle loads), or the service keeps orders in memory (its first log line ' +
                'names the store; the task definition must give it ORDERS_TABLE_NAME).'),
        );
      }
      return parts.join(' ');
    }
    case 'link-missing': {
      const elsewhere = [...new Set(affected.flatMap((r) => r.linkedElsewhere))];
      const instead = elsewhere.length ? ` (they name ${elsewhere.join(', ')} instead)` : '';
      if (target.logGroupArn !== undefined) {
        const byName = affected.filter((r) => r.linkedByNameOnly).length;
        const nameOnly =
          byName > 0
            ? ` ${byName} of these name ${group} only by name or by another ARN: the console looks the group up by its ARN.`
            : '';
        return (
          `The resource attributes: the segments carry no aws.cloudwatch_logs entry with the ARN ${target.logGroupArn}` +
          `${instead}.${nameOnly} Set aws.log.group.arns to that ARN (and aws.log.group.names to ${group}) on the ` +
          "service's resource, e.g. in OTEL_RESOURCE_ATTRIBUTES: the ECS detector fills them only for the awslogs " +
          'driver, not FireLens; and keep cloud.provider at aws.'
        );
      }
      return (
        `The resource attributes: the segments carry no aws.cloudwatch_logs naming ${group}${instead}. Set ` +
        "aws.log.group.arns (or aws.log.group.names) on the service's resource, e.g. in OTEL_RESOURCE_ATTRIBUTES: the " +
        'ECS detector fills them only for the awslogs driver, not FireLens; and keep cloud.provider at aws.'
      );
    }
    case 'link-wildcard': {
      const arns = [...new Set(affected.flatMap((r) => r.wildcardArns))];
      return (
        `The resource attribute aws.log.group.arns ends in ":*" (${arns.join(', ')}), as CloudFormation's Arn ` +
        "attribute of a log group does: CloudWatch Logs' StartQuery refuses * in logGroupIdentifiers, so the console " +
        `cannot query the group for the trace's lines. Set it without the suffix: ${arns.map(normalizeLogGroupArn).join(', ')}.`
      );
    }
    case 'not-read-back': {
      const answers = new Map<string, number>();
      for (const r of affected) {
        const answer = r.http === '200' ? '200 with another order' : `HTTP ${r.http}`;
        answers.set(answer, (answers.get(answer) ?? 0) + 1);
      }
      const seen = [...answers].map(([answer, n]) => `${answer} x${n}`).join(', ');
      const reads = rows.filter((r) => r.readBack !== undefined);
      const someRead = reads.some((r) => r.readBack?.sameOrder);
      const parts = [
        `GET /orders/:id, from a separate request, did not answer 200 with the order POST /orders created (${seen}).`,
      ];
      if (affected.some((r) => r.http === '404')) {
        parts.push(
          someRead
            ? 'Some reads found the order and others did not: the tasks keep orders apart, each in its own memory. Does ' +
                "the task definition give the service ORDERS_TABLE_NAME (the service's first log line names its store)?"
            : 'No read found it: the service stores orders somewhere the reads do not look, or in memory with every read ' +
                'served by another task than the write; its first log line names the store.',
        );
      }
      if (affected.some((r) => r.http === '503')) {
        parts.push(
          "503 is the service's store_unavailable: DynamoDB throttled, timed out, or has no such table (its warn line " +
            "names the SDK's error; the dashboard's orders table row shows throttles and errors).",
        );
      }
      if (affected.some((r) => r.http === '500')) {
        parts.push(
          'A 500 is an SDK error the service treats as a misconfiguration, such as AccessDeniedException (its error ' +
            "line names it): the task role's dynamodb:GetItem on the table, or the gateway endpoint's policy.",
        );
      }
      return parts.join(' ');
    }
    case 'lines-missing': {
      const hexOnly = affected.filter((r) => (r.logs.hexOnlyLines ?? 0) > 0).length;
      const errors = [...new Set(affected.map((r) => r.logs.error).filter((e): e is string => e !== undefined))];
      const parts = [
        `The log router or the ID format in the lines: Logs Insights finds no line holding the X-Ray trace ID in ${group}. ` +
          "Is FireLens (Fluent Bit) delivering the service's lines there, and does each line carry the X-Ray form " +
          '1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy (AWS-XRAY-TRACE-ID)?',
      ];
      if (hexOnly > 0) {
        parts.push(
          `${hexOnly} of these trace(s) do have lines, holding only the 32-hex trace_id: the ID format, not the router; ` +
            'the console searches for the X-Ray form.',
        );
      }
      if (errors.length) parts.push(`Queries failed: ${errors.join('; ')}.`);
      else if (ctx.logsError) parts.push(`A query round failed: ${ctx.logsError}.`);
      return parts.join(' ');
    }
  }
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function linesCell(logs: LogLinesFound): string {
  if (logs.lines > 0) return String(logs.lines);
  if (logs.error) return '0 (query failed)';
  if ((logs.hexOnlyLines ?? 0) > 0) return `0 (${logs.hexOnlyLines} hex-only)`;
  return '0';
}

export interface ReportContext {
  readonly target: Target;
  readonly region: string;
  /** The sampling rules in force for the run, one line each, shown above the table. */
  readonly samplingLines?: readonly string[];
  /** The run's temporary rule, named in the NOT SAMPLED cause. */
  readonly temporaryRuleName?: string;
  /** Where the trace IDs' time came from; this machine's clock minus the service's, when known. */
  readonly clock?: { readonly idsFrom: 'service' | 'local'; readonly skewMs?: number };
  /** Where the traces were read: X-Ray, or CloudWatch Transaction Search's retrieval API. */
  readonly traceSource?: 'xray' | 'transaction-search';
  readonly xrayThrottled: number;
  readonly logsThrottled: number;
  /** Why X-Ray polling stopped early or kept failing. */
  readonly xrayError?: string;
  /** The last failed Logs Insights round. */
  readonly logsError?: string;
  /** Why GetTraceSegmentDestination could not say whether Transaction Search is on. */
  readonly segmentDestinationUnknown?: string;
}

const GAP_ORDER: readonly GapKind[] = [
  'request-failed',
  'not-continued',
  'not-sampled',
  'trace-missing',
  'spans-missing',
  'link-missing',
  'link-wildcard',
  'lines-missing',
  'not-read-back',
];

/** Clock skew worth a note: X-Ray's trace ID timestamp check allows 5 minutes ahead. */
const SKEW_NOTE_MS = 5 * 60_000;

export function renderReport(rows: readonly TraceRow[], ctx: ReportContext): string {
  const body = rows.map((r) => [
    r.xrayTraceId,
    r.route,
    r.http,
    r.traceFound ? `${r.spansFound}/${r.spansExpected}` : '-',
    r.linked === undefined ? '-' : r.linked ? (r.wildcardArns.length > 0 ? 'yes, :*' : 'yes') : 'no',
    linesCell(r.logs),
    r.gaps.length ? r.gaps.map((g) => VERDICT_LABELS[g]).join(', ') : 'OK',
    r.consoleUrl,
  ]);
  const out = [
    ...(ctx.samplingLines ?? []),
    ...(ctx.traceSource === 'transaction-search'
      ? ['Traces read from CloudWatch Transaction Search (StartTraceRetrieval, ListRetrievedTraces in X-Ray format).']
      : []),
    ...(ctx.samplingLines?.length || ctx.traceSource === 'transaction-search' ? [''] : []),
    table(['TRACE ID', 'ROUTE', 'HTTP', 'SPANS', 'LOG LINK', 'LOG LINES', 'VERDICT', 'CONSOLE'], body),
    '',
  ];
  const failed = rows.filter((r) => r.gaps.length > 0).length;
  if (failed === 0) {
    const how = ctx.target.logGroupArn !== undefined ? `by its ARN ${ctx.target.logGroupArn}` : 'by name';
    out.push(
      `All ${rows.length} traces verified: in X-Ray with their spans, linked to ${ctx.target.logGroupName} ${how}, with their log lines.`,
    );
    const reads = rows.filter((r) => r.readBack !== undefined);
    if (reads.length > 0) {
      const orders = new Set(reads.map((r) => r.readBack?.orderId)).size;
      out.push(
        `Every order read back: ${orders} created, each read ${reads.length / orders} times from separate requests, ` +
          `in the DynamoDB table ${ctx.target.ordersTableName ?? 'of the stack'}.`,
      );
    }
  } else {
    out.push(`${failed} of ${rows.length} traces have gaps. Most likely causes:`);
    for (const kind of GAP_ORDER) {
      const n = rows.filter((r) => r.gaps.includes(kind)).length;
      if (n > 0) out.push(`- ${VERDICT_LABELS[kind]} (${n}): ${causeOf(kind, rows, ctx)}`);
    }
    const throttled = ctx.xrayThrottled + ctx.logsThrottled;
    if (throttled > 0) {
      out.push(`Note: ${throttled} AWS call(s) stayed throttled after retries; a longer --timeout may help.`);
    }
  }
  const skew = ctx.clock?.skewMs;
  if (skew !== undefined && Math.abs(skew) > SKEW_NOTE_MS) {
    out.push(
      `Note: this machine's clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the ` +
        "service's (its Date header); the trace IDs were made from the service's time.",
    );
  }
  const nameOnly = rows.filter((r) => r.linked === true && r.linkedByNameOnly).length;
  if (nameOnly > 0) {
    out.push(
      `Warning: ${nameOnly} trace(s) link ${ctx.target.logGroupName} by name only, with no ARN: the console may show ` +
        "no logs for them. Set aws.log.group.arns on the service's resource too.",
    );
  }
  return out.join('\n');
}
