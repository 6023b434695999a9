// The local trace view's logic: spans grouped into traces, a trace printed once no span of it has arrived for a
// while, as an indented tree or as one JSON object, each with the IDs the service's log lines carry (the W3C
// trace_id and span_id, the X-Ray form xray_trace_id and AWS-XRAY-TRACE-ID), so a trace leads to its lines.
import { SPAN_KIND, STATUS_CODE, type ReceivedSpan } from './receiver';

export interface Trace {
  readonly traceId: string;
  readonly spans: ReceivedSpan[];
}

const KIND_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(SPAN_KIND).map(([name, value]) => [value, name]),
);
const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(STATUS_CODE).map(([name, value]) => [value, name]),
);

/**
 * Attributes the tree leaves out unless asked (`--all-attributes`): connection details that are the same on every
 * request locally. The JSON form always has every attribute.
 */
const ROUTINE_ATTRIBUTES = new Set([
  'url.scheme',
  'server.port',
  'client.address',
  'client.port',
  'network.peer.address',
  'network.peer.port',
  'network.protocol.name',
  'network.protocol.version',
  'user_agent.original',
]);

/** The X-Ray form of a W3C trace ID: `1-` + the first 8 hex digits (the start time) + `-` + the other 24. */
export function xrayTraceId(traceId: string): string {
  return `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
}

/**
 * Groups spans by trace and hands a trace over once `idleMs` has passed without a new span of it: the service
 * exports in batches (every 200 ms by default), so one trace's spans can arrive in more than one export.
 */
export class TraceCollector {
  private readonly pending = new Map<string, { spans: ReceivedSpan[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly idleMs: number,
    private readonly onTrace: (trace: Trace) => void,
  ) {}

  add(spans: readonly ReceivedSpan[]): void {
    for (const span of spans) {
      const entry = this.pending.get(span.traceId);
      if (entry) {
        entry.spans.push(span);
        entry.timer.refresh();
      } else {
        const timer = setTimeout(() => this.emit(span.traceId), this.idleMs);
        this.pending.set(span.traceId, { spans: [span], timer });
      }
    }
  }

  /** Hands over every trace still waiting (at exit). */
  flush(): void {
    for (const traceId of [...this.pending.keys()]) this.emit(traceId);
  }

  private emit(traceId: string): void {
    const entry = this.pending.get(traceId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(traceId);
    this.onTrace({ traceId, spans: entry.spans });
  }
}

interface Node {
  span: ReceivedSpan;
  depth: number;
  /** Whether the span's parent is named but was never received (a caller's span from a `traceparent` header). */
  orphan: boolean;
  last: boolean[];
}

/** The spans in tree order (depth first, siblings by start time), each with its depth. */
function walk(trace: Trace): Node[] {
  const byStart = [...trace.spans].sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano));
  const ids = new Set(byStart.map((s) => s.spanId));
  const children = new Map<string, ReceivedSpan[]>();
  const roots: ReceivedSpan[] = [];
  for (const span of byStart) {
    if (span.parentSpanId && ids.has(span.parentSpanId)) {
      children.set(span.parentSpanId, [...(children.get(span.parentSpanId) ?? []), span]);
    } else {
      roots.push(span);
    }
  }
  const nodes: Node[] = [];
  const visit = (span: ReceivedSpan, depth: number, last: boolean[]) => {
    nodes.push({ span, depth, orphan: depth === 0 && span.parentSpanId !== '', last });
    const kids = children.get(span.spanId) ?? [];
    kids.forEach((kid, i) => visit(kid, depth + 1, [...last, i === kids.length - 1]));
  };
  for (const root of roots) visit(root, 0, []);
  return nodes;
}

const durationMs = (span: ReceivedSpan): number => Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6;

function traceDurationMs(trace: Trace): number {
  const start = trace.spans.reduce((min, s) => (s.startTimeUnixNano < min ? s.startTimeUnixNano : min), 2n ** 64n);
  const end = trace.spans.reduce((max, s) => (s.endTimeUnixNano > max ? s.endTimeUnixNano : max), 0n);
  return Number(end - start) / 1e6;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
const formatMs = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const formatValue = (value: unknown): string =>
  typeof value === 'string' && !/[\s"]/.test(value) && value !== '' ? value : JSON.stringify(value);

function resourceOf(trace: Trace): Record<string, unknown> {
  return trace.spans.find((s) => s.parentSpanId === '')?.resource ?? trace.spans[0]?.resource ?? {};
}

function logGroups(resource: Record<string, unknown>): string[] {
  const names = resource['aws.log.group.names'];
  return Array.isArray(names) ? names.map(String) : typeof names === 'string' ? names.split('&') : [];
}

/** The trace as an indented tree, ending with a newline. */
export function renderTree(trace: Trace, options: { allAttributes?: boolean } = {}): string {
  const resource = resourceOf(trace);
  const name = resource['service.name'];
  const service = typeof name === 'string' ? name : 'unknown service';
  const groups = logGroups(resource);
  const lines = [
    `trace ${trace.traceId}  X-Ray ${xrayTraceId(trace.traceId)}  ${service}  ` +
      `${trace.spans.length} span${trace.spans.length === 1 ? '' : 's'}  ${formatMs(traceDurationMs(trace))}`,
    `  log lines: trace_id=${trace.traceId} xray_trace_id=${xrayTraceId(trace.traceId)}` +
      (groups.length > 0 ? ` (log group ${groups.join(', ')})` : ''),
  ];
  for (const { span, depth, orphan, last } of walk(trace)) {
    const indent = last
      .slice(0, -1)
      .map((isLast) => (isLast ? '   ' : '│  '))
      .join('');
    const branch = depth === 0 ? '' : last[last.length - 1] ? '└─ ' : '├─ ';
    const status =
      span.status.code === STATUS_CODE.ERROR
        ? `ERROR${span.status.message ? ` ${JSON.stringify(span.status.message)}` : ''}`
        : (STATUS_NAMES[span.status.code] ?? String(span.status.code));
    const attributes = Object.entries(span.attributes)
      .filter(([key]) => options.allAttributes || !ROUTINE_ATTRIBUTES.has(key))
      .map(([key, value]) => `${key}=${formatValue(value)}`);
    const exceptions = span.events
      .filter((e) => e.name === 'exception')
      .map((e) => `exception=${formatValue(e.attributes['exception.message'] ?? e.attributes['exception.type'])}`);
    const parent = orphan ? [`parent=${span.parentSpanId} (not received)`] : [];
    lines.push(
      `  ${indent}${branch}` +
        [
          span.name,
          KIND_NAMES[span.kind] ?? `KIND_${span.kind}`,
          formatMs(durationMs(span)),
          status,
          `span_id=${span.spanId}`,
          ...parent,
          ...attributes,
          ...exceptions,
        ].join('  '),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The trace as one JSON object: spans in tree order, each with its depth and every attribute. */
export function toJson(trace: Trace): Record<string, unknown> {
  const resource = resourceOf(trace);
  return {
    trace_id: trace.traceId,
    xray_trace_id: xrayTraceId(trace.traceId),
    service: resource['service.name'],
    log_groups: logGroups(resource),
    duration_ms: round(traceDurationMs(trace)),
    span_count: trace.spans.length,
    spans: walk(trace).map(({ span, depth }) => ({
      span_id: span.spanId,
      parent_span_id: span.parentSpanId || undefined,
      depth,
      name: span.name,
      kind: KIND_NAMES[span.kind] ?? span.kind,
      start_time: new Date(Number(span.startTimeUnixNano / 1_000_000n)).toISOString(),
      duration_ms: round(durationMs(span)),
      status: { code: STATUS_NAMES[span.status.code] ?? span.status.code, message: span.status.message || undefined },
      'AWS-XRAY-TRACE-ID': `${xrayTraceId(trace.traceId)}@${span.spanId}`,
      attributes: span.attributes,
      events: span.events.length > 0 ? span.events : undefined,
    })),
    resource,
  };
}
