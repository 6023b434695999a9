// A real OTLP gRPC trace receiver in its own process. While load runs it only keeps the raw request bytes (cheap);
// the parent asks for a summary over IPC afterwards, and only then are the exports decoded.
import grpc from '@grpc/grpc-js';
import { summarize } from './otlp.mjs';

const identity = (value) => value;
const EMPTY_RESPONSE = Buffer.alloc(0); // ExportTraceServiceResponse with no partial_success: zero bytes.
let kept = [];

const server = new grpc.Server({
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
});
server.addService(
  {
    Export: {
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  {
    Export(call, callback) {
      kept.push(call.request);
      callback(null, EMPTY_RESPONSE);
    },
  },
);

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.send({ type: 'ready', port });
});

process.on('message', (message) => {
  if (message.type === 'take') {
    const buffers = kept;
    kept = [];
    process.send({ type: 'summary', id: message.id, summary: summarize(buffers) });
  } else if (message.type === 'stop') {
    server.tryShutdown(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
