// OTEL_SDK_DISABLED=true turns tracing fully off: nothing of the SDK is loaded, no exporter is created, and the
// service still serves and logs. No module is patched by a require hook either way: the server span is the service's
// own, and the AWS SDK instrumentation is applied to the bundled SDK through a function that only tracing registers.
import { OtlpReceiver } from './support/otlp-receiver';
import {
  EXPORTER_LOADED,
  closeAgent,
  freePort,
  postOrder,
  request,
  runInService,
  startService,
} from './support/service';

jest.setTimeout(30_000);

afterAll(() => closeAgent());

interface Probe {
  /** What the bundle registered with the OpenTelemetry API (tracer provider, context manager, propagator, …). */
  registered: string[];
  httpPatched: boolean;
  exporterLoaded: boolean;
  /** The function the bundled AWS SDK modules hand their exports to (src/telemetry/aws-sdk.ts). */
  awsSdkPatchRegistered: boolean;
  /** require-in-the-middle's hook, which an enabled instrumentation would install. */
  requireHooked: boolean;
}

/** What starting the service leaves behind, seen from inside its process right after the bundle has loaded. */
async function probe(env: Record<string, string>): Promise<Probe> {
  const script = `
    const http = require('node:http');
    const api = globalThis[Symbol.for('opentelemetry.js.api.1')] ?? {};
    const probe = {
      registered: Object.keys(api).filter((k) => k !== 'version').sort(),
      httpPatched: typeof http.Server.prototype.emit.__wrapped === 'boolean' || !!http.Server.prototype.emit.__original,
      exporterLoaded: ${EXPORTER_LOADED},
      awsSdkPatchRegistered: typeof globalThis[Symbol.for('otel-fargate-service.patch-bundled-module')] === 'function',
      requireHooked: !require('node:module').prototype.require.toString().includes("validateString(id, 'id')"),
    };
    process.stdout.write('\\n' + JSON.stringify({ probe }) + '\\n');
    process.exit(0);
  `;
  const { lines } = await runInService(script, env);
  return lines.at(-1)!.probe as Probe;
}

describe('OTEL_SDK_DISABLED=true', () => {
  it('when set, then no SDK is started and nothing is registered with the API', async () => {
    // With a table, so that the AWS SDK's modules are initialised too.
    const table = { ORDERS_TABLE_NAME: 'orders', AWS_REGION: 'eu-west-1' };
    expect(await probe({ OTEL_SDK_DISABLED: 'true', ...table })).toEqual({
      registered: [],
      httpPatched: false,
      exporterLoaded: false,
      awsSdkPatchRegistered: false,
      requireHooked: false,
    });
    // The same probe sees the SDK when tracing is on, so it would catch a regression. NodeSDK registers a logger
    // provider, with no processor: the service's logs are its JSON lines, not OpenTelemetry log records.
    expect(await probe({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', ...table })).toEqual({
      registered: ['context', 'diag', 'logs', 'propagation', 'trace'],
      httpPatched: false,
      exporterLoaded: false,
      awsSdkPatchRegistered: true,
      requireHooked: false,
    });
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
