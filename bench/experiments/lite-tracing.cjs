'use strict';
// An experiment, not the service: (b)'s SDK set-up (the same provider, X-Ray ID generator, propagators, batch
// processor sizes and OTLP gRPC exporter, loaded from app/node_modules) without @opentelemetry/instrumentation-http.
// The server span is opened by a wrapper around each http.Server 'request' listener instead, which is what the
// service's server.ts could do itself. Run in place of `--import ./dist/instrumentation.js`, from app/.
const http = require('node:http');
const path = require('node:path');
const { createRequire } = require('node:module');

const appRequire = createRequire(path.join(process.cwd(), 'package.json'));
const api = appRequire('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = appRequire('@opentelemetry/context-async-hooks');
const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } = appRequire('@opentelemetry/core');
const { OTLPTraceExporter } = appRequire('@opentelemetry/exporter-trace-otlp-grpc');
const { AWSXRayIdGenerator } = appRequire('@opentelemetry/id-generator-aws-xray');
const { AWSXRayPropagator } = appRequire('@opentelemetry/propagator-aws-xray');
const { defaultResource, resourceFromAttributes } = appRequire('@opentelemetry/resources');
const { AlwaysOnSampler, BatchSpanProcessor, TracerProvider } = appRequire('@opentelemetry/sdk-trace');

api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.propagation.setGlobalPropagator(
  new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new AWSXRayPropagator()],
  }),
);
// The service's settings as of app commit 53e30de: queue 16,384, batch 512, delay 200 ms, AlwaysOn, values cut
// at 512 characters, export concurrency covering a full queue.
const maxQueueSize = 16_384;
const maxExportBatchSize = 512;
const provider = new TracerProvider({
  resource: defaultResource().merge(resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME })),
  idGenerator: new AWSXRayIdGenerator(),
  sampler: new AlwaysOnSampler(),
  spanLimits: { attributeValueLengthLimit: 512 },
  spanProcessors: [
    new BatchSpanProcessor({
      exporter: new OTLPTraceExporter({
        url: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
        concurrencyLimit: Math.max(30, Math.ceil(maxQueueSize / maxExportBatchSize) + 1),
      }),
      maxQueueSize,
      maxExportBatchSize,
      scheduledDelayMillis: 200,
    }),
  ],
});
api.trace.setGlobalTracerProvider(provider);
const tracer = api.trace.getTracer('bench-lite-http');

function traced(listener) {
  return function tracedRequest(req, res) {
    const query = req.url.indexOf('?');
    const urlPath = query === -1 ? req.url : req.url.slice(0, query);
    if (urlPath === '/healthz') return listener.call(this, req, res);
    const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: api.SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          'url.path': urlPath,
          'url.scheme': 'http',
          'network.protocol.version': req.httpVersion,
          'user_agent.original': req.headers['user-agent'],
        },
      },
      parent,
    );
    const ctx = api.trace.setSpan(parent, span);
    // Ended on 'close', which follows 'finish': the app's own 'finish' listener (the access log) still names the
    // span after the route. Ending it on 'finish' first costs ~40 µs a request in the SDK's "operation on ended
    // Span" diagnostics, and loses the route.
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (!res.writableFinished) span.setStatus({ code: api.SpanStatusCode.ERROR, message: 'client went away' });
      else if (res.statusCode >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
      span.end();
    });
    // The access log's 'finish' listener logs in the request's context, as under the http instrumentation.
    api.context.bind(ctx, res);
    // Not context.with(ctx, listener, this, …): it calls listener.bind(this), and an Express app's `bind` is the
    // route method for HTTP BIND.
    return api.context.with(ctx, () => listener.call(this, req, res));
  };
}

const on = http.Server.prototype.on;
http.Server.prototype.on = function onTraced(event, listener) {
  return on.call(this, event, event === 'request' ? traced(listener) : listener);
};
