// The OpenTelemetry SDK for traces only, started with NodeSDK and given every component, so that nothing comes from
// the environment by accident: no metric readers and no log record processors (NodeSDK would otherwise build OTLP
// exporters for both from OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER, whose default is `otlp`), no instrumentations
// given to NodeSDK (the server span is the service's own: http-server.ts; the AWS SDK's CLIENT spans come from
// instrumentation-aws-sdk applied to the bundled modules, aws-sdk.ts), the ECS + environment resource and nothing detected
// besides, W3C trace context and X-Ray propagation (no baggage: nothing here reads it, and a caller could send 8 KB
// of it to be forwarded), X-Ray trace IDs, the sampler from OTEL_TRACES_SAMPLER, span limits, and one batch processor
// in front of the lazily loaded OTLP gRPC exporter. Required by instrumentation.ts only when tracing is on.
import { trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AWSXRayPropagator } from '@opentelemetry/propagator-aws-xray';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { clip } from '../logger';
import { TRACER_NAME } from '../step';
import { instrumentBundledAwsSdk } from './aws-sdk';
import { installDiagnostics } from './diagnostics';
import { createOtlpExporter, exportErrorDetail, OutageReportingExporter } from './exporter';
import { traceRequests, type Edge, type RequestListener } from './http-server';
import { XRayIdGenerator } from './ids';
import { serviceResource } from './resource';
import { createSampler, type EdgePolicySampler } from './sampler';

/** Longest attribute value a span keeps (the SDK cuts longer ones). */
export const ATTRIBUTE_VALUE_LENGTH_LIMIT = 512;

/** What the `stopped` line reports about the spans. */
export interface FlushReport {
  /** Spans lost since start: batches that failed to export, and spans dropped by a full queue. */
  readonly lostSpans: number;
  /** False when the flush at shutdown failed; the `span flush failed` line says why. */
  readonly flushed: boolean;
}

/** The line a failed flush at shutdown writes: what it means for the spans, not only the gRPC error. */
export const SPAN_FLUSH_FAILED_MESSAGE = 'span flush failed: the spans still queued at shutdown are lost';

export interface Tracing {
  readonly sampler: EdgePolicySampler;
  /** Wraps a request listener in a SERVER span per request. */
  instrument(listener: RequestListener, edge: Edge): RequestListener;
  /** Exports every queued span and stops polling; a failed flush is logged and reported, not thrown. */
  shutdown(): Promise<FlushReport>;
}

export function startTracing(config: Config, logger: Logger): Tracing {
  const resource = serviceResource(config);
  const sampler = createSampler(config.sampler, resource, logger);
  const { exportTimeoutMillis, maxQueueSize, maxExportBatchSize, scheduledDelayMillis } = config.bsp;
  const exporter = new OutageReportingExporter(
    // Loaded on the first export, not at start (see OutageReportingExporter); a bundle of its own in dist/.
    () =>
      createOtlpExporter({
        url: config.otlpEndpoint,
        timeoutMillis: exportTimeoutMillis,
        maxQueueSize,
        maxExportBatchSize,
      }),
    logger,
    config.otlpEndpoint,
  );

  const diagnostics = installDiagnostics(logger, config.sdkLogLevel);
  const ids = new XRayIdGenerator();
  const sdk = withoutVariable(
    'OTEL_LOG_LEVEL',
    () =>
      new NodeSDK({
        resource,
        autoDetectResources: false,
        contextManager: new AsyncLocalStorageContextManager(),
        // Extraction runs in order and the last valid context wins, so a full X-Ray header beats traceparent. An ALB's
        // Root-only header is ignored by the X-Ray propagator; the app records that Root itself.
        textMapPropagator: new CompositePropagator({
          propagators: [new W3CTraceContextPropagator(), new AWSXRayPropagator()],
        }),
        idGenerator: ids,
        sampler,
        // Values copied from requests (URL, query, user agent, host) are cut so that no span, and no batch of
        // MAX_EXPORT_BATCH_SIZE spans, can approach gRPC's 4 MiB message limit.
        spanLimits: { attributeValueLengthLimit: ATTRIBUTE_VALUE_LENGTH_LIMIT },
        spanProcessors: [
          new BatchSpanProcessor({
            exporter,
            maxQueueSize,
            maxExportBatchSize,
            scheduledDelayMillis,
            // A little longer than the exporter's own deadline, so the exporter reports the failure first.
            exportTimeoutMillis: exportTimeoutMillis + 1000,
          }),
        ],
        metricReaders: [],
        logRecordProcessors: [],
        instrumentations: [],
      }),
  );
  sdk.start();
  // Before server.ts requires the store, whose AWS SDK modules are patched as they initialise (aws-sdk.ts).
  instrumentBundledAwsSdk(config.orders.store === 'dynamodb' ? config.orders.region : undefined);

  let tracer: Tracer | undefined;
  return {
    sampler,
    instrument(listener, edge) {
      tracer ??= trace.getTracer(TRACER_NAME);
      return traceRequests(listener, { tracer, sampler, ids }, edge);
    },
    async shutdown() {
      sampler.root.shutdown();
      let flushed = true;
      try {
        await sdk.shutdown();
      } catch (error) {
        flushed = false;
        const message = error instanceof Error ? error.message : String(error);
        logger.warn(
          {
            component: 'opentelemetry',
            endpoint: config.otlpEndpoint,
            detail: clip(exportErrorDetail(message), 512),
            lost_spans: exporter.lostSpansTotal + diagnostics.droppedSpans,
          },
          SPAN_FLUSH_FAILED_MESSAGE,
        );
      }
      return { lostSpans: exporter.lostSpansTotal + diagnostics.droppedSpans, flushed };
    },
  };
}

/**
 * Runs `make` with an environment variable hidden. NodeSDK's constructor installs a console diag logger of its own
 * when OTEL_LOG_LEVEL is set, which prints plain text among the JSON lines (its first line at once); the service's diag
 * logger (diagnostics.ts) takes that level instead.
 */
function withoutVariable<T>(name: string, make: () => T): T {
  const saved = process.env[name];
  delete process.env[name];
  try {
    return make();
  } finally {
    if (saved !== undefined) process.env[name] = saved;
  }
}
