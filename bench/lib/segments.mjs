// Span accounting at the X-Ray stand-in: what the real collector's awsxray exporter delivered, summarized in the
// shape of the OTLP sink's summary (lib/otlp.mjs), so that the harness counts missing server spans the same way for
// both. Node builtins only: it runs in the stand-in's process (lib/task-sidecar.mjs) and in the tests.
//
// One document per span: the exporter (exporter/awsxrayexporter@v0.143.0, awsxray.go extractResourceSpans) turns each
// span into the documents translator.MakeSegmentDocuments returns, and that is one document unless the span carries
// aws.span.kind=LOCAL_ROOT (internal/translator/segment.go MakeSegmentsFromSpan), which the service never sets. A span
// the translator refuses is skipped with a debug log only, so a missing document is the only trace of it. SERVER (and
// CONSUMER) spans, and spans without a parent, become segments; every other span a document with "type":
// "subsegment" and its parent's ID (segment.go MakeSegment), sent as a document of its own, not embedded.

/** The request path of a segment: the path of its `http.request.url`, else the second word of its name. */
export function segmentPath(document) {
  const url = document.http?.request?.url;
  if (typeof url === 'string') {
    try {
      return new URL(url, 'http://segment').pathname;
    } catch {
      return url.split('?')[0];
    }
  }
  return String(document.name ?? '').split(' ')[1] ?? '';
}

const isSubsegment = (document) => document.type === 'subsegment';

/**
 * Counts the segment documents one stretch of a run delivered: all of them (`spans`), the segments (the server
 * spans) by request path, every document by name, and what would show a span lost on the way: subsegments whose
 * parent never arrived (`orphans`) and traces with fewer documents than most traces of the same request path
 * (`incompleteByPath`).
 * Only GET / has a fixed shape (the server span and its `about` step): POST /orders traces vary (measured: a few
 * dozen a cell with fewer documents, about as many as the connections the load generator cuts at a phase's end),
 * so the harness holds only GET / to it. `documentsByPath` counts every document of the traces whose first segment
 * is on that path.
 */
export function summarizeSegments(documents) {
  const summary = {
    spans: documents.length,
    serverSpans: 0,
    serverByPath: {},
    byName: {},
    documentsByPath: {},
    orphans: 0,
    incompleteByPath: {},
  };
  const ids = new Set(documents.map((d) => d.id));
  const traces = new Map();
  for (const document of documents) {
    summary.byName[document.name] = (summary.byName[document.name] ?? 0) + 1;
    if (isSubsegment(document)) {
      if (!ids.has(document.parent_id)) summary.orphans += 1;
    } else {
      summary.serverSpans += 1;
      const path = segmentPath(document);
      summary.serverByPath[path] = (summary.serverByPath[path] ?? 0) + 1;
    }
    const trace = traces.get(document.trace_id) ?? { documents: 0, root: undefined };
    trace.documents += 1;
    // The trace's entry: its segment without a parent, or failing that (its root lost) its first segment.
    const better = trace.root === undefined || (trace.root.parent_id !== undefined && document.parent_id === undefined);
    if (!isSubsegment(document) && better) trace.root = document;
    traces.set(document.trace_id, trace);
  }
  const countsByPath = {};
  for (const trace of traces.values()) {
    const path = trace.root ? segmentPath(trace.root) : '(no segment)';
    summary.documentsByPath[path] = (summary.documentsByPath[path] ?? 0) + trace.documents;
    (countsByPath[path] ??= []).push(trace.documents);
  }
  for (const [path, counts] of Object.entries(countsByPath)) {
    const usual = mostCommon(counts);
    summary.incompleteByPath[path] = counts.filter((count) => count < usual).length;
  }
  return summary;
}

/** The most common value (the larger one on a tie). */
function mostCommon(values) {
  const tally = new Map();
  for (const value of values) tally.set(value, (tally.get(value) ?? 0) + 1);
  let best;
  for (const [value, count] of tally) {
    if (best === undefined || count > tally.get(best) || (count === tally.get(best) && value > best)) best = value;
  }
  return best;
}

/**
 * The collector's own complaints about the traces pipeline among its log lines (JSON, as the task's configuration
 * asks): every line at warn level or worse from the receiver, a processor or the exporter, which is where the
 * exporter says it failed or dropped data and the memory_limiter that it refused data. Not the extensions' lines,
 * nor lines that are not JSON: the awsproxy's reverse proxy logs through Go's standard logger (no ErrorLog set,
 * internal/aws/proxy@v0.143.0 server.go), e.g. `http: proxy error: context canceled` when the service stops during a
 * sampling call; neither carries spans. A collector that crashes loses its spans, and they show as missing segments.
 */
export function collectorComplaints(lines) {
  const complaints = [];
  for (const line of lines) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    const fromExtension = String(entry['otelcol.component.kind'] ?? '').toLowerCase() === 'extension';
    if (['warn', 'error', 'dpanic', 'panic', 'fatal'].includes(entry.level) && !fromExtension) {
      complaints.push(line.slice(0, 300));
    }
  }
  return complaints;
}
