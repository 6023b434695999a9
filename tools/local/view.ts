// What `npm run local` prints for each trace: the segment documents as the collector's awsxray exporter sent them to
// X-Ray (PutTraceSegments), as a tree and verbatim, under both forms of the trace ID, with the service's log lines of
// that trace beside them. The exporter writes each span as its own document: the server spans as segments, the others
// as subsegments naming their parent in `parent_id` (pkg/translator/awsxray@v0.143.0, segment.go); a document can
// also carry subsegments of its own in `subsegments`, which are shown under it.

/** One segment or subsegment document, as X-Ray receives it. */
export type SegmentDocument = Record<string, unknown> & {
  readonly id: string;
  readonly trace_id: string;
  readonly name: string;
  readonly start_time: number;
  readonly end_time?: number;
  readonly parent_id?: string;
  readonly type?: string;
};

/** A trace as X-Ray received it: its documents in the order they arrived. */
export interface XRayTrace {
  /** `1-<8 hex>-<24 hex>`, the form X-Ray and the log lines' `xray_trace_id` use. */
  readonly xrayTraceId: string;
  readonly documents: readonly SegmentDocument[];
}

export type LogLine = Record<string, unknown>;

/** `1-6b0d2038-ec2f…` to the 32-hex W3C form the log lines' `trace_id` carries. */
export function w3cTraceId(xrayTraceId: string): string {
  const match = /^1-([0-9a-f]{8})-([0-9a-f]{24})$/.exec(xrayTraceId);
  if (!match) throw new Error(`not an X-Ray trace ID: ${xrayTraceId}`);
  return match[1] + match[2];
}

function isSegmentDocument(value: unknown): value is SegmentDocument {
  const document = value as Partial<SegmentDocument> | null;
  return (
    typeof document === 'object' &&
    document !== null &&
    typeof document.id === 'string' &&
    typeof document.trace_id === 'string' &&
    typeof document.name === 'string' &&
    typeof document.start_time === 'number'
  );
}

/**
 * Collects documents by trace and hands each trace over once no document of it has arrived for `idleMs`: the
 * exporter sends a trace's documents in as many calls as the batches its spans fell into.
 */
