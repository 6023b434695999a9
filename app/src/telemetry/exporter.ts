// The span exporter: OTLP over gRPC to the collector sidecar, created at the first export (grpc-js and protobufjs
// are a bundle of their own, dist/otlp-exporter.js), and reporting a collector outage as two lines, not one per batch.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import { clip } from '../logger';
import { markReported } from './diagnostics';

/**
 * grpc-js ends an UNAVAILABLE error's message with "Resolution note: " and the resolver's note, which is empty for
 * a plain address; an empty note is noise in the log line.
 */
export function exportErrorDetail(message: string): string {
  return message.replace(/[\s.;]*Resolution note:\s*$/, '');
}

/** How often a continuing export outage is reported again. */
export const OUTAGE_REPORT_INTERVAL_MS = 30_000;

/** The message of the outage line, first and repeated; the stack's metric filter matches `span export failing*`. */
export const SPAN_EXPORT_FAILING_MESSAGE =
  'span export failing: collector unreachable or not answering; repeated every 30 s until it recovers';

/**
 * Wraps the OTLP exporter to report a collector outage in a few lines, not one per batch: when the first batch
 * fails, again at most every 30 s while batches keep failing (with the spans lost so far), and when export works
 * again. The repeats let an alarm count failing processes minute by minute: a single line per outage cannot tell a
 * process still failing from one that stopped, or from a new process that started healthy beside it. gRPC exports
 * are not retried by the exporter, so a failed batch is lost; the queue keeps accepting spans up to its bound.
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
  private failingSince = 0;
  private lastReportAt = 0;
  private lostSpansInAll = 0;
  private inner: SpanExporter | undefined;
  private isShutdown = false;

  constructor(
    private readonly createInner: () => SpanExporter,
    private readonly logger: Logger,
    private readonly endpoint: string,
    private readonly reportIntervalMs = OUTAGE_REPORT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the wrapped exporter has been created (by a first export). */
  get loaded(): boolean {
    return this.inner !== undefined;
  }

  /** Spans in batches that failed to export, since the process started. */
  get lostSpansTotal(): number {
    return this.lostSpansInAll;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.inner === undefined) {
      if (this.isShutdown) {
        this.lostSpansInAll += spans.length;
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
    const now = this.now();
    if (this.failedBatches === 0) this.failingSince = now;
    this.failedBatches += 1;
    this.lostSpans += spans.length;
    this.lostSpansInAll += spans.length;
    if (this.failedBatches === 1 || now - this.lastReportAt >= this.reportIntervalMs) {
      this.lastReportAt = now;
      this.logger.warn(
        {
          component: 'opentelemetry',
          endpoint: this.endpoint,
          detail: clip(exportErrorDetail(error.message), 512),
          failing_since: new Date(this.failingSince).toISOString(),
          failed_batches: this.failedBatches,
          lost_spans: this.lostSpans,
        },
        SPAN_EXPORT_FAILING_MESSAGE,
      );
    }
    markReported(error);
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

/** Enough concurrent exports for a flush of a full queue plus the export the timer may have in flight. */
export function exportConcurrencyLimit(maxQueueSize: number, maxExportBatchSize: number): number {
  return Math.max(30, Math.ceil(maxQueueSize / maxExportBatchSize) + 1);
}

type OtlpExporterModule = typeof import('../otlp-exporter');

/** The OTLP gRPC exporter, loaded from its own bundle when first called. */
export function createOtlpExporter(options: {
  url: string;
  timeoutMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
}): SpanExporter {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { OTLPTraceExporter } = require('../otlp-exporter') as OtlpExporterModule;
  return new OTLPTraceExporter({
    url: options.url,
    timeoutMillis: options.timeoutMillis,
    // The flush at shutdown starts one export per batch of the full queue at once, plus the one the timer may have
    // in flight; the exporter refuses exports over its limit (30 by default), which would lose those spans.
    concurrencyLimit: exportConcurrencyLimit(options.maxQueueSize, options.maxExportBatchSize),
  });
}
