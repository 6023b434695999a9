// The OpenTelemetry SDK for traces only: OTLP over gRPC to the collector sidecar, X-Ray-valid trace IDs, W3C and
// X-Ray propagation, the http instrumentation alone (Express routes are named by the app, which costs no extra
// spans). Loaded by instrumentation.ts only when tracing is on, so a disabled service never loads or patches any
// of it. The SDK's own diagnostics go into the JSON log stream at warn level, once per problem, not per batch.
import { inspect } from 'node:util';
import { context, diag, DiagLogLevel, propagation, trace, type DiagLogger } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  ExportResultCode,
  setGlobalErrorHandler,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
  type ExportResult,
} from '@opentelemetry/core';
import { AWSXRayIdGenerator } from '@opentelemetry/id-generator-aws-xray';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { AWSXRayPropagator } from '@opentelemetry/propagator-aws-xray';
import { awsEcsDetector } from '@opentelemetry/resource-detector-aws';
import { defaultResource, detectResources, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  TracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Logger } from 'pino';
import type { Config } from './config';
import { clip } from './logger';

/** How long an identical SDK diagnostic stays silent after it was logged once. */
const DIAG_REPEAT_WINDOW_MS = 60_000;

/** Errors already logged by the exporter's outage report; the global error handler skips them. */
const reported = new WeakSet<object>();

function describe(args: unknown[]): string {
  return args
    .map((arg) =>
      arg instanceof Error
        ? arg.message
        : typeof arg === 'string'
          ? arg
          : // Never throws (a circular or BigInt argument would make JSON.stringify throw inside the error handler).
            inspect(arg, { depth: 2, breakLength: Infinity }),
    )
    .join(' ');
}

/** Digits and hex IDs vary between repeats of one problem ("Dropped 12 spans", "ended Span {traceId: …}"). */
function repeatKey(level: string, message: string): string {
  return `${level}:${message
    .replace(/\b[0-9a-f]{16,32}\b/gi, '#')
    .replace(/\d+/g, '#')
    .slice(0, 120)}`;
}

/** The span count of the batch processor's "Dropped N spans because maxQueueSize reached" warning. */
const DROPPED = /^Dropped (\d+) spans/;

/** SDK diagnostics as JSON lines; a message seen in the last minute is counted instead of logged again. */
export function createDiagLogger(logger: Logger, now: () => number = Date.now): DiagLogger {
  const lastSeen = new Map<string, Seen>();
  const write =
    (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') =>
    (message: string, ...args: unknown[]): void => {
      const key = repeatKey(level, message);
      const at = now();
      const seen = lastSeen.get(key);
      const dropped = Number(DROPPED.exec(message)?.[1] ?? 0);
      if (seen !== undefined && at - seen.at < DIAG_REPEAT_WINDOW_MS) {
        seen.suppressed += 1;
        seen.droppedSpans += dropped;
        return;
      }
      if (lastSeen.size > 256) lastSeen.clear();
      lastSeen.set(key, { at, suppressed: 0, droppedSpans: 0 });
      const detail = describe(args);
      logger[level](
        { component: 'opentelemetry', ...(detail ? { detail: clip(detail, 1024) } : {}), ...suppressedField(seen) },
        clip(message, 1024),
      );
    };
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    verbose: write('trace'),
  };
}

interface Seen {
  at: number;
  suppressed: number;
  /** Spans counted by suppressed "Dropped N spans" warnings, so that no loss goes unreported. */
  droppedSpans: number;
}

function suppressedField(seen: Seen | undefined): Record<string, number> {
  if (seen === undefined || seen.suppressed === 0) return {};
  return {
    repeats_suppressed: seen.suppressed,
    ...(seen.droppedSpans > 0 ? { dropped_spans_suppressed: seen.droppedSpans } : {}),
  };
}

/**
 * Wraps the OTLP exporter to report a collector outage as two lines: when the first batch fails, and when export
 * works again (with how many spans were lost meanwhile). gRPC exports are not retried by the exporter, so a failed
 * batch is lost; the queue keeps accepting spans up to its bound.
 *
 * The wrapped exporter is created by `createInner` on the first `export()`, not at start: loading the OTLP gRPC
 * exporter (grpc-js, protobufjs, the OTLP transformer) is over 100 ms of start-up, and the first export comes only
 * after the batch processor's schedule delay, so the service answers its first request without waiting for it.
 * Spans ended before then wait in the batch processor's queue, as they would for any slow exporter. The load is a
 * synchronous require, so a flush never has to wait for it: until the first export there is nothing in flight. A
 * shutdown before any export ends without loading the exporter at all.
 */
export class OutageReportingExporter implements SpanExporter {
  private failedBatches = 0;
  private lostSpans = 0;
  private inner: SpanExporter | undefined;
  private isShutdown = false;

  constructor(
    private readonly createInner: () => SpanExporter,
    private readonly logger: Logger,
    private readonly endpoint: string,
  ) {}