export class SegmentGroups {
  private readonly pending = new Map<string, { documents: SegmentDocument[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly idleMs: number,
    private readonly onTrace: (trace: XRayTrace) => void,
  ) {}

  /** Adds documents; one that is not a segment document (no id, trace_id, name, start_time) is an error. */
  add(documents: readonly unknown[]): void {
    for (const document of documents) {
      if (!isSegmentDocument(document)) {
        throw new Error(`not a segment document: ${JSON.stringify(document).slice(0, 200)}`);
      }
      const entry = this.pending.get(document.trace_id);
      if (entry) {
        entry.documents.push(document);
        entry.timer.refresh();
      } else {
        const timer = setTimeout(() => this.emit(document.trace_id), this.idleMs);
        this.pending.set(document.trace_id, { documents: [document], timer });
      }
    }
  }

  /** Hands over every trace still waiting (at exit). */
  flush(): void {
    for (const traceId of [...this.pending.keys()]) this.emit(traceId);
  }

  private emit(xrayTraceId: string): void {
    const entry = this.pending.get(xrayTraceId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(xrayTraceId);
    this.onTrace({ xrayTraceId, documents: entry.documents });
  }
}

const milliseconds = (document: SegmentDocument): string =>
  document.end_time === undefined
    ? 'in progress'
    : `${((document.end_time - document.start_time) * 1000).toFixed(1)} ms`;

/** The few facts of a document worth a glance: kind, HTTP, flags, annotations, the log groups it links to. */
function summary(document: SegmentDocument, depth: number, embedded: boolean): string {
  const parts = [document.name, document.type === 'subsegment' || embedded ? 'subsegment' : 'segment'];
  if (typeof document.namespace === 'string') parts.push(`namespace=${document.namespace}`);
  const http = document.http as { request?: { method?: string }; response?: { status?: number } } | undefined;
  if (http?.request?.method !== undefined || http?.response?.status !== undefined) {
    parts.push(['http', http.request?.method, http.response?.status].filter((p) => p !== undefined).join(' '));
  }
  parts.push(milliseconds(document), `id=${document.id}`);
  for (const flag of ['fault', 'error', 'throttle'] as const) if (document[flag] === true) parts.push(flag);
  const aws = document.aws as { cloudwatch_logs?: { log_group?: string }[]; table_name?: string } | undefined;
  if (typeof aws?.table_name === 'string') parts.push(`table=${aws.table_name}`);
  const logGroups = (aws?.cloudwatch_logs ?? []).map((group) => group.log_group).filter(Boolean);
  if (depth === 0 && logGroups.length > 0) parts.push(`log groups: ${logGroups.join(', ')}`);
  const annotations = Object.entries((document.annotations as Record<string, unknown> | undefined) ?? {});
  if (annotations.length > 0) parts.push(`annotations: ${annotations.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  return parts.join('  ');
}

/**
 * The documents as a tree: each under the document its `parent_id` names, or under the one whose `subsegments` hold
 * it; a document whose parent is not in the trace (the caller's, from a traceparent header) is a root too.
 */
export function segmentTree(documents: readonly SegmentDocument[]): string[] {
  const byId = new Map(documents.map((document) => [document.id, document]));
  const children = new Map<string, SegmentDocument[]>();
  const roots: SegmentDocument[] = [];
  for (const document of documents) {
    if (document.parent_id !== undefined && byId.has(document.parent_id)) {
      children.set(document.parent_id, [...(children.get(document.parent_id) ?? []), document]);
    } else {
      roots.push(document);
    }
  }
  const byStart = (a: SegmentDocument, b: SegmentDocument) => a.start_time - b.start_time;
  const lines: string[] = [];
  const embeddedIn = new Set<SegmentDocument>();
  const walk = (document: SegmentDocument, prefix: string, branch: string, depth: number) => {
    const orphan =
      depth === 0 && document.parent_id !== undefined ? `  parent ${document.parent_id} not in this trace` : '';
    lines.push(`${prefix}${branch}${summary(document, depth, embeddedIn.has(document))}${orphan}`);
    const embedded = ((document.subsegments as unknown[] | undefined) ?? []).filter(isSegmentDocument);
    for (const subsegment of embedded) embeddedIn.add(subsegment);
    const under = [...(children.get(document.id) ?? []), ...embedded].sort(byStart);
    const childPrefix = prefix + (branch === '' ? '' : branch === '└─ ' ? '   ' : '│  ');
    under.forEach((child, i) => walk(child, childPrefix, i === under.length - 1 ? '└─ ' : '├─ ', depth + 1));
  };
  for (const root of [...roots].sort(byStart)) walk(root, '', '', 0);
  return lines;
}

/** The whole block for one trace: the IDs, the tree, the service's log lines of the trace, the documents verbatim. */
export function renderTrace(trace: XRayTrace, logLines: readonly LogLine[]): string {
  const traceId = w3cTraceId(trace.xrayTraceId);
  const ofTrace = logLines.filter((line) => line.trace_id === traceId);
  return [
    `trace ${trace.xrayTraceId}  (W3C ${traceId})  ${trace.documents.length} segment documents`,
    ...segmentTree(trace.documents).map((line) => `  ${line}`),
    `  log lines with trace_id=${traceId} xray_trace_id=${trace.xrayTraceId}: ${ofTrace.length}`,
    ...ofTrace.map((line) => `    ${JSON.stringify(line)}`),
    '  segment documents, as PutTraceSegments sent them:',
    ...trace.documents.map((document) => `    ${JSON.stringify(document)}`),
    '',
  ].join('\n');
}
