// The OTLP gRPC exporter (grpc-js, protobufjs, the OTLP transformer: the bundle dist/otlp-exporter.js) is loaded on
// the first export, not at start: spans ended before then wait in the batch processor's queue and are delivered, and
// a process that never exports (tracing off, or shut down before its first batch) never loads grpc at all.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import { OutageReportingExporter, SPAN_EXPORT_FAILING_MESSAGE } from '../src/telemetry/exporter';
import { OtlpReceiver } from './support/otlp-receiver';
import { EXPORTER_LOADED, runInService } from './support/service';

jest.setTimeout(30_000);

interface Probe {
  grpcAtStart: boolean;
  grpcAtEnd: boolean;
  /** The service's last log line, written when it stopped. */
  stopped: Record<string, unknown>;
}

/**
 * Starts the service, ends `spans` spans at once (before anything could have exported them), then stops it with
 * SIGTERM, whose shutdown flushes the queue; reports whether the exporter's bundle was loaded at start and at exit.
 */
async function probe(env: Record<string, string>, spans: number): Promise<Probe> {
  const script = `
    const exporterLoaded = () => ${EXPORTER_LOADED};
    // The API package from node_modules reaches the bundle's SDK through the API's global registration.
    const { trace } = require('@opentelemetry/api');
    const tracer = trace.getTracer('lazy-exporter-test');
    for (let i = 0; i < ${spans}; i++) tracer.startSpan('before-load-' + i).end();
    const grpcAtStart = exporterLoaded();
    process.on('exit', () => {
      require('node:fs').writeSync(1, '\\n' + JSON.stringify({ probe: { grpcAtStart, grpcAtEnd: exporterLoaded() } }) + '\\n');
    });
    process.kill(process.pid, 'SIGTERM');
  `;
  const { lines, stderr } = await runInService(script, env);
  expect(stderr).toBe('');
  const stopped = lines.find((line) => line.msg === 'stopped')!;
  return { ...(lines.at(-1)!.probe as Omit<Probe, 'stopped'>), stopped };
}

