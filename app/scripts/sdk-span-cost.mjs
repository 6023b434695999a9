// CPU per store write of the AWS SDK instrumentation alone, without a network or a DynamoDB: DynamoOrderStore.put()
// against an SDK client whose HTTP handler answers at once, in a fresh process per mode, N puts each (after a warm-up):
//   off         no instrumentation (as with OTEL_SDK_DISABLED=true)
//   unrecorded  the instrumentation's patch applied, the puts inside an unrecorded server span (the sampler said no)
//   recorded    the same inside a recorded span: each put makes a CLIENT span, ended into a batch processor whose
//               exporter drops them (the OTLP export itself is not counted)
// Usage (from app/, the repository root installed): node --import tsx scripts/sdk-span-cost.mjs [puts]
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';

const puts = Number(process.argv[2] ?? 20000);
const mode = process.argv[3];

if (mode === undefined) {
  for (const m of ['off', 'unrecorded', 'recorded', 'off', 'unrecorded', 'recorded']) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', import.meta.filename, String(puts), m], {
      encoding: 'utf8',
    });
    process.stdout.write(out);
  }
} else {
  const { context, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { TracerProvider, BatchSpanProcessor, ParentBasedSampler, AlwaysOnSampler } =
    await import('@opentelemetry/sdk-trace');
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const { DynamoOrderStore } = await import('../src/dynamo-store.ts');
  const { instrumentBundledAwsSdk, PATCH_BUNDLED_MODULE } = await import('../src/telemetry/aws-sdk.ts');
  const { createRequire } = await import('node:module');

  const exporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve() };
  const provider = new TracerProvider({
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 65536 })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);

  if (mode !== 'off') {
    // What the bundle's appended statement does when @smithy/core's client module initialises (scripts/build.mjs).
    instrumentBundledAwsSdk('eu-west-1');
    const requireFromSdk = createRequire(createRequire(import.meta.url).resolve('@aws-sdk/client-dynamodb'));
    const file = '@smithy/core/dist-cjs/submodules/client/index.js';
    globalThis[PATCH_BUNDLED_MODULE]('@smithy/core', '3.41.1', file, requireFromSdk('@smithy/core/client'));
  }

  const client = new DynamoDBClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDCOST', secretAccessKey: 'cost' },
    requestHandler: {
      handle: async () => ({
        response: {
          statusCode: 200,
          reason: 'OK',
          headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'REQUESTID0000000000' },
          body: Readable.from([Buffer.from('{}')]),
        },
      }),
      updateHttpClientConfig() {},
      httpHandlerConfigs: () => ({}),
      destroy() {},
    },
  });
  const store = new DynamoOrderStore({ tableName: 'orders', region: 'eu-west-1', client });
  const order = { sku: 'SKU-1', quantity: 2, unitPriceCents: 100, totalCents: 200, currency: 'EUR' };
  // The server span's context: sampled or not, as the service's sampler would have decided at the edge.
  const parent = trace.setSpanContext(context.active(), {
    traceId: '6b0d45207a9dc46355dc71d9ec44e7fc',
    spanId: '84a0570a0e3645d9',
    traceFlags: mode === 'recorded' ? 1 : 0,
  });
  const run = async (n) => {
    for (let i = 0; i < n; i += 1) {
      await context.with(parent, () => store.put(order));
    }
  };
  await run(2000);
  const before = process.cpuUsage();
  await run(puts);
  const used = process.cpuUsage(before);
  await provider.shutdown();
  console.log(`${mode}: ${((used.user + used.system) / puts).toFixed(1)} CPU µs per put (${puts} puts)`);
}