  /** Whether the wrapped exporter has been created (by a first export). */
  get loaded(): boolean {
    return this.inner !== undefined;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.inner === undefined) {
      if (this.isShutdown) {
        resultCallback({ code: ExportResultCode.FAILED, error: new Error('span exporter is shut down') });
        return;
      }
      try {
        this.inner = this.createInner();
      } catch (error) {
        this.report(spans, resultCallback, {
          code: ExportResultCode.FAILED,
          error: error instanceof Error ? error : new Error(String(error)),
        });
        return;
      }
    }
    this.inner.export(spans, (result) => this.report(spans, resultCallback, result));
  }

  private report(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void, result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      if (this.failedBatches > 0) {
        this.logger.warn(
          {
            component: 'opentelemetry',
            endpoint: this.endpoint,
            failed_batches: this.failedBatches,
            lost_spans: this.lostSpans,
          },
          'span export resumed',
        );
        this.failedBatches = 0;
        this.lostSpans = 0;
      }
      resultCallback(result);
      return;
    }
    const error = result.error ?? new Error('span export failed');
    if (this.failedBatches === 0) {
      this.logger.warn(
        { component: 'opentelemetry', endpoint: this.endpoint, detail: clip(error.message, 512) },
        'span export failing: collector unreachable or not answering; reporting once until it recovers',
      );
    }
    this.failedBatches += 1;
    this.lostSpans += spans.length;
    reported.add(error);
    resultCallback({ code: result.code, error });
  }

  shutdown(): Promise<void> {
    this.isShutdown = true;
    return this.inner?.shutdown() ?? Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return this.inner?.forceFlush?.() ?? Promise.resolve();
  }
}

/** Longest attribute value a span keeps (the SDK cuts longer ones). */
export const ATTRIBUTE_VALUE_LENGTH_LIMIT = 512;

/** Enough concurrent exports for a flush of a full queue plus the export the timer may have in flight. */
export function exportConcurrencyLimit(maxQueueSize: number, maxExportBatchSize: number): number {
  return Math.max(30, Math.ceil(maxQueueSize / maxExportBatchSize) + 1);
}

type OtlpExporterModule = typeof import('./otlp-exporter');

export interface Tracing {
  readonly provider: TracerProvider;
}

export function startTracing(config: Config, logger: Logger): Tracing {
  const diagLogger = createDiagLogger(logger);
  diag.setLogger(diagLogger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  setGlobalErrorHandler((error) => {
    if (typeof error === 'object' && error !== null && reported.has(error)) return;
    diagLogger.error('OpenTelemetry SDK error', error);
  });

  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // Extraction runs in order and the last valid context wins, so a full X-Ray header beats traceparent. An ALB's
  // Root-only header is ignored by the X-Ray propagator; the app records that Root itself.
  propagation.setGlobalPropagator(
    new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new AWSXRayPropagator()],
    }),
  );

  // The ECS detector answers at once off ECS (no metadata variable) and asynchronously on ECS; the attributes
  // from the environment are merged last so that `aws.log.group.*` survives the detector's FireLens blank.
  const resource = defaultResource()
    .merge(detectResources({ detectors: [awsEcsDetector] }))
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_VERSION]: config.serviceVersion,
        ...config.resourceAttributes,
        [ATTR_SERVICE_NAME]: config.serviceName,
      }),
    );

  const { exportTimeoutMillis, maxQueueSize, maxExportBatchSize } = config.bsp;
  const exporter = new OutageReportingExporter(
    () => {
      // Loaded on the first export, not at start (see OutageReportingExporter); a bundle of its own in dist/.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { OTLPTraceExporter } = require('./otlp-exporter') as OtlpExporterModule;
      return new OTLPTraceExporter({
        url: config.otlpEndpoint,
        timeoutMillis: exportTimeoutMillis,
        // The flush at shutdown starts one export per batch of the full queue at once, plus the one the timer may
        // have in flight; the exporter refuses exports over its limit (30 by default), which would lose those
        // spans.
        concurrencyLimit: exportConcurrencyLimit(maxQueueSize, maxExportBatchSize),
      });
    },
    logger,
    config.otlpEndpoint,
  );
  const provider = new TracerProvider({
    resource,
    idGenerator: new AWSXRayIdGenerator(),
    // Every request is traced, whatever the caller says: a continued traceparent or X-Ray header keeps its trace
    // ID and parent, but its sampled flag cannot switch tracing off (a client sending `-00` or `Sampled=0` would
    // otherwise get log lines and an xrayTraceId for a trace that never reaches X-Ray). A parent-based sampler
    // with AlwaysOn for all four parent cases is exactly AlwaysOn, so AlwaysOn it is.
    sampler: new AlwaysOnSampler(),
    // Values copied from requests (URL, query, user agent, host) are cut so that no span, and no batch of
    // MAX_EXPORT_BATCH_SIZE spans, can approach gRPC's 4 MiB message limit.
    spanLimits: { attributeValueLengthLimit: ATTRIBUTE_VALUE_LENGTH_LIMIT },
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize,
        maxExportBatchSize,
        scheduledDelayMillis: config.bsp.scheduledDelayMillis,
        // A little longer than the exporter's own deadline, so the exporter reports the failure first.
        exportTimeoutMillis: exportTimeoutMillis + 1000,
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);

  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (request) => isHealthCheck(request.url),
        // The app's own pricing.call is the CLIENT span of its outgoing call; the instrumentation would add a second.
        disableOutgoingRequestInstrumentation: true,
      }),
    ],
  });

  return { provider };
}

export function isHealthCheck(url: string | undefined): boolean {
  return url === '/healthz' || (url?.startsWith('/healthz?') ?? false);
}