describe('the OTLP gRPC exporter, loaded on the first export', () => {
  it('when spans end before the exporter is loaded, then grpc is not loaded yet and every span is delivered', async () => {
    const receiver = await OtlpReceiver.start();
    try {
      // A schedule delay far beyond the test: only the flush at shutdown exports.
      const result = await probe(
        { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '30000' },
        5,
      );
      expect(result).toMatchObject({ grpcAtStart: false, grpcAtEnd: true, stopped: { spans_flushed: true } });
      expect(receiver.spans.map((s) => s.name).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `before-load-${i}`));
    } finally {
      await receiver.stop();
    }
  });

  it('when tracing shuts down before any span was exported, then grpc is never loaded', async () => {
    expect(await probe({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' }, 0)).toMatchObject({
      grpcAtStart: false,
      grpcAtEnd: false,
      stopped: { spans_flushed: true },
    });
  });

  it('when OTEL_SDK_DISABLED=true, then grpc is never loaded and the stopped line claims nothing about spans', async () => {
    const result = await probe({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' }, 3);
    expect(result).toMatchObject({ grpcAtStart: false, grpcAtEnd: false, stopped: { drained: true } });
    expect(result.stopped).not.toHaveProperty('spans_flushed');
  });
});

describe('OutageReportingExporter', () => {
  const span = {} as ReadableSpan;

  function fakeLogger(): Logger & { warn: jest.Mock } {
    return { warn: jest.fn() } as unknown as Logger & { warn: jest.Mock };
  }

  function fakeInner(): SpanExporter & { exported: number[]; flushes: number; shutdowns: number } {
    const inner = {
      exported: [] as number[],
      flushes: 0,
      shutdowns: 0,
      export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
        inner.exported.push(spans.length);
        done({ code: ExportResultCode.SUCCESS });
      },
      shutdown: (): Promise<void> => ((inner.shutdowns += 1), Promise.resolve()),
      forceFlush: (): Promise<void> => ((inner.flushes += 1), Promise.resolve()),
    };
    return inner;
  }

  function exportOnce(exporter: SpanExporter, spans: ReadableSpan[] = [span]): Promise<ExportResult> {
    return new Promise((resolve) => exporter.export(spans, resolve));
  }

  it('when nothing was exported, then flush and shutdown resolve without creating the exporter, and a later export fails', async () => {
    const create = jest.fn(() => fakeInner());
    const exporter = new OutageReportingExporter(create, fakeLogger(), 'http://collector:4317');
    await exporter.forceFlush();
    await exporter.shutdown();
    expect((await exportOnce(exporter)).code).toBe(ExportResultCode.FAILED);
    expect(create).not.toHaveBeenCalled();
    expect(exporter.loaded).toBe(false);
  });

  it('when the first export comes, then the exporter is created once and export, flush and shutdown reach it', async () => {
    const inner = fakeInner();
    const create = jest.fn(() => inner);
    const exporter = new OutageReportingExporter(create, fakeLogger(), 'http://collector:4317');
    expect((await exportOnce(exporter)).code).toBe(ExportResultCode.SUCCESS);
    expect((await exportOnce(exporter, [span, span])).code).toBe(ExportResultCode.SUCCESS);
    await exporter.forceFlush();
    await exporter.shutdown();
    expect(create).toHaveBeenCalledTimes(1);
    expect(inner).toMatchObject({ exported: [1, 2], flushes: 1, shutdowns: 1 });
  });

  it('when creating the exporter throws, then the batch fails as one outage warning and the next export retries', async () => {
    const logger = fakeLogger();
    const create = jest
      .fn<SpanExporter, []>()
      .mockImplementationOnce(() => {
        throw new Error('cannot load');
      })
      .mockImplementation(() => fakeInner());
    const exporter = new OutageReportingExporter(create, logger, 'http://collector:4317');
    const failed = await exportOnce(exporter, [span, span]);
    expect(failed).toMatchObject({ code: ExportResultCode.FAILED, error: { message: 'cannot load' } });
    expect((await exportOnce(exporter)).code).toBe(ExportResultCode.SUCCESS);
    expect(create).toHaveBeenCalledTimes(2);
    expect(logger.warn.mock.calls.map(([fields, message]) => [message, fields.lost_spans])).toEqual([
      [SPAN_EXPORT_FAILING_MESSAGE, 2],
      ['span export resumed', 2],
    ]);
  });

  it('while batches keep failing, then the outage is reported again at most every interval, with the spans lost so far', async () => {
    const logger = fakeLogger();
    let now = Date.parse('2026-11-30T10:00:00.000Z');
    let healthy = false;
    const inner: SpanExporter = {
      export: (_spans, done) =>
        done(
          healthy
            ? { code: ExportResultCode.SUCCESS }
            : { code: ExportResultCode.FAILED, error: new Error('UNAVAILABLE') },
        ),
      shutdown: () => Promise.resolve(),
    };
    const exporter = new OutageReportingExporter(
      () => inner,
      logger,
      'http://collector:4317',
      30_000,
      () => now,
    );
    // A failing batch every 5 s for 70 s: lines at 0 s, 30 s and 60 s.
    for (let second = 0; second <= 70; second += 5, now += 5_000) await exportOnce(exporter, [span, span]);
    healthy = true;
    await exportOnce(exporter);
    expect(
      logger.warn.mock.calls.map(([fields, message]) => [
        message,
        fields.failing_since,
        fields.failed_batches,
        fields.lost_spans,
      ]),
    ).toEqual([
      [SPAN_EXPORT_FAILING_MESSAGE, '2026-11-30T10:00:00.000Z', 1, 2],
      [SPAN_EXPORT_FAILING_MESSAGE, '2026-11-30T10:00:00.000Z', 7, 14],
      [SPAN_EXPORT_FAILING_MESSAGE, '2026-11-30T10:00:00.000Z', 13, 26],
      ['span export resumed', undefined, 15, 30],
    ]);
    expect(logger.warn.mock.calls[0][0]).toMatchObject({ component: 'opentelemetry', detail: 'UNAVAILABLE' });
  });
});
