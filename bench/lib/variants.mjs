// The variants and exactly how each is started. Every traced variant exports to the same OTLP gRPC sink and has its
// metrics and logs exporters off (the service has none). (b), (c) and (d) record every request; (b-rule) and
// (d-rule) sample by X-Ray's default rule (1 request a second plus 5%), served by a fake X-Ray sampling proxy
// (app/test/support/xray-proxy.ts, a real HTTP server in the harness) as the collector's awsproxy serves it in a task;
// (b-none) by a rule that records nothing, to compare its unrecorded path with (lean), the leanest version of that
// contract (bench/lean/tracing.cjs) on (a0). Every variant gets the load balancer's header on every request
// (lib/alb.mjs), but (b-rule-bare), its twin without it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const VARIANT_IDS = ['a0', 'a', 'b', 'b-rule', 'b-rule-bare', 'b-none', 'lean', 'c', 'd', 'd-rule'];
/** Opt-in experiments on (b), to measure a proposed change without editing the service: --variants …,b-semi */
export const EXPERIMENT_IDS = ['b-semi', 'b-cache', 'b-bsp'];
/**
 * (a), (b) and (b-rule) with their orders in a DynamoDB table (dynalite, lib/dynalite.mjs) instead of memory: what the
 * AWS SDK call costs an order, and what its instrumentation (a CLIENT span per call) adds, recorded or not. Run by
 * default after VARIANT_IDS; their other rows (GET /) match their twins'.
 */
export const DYNAMODB_IDS = ['a-ddb', 'b-ddb', 'b-rule-ddb'];

/** The node arguments of app/Dockerfile's exec-form CMD, so that (a) and (b) start exactly as the image does. */
export function imageNodeArgs(appDir) {
  const cmd = /^CMD (\[.*\])\s*$/m.exec(readFileSync(path.join(appDir, 'Dockerfile'), 'utf8'));
  const argv = cmd ? JSON.parse(cmd[1]) : [];
  if (argv[0] !== 'node') throw new Error('app/Dockerfile has no exec-form CMD starting with node');
  return argv.slice(1);
}

/**
 * The NODE_OPTIONS the stack gives the service in a task of the default size (lib/settings.ts): its heap limit.
 * Without it V8 would size the heap from this machine's memory, many times a task's.
 */
export async function defaultTaskNodeOptions(repoRoot) {
  const { tsImport } = await import('tsx/esm/api');
  const settings = await tsImport(pathToFileURL(path.join(repoRoot, 'lib', 'settings.ts')).href, import.meta.url);
  return settings.serviceNodeOptions(settings.DEFAULTS.memoryLimitMiB);
}

/**
 * The fake X-Ray sampling proxies: `default` answers X-Ray's Default rule (reservoir 1/s, rate 5%), `all` a Default
 * rule at rate 1 (the stack's "record every request" demo setting). Each answers SamplingTargets with a 1 s
 * Interval, so that the samplers' counts (SampledCount) of a run reach the harness within a second of its end.
 */
export async function startSamplingProxies(repoRoot) {
  const { tsImport } = await import('tsx/esm/api');
  const { FakeXRayProxy, samplingRule } = await tsImport(
    pathToFileURL(path.join(repoRoot, 'app', 'test', 'support', 'xray-proxy.ts')).href,
    import.meta.url,
  );
  const rule = (fixedRate) =>
    samplingRule({ RuleName: 'Default', Priority: 10000, ReservoirSize: 1, FixedRate: fixedRate });
  return {
    default: await FakeXRayProxy.start({ rules: [rule(0.05)], targetsIntervalS: 1 }),
    all: await FakeXRayProxy.start({ rules: [rule(1)], targetsIntervalS: 1 }),
    none: await FakeXRayProxy.start({
      rules: [samplingRule({ RuleName: 'Default', Priority: 10000, ReservoirSize: 0, FixedRate: 0 })],
      targetsIntervalS: 1,
    }),
  };
}

