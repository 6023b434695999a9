'use strict';
// The reference for the service's own server span (test/server-span.test.ts): a plain Node HTTP server traced by
// @opentelemetry/instrumentation-http 0.301 (stable HTTP semantic conventions, its only mode) and exporting over
// OTLP gRPC to OTEL_EXPORTER_OTLP_ENDPOINT, as the service does. It knows nothing of the service's routes: each
// request says which route a framework would report (x-expect-route, handed to the instrumentation through
// @opentelemetry/core's RPC metadata, as Express instrumentation does) and which status to answer (x-expect-status),
// so that both servers answer the same requests the same way. Prints {"port": N} once listening.
const api = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { getRPCMetadata, W3CTraceContextPropagator } = require('@opentelemetry/core');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');

api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const provider = new TracerProvider({
  spanProcessors: [
    new BatchSpanProcessor({
      exporter: new OTLPTraceExporter({ url: process.env.OTEL_EXPORTER_OTLP_ENDPOINT }),
      scheduledDelayMillis: 50,
    }),
  ],
});
api.trace.setGlobalTracerProvider(provider);
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [new HttpInstrumentation({ disableOutgoingRequestInstrumentation: true })],
});

// Required after the instrumentation is registered, so that it is patched.
const http = require('node:http');

const server = http.createServer((req, res) => {
  const route = req.headers['x-expect-route'];
  if (typeof route === 'string') {
    const metadata = getRPCMetadata(api.context.active());
    if (metadata) metadata.route = route;
  }
  req.resume();
  req.on('end', () => {
    res.statusCode = Number(req.headers['x-expect-status'] ?? 200);
    res.end();
  });
});
server.listen(0, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));

process.once('SIGTERM', () => {
  server.close();
  provider.shutdown().then(() => process.exit(0));
});
