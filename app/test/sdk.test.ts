// NodeSDK gets every component from the service (src/telemetry/sdk.ts), so the OTEL_* variables that would have it
// build others change nothing; and the bundle it runs from leaves out the exporters NodeSDK requires but never uses.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OtlpReceiver, SPAN_KIND } from './support/otlp-receiver';
import { APP_DIR, closeAgent, request, startService, traceResponse } from './support/service';

jest.setTimeout(30_000);

afterAll(() => closeAgent());

describe('components from the environment', () => {
  it('when OTEL_* variables ask NodeSDK for other exporters, propagators, detectors and a console logger, then the service still uses its own', async () => {
    const receiver = await OtlpReceiver.start();
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      // Each of these makes NodeSDK build a component when the service does not give it one; the ones it would build
      // are not even in the bundle, so building one would fail the start.
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_METRICS_EXPORTER: 'otlp,prometheus',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_PROPAGATORS: 'b3',
      OTEL_NODE_RESOURCE_DETECTORS: 'all',
      OTEL_LOG_LEVEL: 'debug',
    });
    try {
      const traceId = '0af7651916cd43dd8448eb211c8031ef';
      const reply = await request(service.url('/'), {
        headers: {
          traceparent: `00-${traceId}-b7ad6b7169203331-01`,
          b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1',
        },
      });
      // W3C trace context, not B3.
      expect(traceResponse(reply).traceId).toBe(traceId);
      const spans = await receiver.waitFor((all) =>
        all.some((s) => s.traceId === traceId && s.kind === SPAN_KIND.SERVER),
      );
      const resource = spans.find((s) => s.traceId === traceId)!.resource;
      expect(resource).toMatchObject({ 'service.name': 'otel-fargate-service' });
      // No host, process or OS detector ran.
      expect(Object.keys(resource).filter((key) => /^(host|process|os)\./.test(key))).toEqual([]);
    } finally {
      await service.stop();
      await receiver.stop();
    }
    // NodeSDK's console logger (OTEL_LOG_LEVEL) would print plain text; the service's diag logger replaced it.
    expect(service.nonJson).toEqual([]);
    expect(service.stderr).toBe('');
    expect(service.lines.find((l) => l.msg === 'stopped')).toMatchObject({ spans_flushed: true });
  });
});

describe('the bundle', () => {
  const main = readFileSync(path.join(APP_DIR, 'dist', 'main.js'), 'utf8');
  const exporter = readFileSync(path.join(APP_DIR, 'dist', 'otlp-exporter.js'), 'utf8');

  it.each([
    '@opentelemetry/exporter-zipkin',
    '@opentelemetry/exporter-prometheus',
    '@opentelemetry/exporter-logs-otlp-http',
    '@opentelemetry/exporter-metrics-otlp-grpc',
    '@opentelemetry/exporter-trace-otlp-proto',
    '@opentelemetry/sdk-metrics',
    '@opentelemetry/propagator-b3',
    '@opentelemetry/configuration',
  ])("when built, then dist/main.js holds a stub for NodeSDK's %s and none of its code", (name) => {
    expect(main).toContain(`// left-out:${name}\n`);
    expect(main).not.toContain(`// node_modules/${name}/`);
  });

  it('when built, then the OTLP gRPC exporter is in its own bundle only, and NodeSDK itself is in the main one', () => {
    expect(exporter).toContain('// node_modules/@opentelemetry/exporter-trace-otlp-grpc/');
    expect(main).not.toContain('// node_modules/@opentelemetry/exporter-trace-otlp-grpc/');
    expect(main).toContain('// node_modules/@opentelemetry/sdk-node/');
  });
});
