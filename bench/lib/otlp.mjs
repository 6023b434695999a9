// Decodes OTLP ExportTraceServiceRequest bytes with protobufjs from a small inline schema (field numbers from
// open-telemetry/opentelemetry-proto, opentelemetry/proto/trace/v1/trace.proto; no package ships the .proto files).
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  repeated KeyValue attributes = 9;
}
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    bytes bytes_value = 7;
  }
}
`;

const ExportTraceServiceRequest = protobuf.parse(SCHEMA).root.lookupType('otlp.ExportTraceServiceRequest');
export const SPAN_KIND_SERVER = 2;

function attribute(attributes, ...keys) {
  for (const key of keys) {
    const found = attributes.find((a) => a.key === key);
    if (found?.value) return found.value.stringValue ?? found.value.intValue?.toString();
  }
  return undefined;
}

/** The request path a server span stands for, whichever semantic conventions its instrumentation follows. */
function serverPath(span) {
  const raw = attribute(span.attributes, 'url.path', 'http.target', 'http.route') ?? span.name.split(' ')[1] ?? '';
  return raw.split('?')[0];
}

/** Counts spans in a list of raw export requests: by kind, by name, and server spans by request path. */
export function summarize(buffers) {
  const summary = { exports: buffers.length, bytes: 0, spans: 0, serverSpans: 0, serverByPath: {}, byName: {} };
  const services = new Set();
  for (const buffer of buffers) {
    summary.bytes += buffer.length;
    const request = ExportTraceServiceRequest.decode(buffer);
    for (const resourceSpans of request.resourceSpans) {
      const service = attribute(resourceSpans.resource?.attributes ?? [], 'service.name');
      if (service) services.add(service);
      for (const scopeSpans of resourceSpans.scopeSpans) {
        for (const span of scopeSpans.spans) {
          summary.spans += 1;
          summary.byName[span.name] = (summary.byName[span.name] ?? 0) + 1;
          if (span.kind === SPAN_KIND_SERVER) {
            summary.serverSpans += 1;
            const path = serverPath(span);
            summary.serverByPath[path] = (summary.serverByPath[path] ?? 0) + 1;
          }
        }
      }
    }
  }
  summary.services = [...services];
  return summary;
}
