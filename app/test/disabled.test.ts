// OTEL_SDK_DISABLED=true turns tracing fully off: nothing of the SDK is loaded, no module is patched, no exporter
// is created, and the service still serves and logs.
import { spawnSync } from 'node:child_process';
import { OtlpReceiver } from './support/otlp-receiver';
import { APP_DIR, baseEnv, closeAgent, freePort, postOrder, request, startService } from './support/service';

jest.setTimeout(30_000);

afterAll(() => closeAgent());

/** What the preload leaves behind: loaded OpenTelemetry modules and whether http's server is wrapped. */
function probe(env: Record<string, string>): { otelModules: string[]; httpPatched: boolean } {
  const script = `
    const http = require('node:http');
    const loaded = Object.keys(require.cache).filter((k) => k.includes('@opentelemetry'));
    const patched = typeof http.Server.prototype.emit.__wrapped === 'boolean' || !!http.Server.prototype.emit.__original;
    process.stdout.write(JSON.stringify({ otelModules: loaded, httpPatched: patched }));
  `;
  const result = spawnSync(process.execPath, ['--import', './dist/instrumentation.js', '-e', script], {
    cwd: APP_DIR,
    env: baseEnv(env),
    encoding: 'utf8',
  });
  const last = result.stdout.trim().split('\n').at(-1)!;
  return JSON.parse(last) as { otelModules: string[]; httpPatched: boolean };
}

describe('OTEL_SDK_DISABLED=true', () => {
  it('when set, then no OpenTelemetry module is loaded by the preload and http is not patched', () => {
    const off = probe({ OTEL_SDK_DISABLED: 'true' });
    expect(off.httpPatched).toBe(false);
    expect(off.otelModules.filter((m) => !m.includes('@opentelemetry/api'))).toEqual([]);
    // The same probe sees the SDK when tracing is on, so it would catch a regression.
    const on = probe({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' });
    expect(on.httpPatched).toBe(true);
    expect(on.otelModules.some((m) => m.includes('@opentelemetry/sdk-trace'))).toBe(true);
  });

  it('when set, then requests are served, no span is exported and log lines carry no trace fields', async () => {
    const receiver = await OtlpReceiver.start();
    const service = await startService({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    try {
      expect((await request(service.url('/'))).body).toBe('Welcome to the Home Page!');
      const order = await postOrder(service, { sku: 'OFF-1', quantity: 2 });
      expect(order.status).toBe(201);
      expect(order.json()).not.toHaveProperty('xrayTraceId');
      await service.waitForLine((l) => l.msg === 'request completed' && l.path === '/orders');
      expect(service.lines.filter((l) => 'trace_id' in l)).toEqual([]);
    } finally {
      await service.stop();
    }
    expect(receiver.spans).toEqual([]);
    expect(receiver.exports).toBe(0);
    await receiver.stop();
  });
});

describe('LOG_LEVEL', () => {
  it('when warn, then info lines are not written', async () => {
    const service = await startService({
      OTEL_SDK_DISABLED: 'true',
      LOG_LEVEL: 'warn',
      PORT: String(await freePort()),
    });
    try {
      expect((await request(service.url('/'))).status).toBe(200);
      expect((await request(service.url('/'))).status).toBe(200);
    } finally {
      await service.stop();
    }
    expect(service.lines.filter((l) => l.level === 'info')).toEqual([]);
  });
});
