// A real OTLP/gRPC trace receiver: a @grpc/grpc-js server on the collector's Export method that decodes
// ExportTraceServiceRequest with protobufjs from the schema below (field numbers from open-telemetry/opentelemetry-proto,
// opentelemetry/proto/trace/v1/trace.proto and common/resource protos). The service's tests run it, and so does
// `npm run traces` (tools/traces/cli.ts), the local trace view.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package otlp;
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Status { string message = 2; int32 code = 3; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated Event events = 11; Status status = 15; fixed32 flags = 16;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTraceServiceResponse { }
`;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const Request = root.lookupType('otlp.ExportTraceServiceRequest');
const Response = root.lookupType('otlp.ExportTraceServiceResponse');

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
export const STATUS_CODE = { UNSET: 0, OK: 1, ERROR: 2 } as const;

type Attributes = Record<string, unknown>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  /** Nanoseconds since the Unix epoch, as exported. */
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  status: { code: number; message: string };
  events: { name: string; attributes: Attributes }[];
  resource: Attributes;
}

interface RawKeyValue {
  key: string;
  value?: RawAnyValue;
}
interface RawAnyValue {
  string_value?: string;
  bool_value?: boolean;
  int_value?: string;
  double_value?: number;
  array_value?: { values?: RawAnyValue[] };
}

function anyValue(value: RawAnyValue | undefined): unknown {
  if (value === undefined) return undefined;
  if (value.string_value !== undefined) return value.string_value;
  if (value.bool_value !== undefined) return value.bool_value;
  if (value.int_value !== undefined) return Number(value.int_value);
  if (value.double_value !== undefined) return value.double_value;
  if (value.array_value !== undefined) return (value.array_value.values ?? []).map(anyValue);
  return undefined;
}

function attributes(list: RawKeyValue[] | undefined): Attributes {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}

const hex = (bytes: Buffer | undefined): string => (bytes ? Buffer.from(bytes).toString('hex') : '');

/** Decodes one export request into flat spans, each with its resource's attributes. */
export function decodeExport(buffer: Buffer): ReceivedSpan[] {
  const message = Request.toObject(Request.decode(buffer), { longs: String, defaults: false }) as {
    resource_spans?: {
      resource?: { attributes?: RawKeyValue[] };
      scope_spans?: {
        spans?: {
          trace_id?: Buffer;
          span_id?: Buffer;
          parent_span_id?: Buffer;
          name?: string;
          kind?: number;
          start_time_unix_nano?: string;
          end_time_unix_nano?: string;
          attributes?: RawKeyValue[];
          status?: { code?: number; message?: string };
          events?: { name?: string; attributes?: RawKeyValue[] }[];
        }[];
      }[];
    }[];
  };
  const spans: ReceivedSpan[] = [];
  for (const rs of message.resource_spans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scope_spans ?? []) {
      for (const span of ss.spans ?? []) {
        spans.push({
          traceId: hex(span.trace_id),
          spanId: hex(span.span_id),
          parentSpanId: hex(span.parent_span_id),
          name: span.name ?? '',
          kind: span.kind ?? 0,
          startTimeUnixNano: BigInt(span.start_time_unix_nano ?? 0),
          endTimeUnixNano: BigInt(span.end_time_unix_nano ?? 0),
          attributes: attributes(span.attributes),
          status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
          events: (span.events ?? []).map((e) => ({ name: e.name ?? '', attributes: attributes(e.attributes) })),
          resource,
        });
      }
    }
  }
  return spans;
}

/** 'slow' answers each export after 300 ms, so that spans pile up in the service's queue. */
export type ReceiverMode = 'accept' | 'hang' | 'slow';

export interface ReceiverOptions {
  /** The address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Called with the spans of each export as it arrives. */
  readonly onSpans?: (spans: ReceivedSpan[]) => void;
  /** Keep every span in `spans` (tests read them); a long-running viewer passes false. @default true */
  readonly keep?: boolean;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  exports = 0;
  /** Spans in each export request, in arrival order. */
  readonly batchSizes: number[] = [];
  private readonly hanging: (() => void)[] = [];

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** @param mode 'hang' accepts connections and calls but never answers (a stuck collector). */
  static async start(port = 0, mode: ReceiverMode = 'accept', options: ReceiverOptions = {}): Promise<OtlpReceiver> {
    const server = new grpc.Server();
    const holder: { receiver?: OtlpReceiver } = {};
    server.addService(
      {
        Export: {
          path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
          requestStream: false,
          responseStream: false,
          requestSerialize: (value: Buffer) => value,
          requestDeserialize: (buffer: Buffer) => buffer,
          responseSerialize: (value: Buffer) => value,
          responseDeserialize: (buffer: Buffer) => buffer,
          originalName: 'export',
        },
      },
      {
        Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          if (mode === 'hang') {
            holder.receiver?.hanging.push(() => callback(null, Buffer.alloc(0)));
            return;
          }
          const receiver = holder.receiver!;
          const answer = () => {
            receiver.exports += 1;
            const spans = decodeExport(call.request);
            receiver.batchSizes.push(spans.length);
            if (options.keep ?? true) receiver.spans.push(...spans);
            options.onSpans?.(spans);
            callback(null, Buffer.from(Response.encode(Response.create({})).finish()));
          };
          if (mode === 'slow') setTimeout(answer, 300);
          else answer();
        },
      },
    );
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        `${options.host ?? '127.0.0.1'}:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (error, actual) => (error ? reject(error) : resolve(actual)),
      );
    });
    holder.receiver = new OtlpReceiver(server, bound);
    return holder.receiver;
  }

  /** Resolves with the spans once `predicate` holds, polling; rejects after `timeoutMs`. */
  async waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs = 15_000): Promise<ReceivedSpan[]> {
    const until = Date.now() + timeoutMs;
    while (!predicate(this.spans)) {
      if (Date.now() > until) throw new Error(`spans not received in ${timeoutMs} ms (have ${this.spans.length})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return this.spans;
  }

  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  stop(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }
}