export function defineVariants({ repoRoot, benchDir, sinkPort, cacheDir, serviceNodeOptions, proxies, dynamo }) {
  const appDir = path.join(repoRoot, 'app');
  const image = imageNodeArgs(appDir);

  const peerApp = path.join(benchDir, 'peer', 'app.cjs');
  const sink = `http://127.0.0.1:${sinkPort}`;
  const serviceBuilt =
    existsSync(path.join(appDir, 'dist', 'main.js')) && existsSync(path.join(appDir, 'dist', 'otlp-exporter.js'));
  const serviceMissing = serviceBuilt ? undefined : 'app/dist has no main.js and otlp-exporter.js: run `npm run build`';
  // Every variant runs with the heap limit the default task gives the service, as each would if deployed in its place.
  const common = { LOG_LEVEL: 'info', NODE_ENV: 'production', NODE_OPTIONS: serviceNodeOptions };
  const variants = [
    {
      id: 'a0',
      label: 'plain Express 5 + pino, no OpenTelemetry code loaded',
      cwd: benchDir,
      nodeArgs: [peerApp],
      env: { ...common },
      traced: false,
    },
    {
      id: 'a',
      label: 'this service, OTEL_SDK_DISABLED=true',
      cwd: appDir,
      nodeArgs: image,
      env: { ...common, OTEL_SDK_DISABLED: 'true', OTEL_SERVICE_NAME: 'bench-a', OTEL_EXPORTER_OTLP_ENDPOINT: sink },
      traced: false,
      missing: serviceMissing,
    },
    {
      id: 'b',
      label: 'this service, every request recorded (an X-Ray rule at rate 1: the demo setting)',
      cwd: appDir,
      nodeArgs: image,
      env: { ...common, OTEL_SERVICE_NAME: 'bench-b', OTEL_EXPORTER_OTLP_ENDPOINT: sink, ...xray(proxies.all) },
      traced: true,
      missing: serviceMissing,
    },
    {
      id: 'b-rule',
      label: "this service at X-Ray's default rule (1/s + 5%): the task's configuration",
      cwd: appDir,
      nodeArgs: image,
      env: { ...common, OTEL_SERVICE_NAME: 'bench-b', OTEL_EXPORTER_OTLP_ENDPOINT: sink, ...xray(proxies.default) },
      traced: true,
      sampling: proxies.default,
      missing: serviceMissing,
    },
    {
      id: 'b-rule-bare',
      label: "(b-rule) without the load balancer's `X-Amzn-Trace-Id` on its requests (how earlier runs measured it)",
      cwd: appDir,
      nodeArgs: image,
      env: { ...common, OTEL_SERVICE_NAME: 'bench-b', OTEL_EXPORTER_OTLP_ENDPOINT: sink, ...xray(proxies.default) },
      traced: true,
      sampling: proxies.default,
      albHeader: false,
      missing: serviceMissing,
    },
    {
      id: 'b-none',
      label: 'this service under a rule that records nothing (reservoir 0, rate 0): its unrecorded path alone',
      cwd: appDir,
      nodeArgs: image,
      env: { ...common, OTEL_SERVICE_NAME: 'bench-b', OTEL_EXPORTER_OTLP_ENDPOINT: sink, ...xray(proxies.none) },
      traced: true,
      sampling: proxies.none,
      missing: serviceMissing,
    },
    {
      id: 'lean',
      label:
        '(a0) with the leanest version of the unrecorded-request contract (bench/lean/tracing.cjs), recording nothing',
      cwd: benchDir,
      nodeArgs: [peerApp],
      env: { ...common, BENCH_LEAN: '1', BENCH_LEAN_RESERVOIR: '0', BENCH_LEAN_FIXED_RATE: '0' },
      traced: false,
    },
    {
      id: 'b-semi',
      label: '(b) with a 64 MB young generation (--max-semi-space-size=64)',
      cwd: appDir,
      nodeArgs: ['--max-semi-space-size=64', ...image],
      env: { ...common, OTEL_SERVICE_NAME: 'bench-b', OTEL_EXPORTER_OTLP_ENDPOINT: sink, ...xray(proxies.all) },
      traced: true,
      missing: serviceMissing,
      experiment: true,
    },
    {
      id: 'b-cache',
      label: "(b) with Node's on-disk compile cache (NODE_COMPILE_CACHE, warmed by the first start)",
      cwd: appDir,
      nodeArgs: image,
      env: {
        ...common,
        NODE_COMPILE_CACHE: path.join(cacheDir, 'node-compile-cache'),
        OTEL_SERVICE_NAME: 'bench-b',
        OTEL_EXPORTER_OTLP_ENDPOINT: sink,
        ...xray(proxies.all),
      },
      traced: true,
      missing: serviceMissing,
      experiment: true,
    },
    {
      id: 'b-bsp',
      label: '(b) exporting smaller batches sooner (OTEL_BSP_MAX_EXPORT_BATCH_SIZE=512, OTEL_BSP_SCHEDULE_DELAY=50)',
      cwd: appDir,
      nodeArgs: image,
      env: {
        ...common,
        OTEL_SERVICE_NAME: 'bench-b',
        OTEL_EXPORTER_OTLP_ENDPOINT: sink,
        ...xray(proxies.all),
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '512',
        OTEL_BSP_SCHEDULE_DELAY: '50',
      },
      traced: true,
      missing: serviceMissing,
      experiment: true,
    },
    {
      id: 'c',
      label: 'a0 under @opentelemetry/auto-instrumentations-node/register (defaults)',
      cwd: benchDir,
      nodeArgs: ['--require', '@opentelemetry/auto-instrumentations-node/register', peerApp],
      env: {
        ...common,
        BENCH_OTEL_API: '@opentelemetry/api',
        OTEL_SERVICE_NAME: 'bench-c',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink,
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
      },
      traced: true,
    },
    {
      id: 'd',
      label: 'a0 under the ADOT Node distro (…-autoinstrumentation/register)',
      cwd: benchDir,
      nodeArgs: ['--require', '@aws/aws-distro-opentelemetry-node-autoinstrumentation/register', peerApp],
      env: {
        ...common,
        // The distro registers the global API with its pinned @opentelemetry/api 1.9.1; the app must use 1.9.x.
        BENCH_OTEL_API: 'otel-api-1.9',
        OTEL_SERVICE_NAME: 'bench-d',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink,
        OTEL_TRACES_SAMPLER: 'parentbased_always_on',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_AWS_APPLICATION_SIGNALS_ENABLED: 'false',
      },
      traced: true,
    },
    {
      id: 'd-rule',
      label: "(d) at X-Ray's default rule from the same fake proxy (the distro's xray sampler)",
      cwd: benchDir,
      nodeArgs: ['--require', '@aws/aws-distro-opentelemetry-node-autoinstrumentation/register', peerApp],
      env: {
        ...common,
        BENCH_OTEL_API: 'otel-api-1.9',
        OTEL_SERVICE_NAME: 'bench-d',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sink,
        ...xray(proxies.default),
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_AWS_APPLICATION_SIGNALS_ENABLED: 'false',
      },
      traced: true,
      sampling: proxies.default,
    },
  ];
  // The orders variants: their twins with the table's environment (as the stack sets it, plus dynalite's endpoint).
  const twins = { 'a-ddb': 'a', 'b-ddb': 'b', 'b-rule-ddb': 'b-rule' };
  for (const [id, twinId] of Object.entries(twins)) {
    const twin = variants.find((v) => v.id === twinId);
    variants.push({
      ...twin,
      id,
      label: `(${twinId}) with its orders in a DynamoDB table (dynalite)`,
      env: { ...twin.env, ...dynamo?.env },
      missing: twin.missing ?? dynamo?.missing,
    });
  }
  return variants;
}

/** The sampler settings of the task (contract: xray, the proxy, rules polled every 60 s), pointed at a fake proxy. */
function xray(proxy) {
  return {
    OTEL_TRACES_SAMPLER: 'xray',
    OTEL_TRACES_SAMPLER_ARG: `endpoint=${proxy.endpoint},polling_interval=60`,
  };
}
