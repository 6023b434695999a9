// The service's environment, read and validated once at start. A bad value ends the process with one JSON line
// that names the variable and what it accepts, so a misconfigured task fails fast and says why in its logs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, LOG_LEVELS, type LogLevel } from './logger';

/** OTEL_LOG_LEVEL's values, as the OpenTelemetry specification names them. */
export const SDK_LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;
export type SdkLogLevel = (typeof SDK_LOG_LEVELS)[number];

export interface Config {
  /** Public listener port; 0 picks a free port (tests). */
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly sdkDisabled: boolean;
  /** How much of the SDK's own diagnostics reaches the log (OTEL_LOG_LEVEL). */
  readonly sdkLogLevel: SdkLogLevel;
  /** OTLP gRPC endpoint of the collector. */
  readonly otlpEndpoint: string;
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** Attributes from OTEL_RESOURCE_ATTRIBUTES, with `aws.log.group.*` split into lists. */
  readonly resourceAttributes: Readonly<Record<string, string | string[]>>;
  readonly bsp: {
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly scheduledDelayMillis: number;
    readonly exportTimeoutMillis: number;
  };
  /** Which requests are recorded (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG). */
  readonly sampler: SamplerConfig;
  /** Base URL of the pricing service; undefined means this service's own internal loopback listener. */
  readonly pricingUrl: string | undefined;
  /** Time allowed from SIGTERM to exit, for draining requests and flushing spans. */
  readonly shutdownTimeoutMs: number;
  /** The listeners' timeouts and the public listener's connection cap (see http-limits.ts). */
  readonly http: HttpLimits;
  /** Where orders are kept: a DynamoDB table (ORDERS_TABLE_NAME), else this process's memory. */
  readonly orders: OrdersConfig;
}

/**
 * The orders table. `region` is required with a table: the SDK would otherwise fail every call at run time. The
 * endpoint is the SDK's own standard variable, read by the SDK itself; it is validated here only so that a typo fails at
 * start rather than on every order.
 */
export type OrdersConfig =
  | { readonly store: 'memory' }
  | { readonly store: 'dynamodb'; readonly tableName: string; readonly region: string; readonly endpoint?: string };

/** Limits on slow clients and on connections, applied where the servers are created (http-limits.ts). */
export interface HttpLimits {
  /** Time for a request's headers to arrive, from its first byte. */
  readonly headersTimeoutMs: number;
  /** Time for a whole request (headers and body) to arrive; more than headersTimeoutMs. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept; longer than the load balancer's idle timeout (60 s). */
  readonly keepAliveTimeoutMs: number;
  /** Connections the public listener holds at once; more are closed as they arrive. */
  readonly maxConnections: number;
}

/**
 * The sampler, named as the ADOT distro names it. `xray` asks the collector's X-Ray proxy for the sampling rules
 * (falling back to X-Ray's default of 1 request a second plus 5% until it answers); the others decide locally. The
 * `parentbased_` forms are accepted as the same samplers: a child span here always follows its parent, and at the
 * public listener a caller's sampled flag never decides (see telemetry/sampler.ts).
 */
export type SamplerConfig =
  | { readonly name: 'xray'; readonly endpoint: string; readonly pollingIntervalS: number }
  | { readonly name: 'always_on' | 'always_off' }
  | { readonly name: 'traceidratio'; readonly ratio: number };

export const SAMPLER_NAMES = [
  'xray',
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** The collector's awsproxy extension, as the task runs it. */
export const DEFAULT_XRAY_ENDPOINT = 'http://localhost:2000';
/**
 * How often the rules are fetched when OTEL_TRACES_SAMPLER_ARG does not say: the task's own setting
 * (SAMPLING_RULES_POLL_SECONDS in lib/observed-task-definition.ts), so that a local start says what the task does and
 * what the README's diagram shows. The X-Ray SDKs and ADOT default to 300 s.
 */
export const DEFAULT_XRAY_POLLING_INTERVAL_S = 60;

/** The sampler in a few words, for the `listening` line. */
export function describeSampler(sampler: SamplerConfig): string {
  switch (sampler.name) {
    case 'xray':
      return `xray ${sampler.endpoint}, rules every ${sampler.pollingIntervalS} s`;
    case 'traceidratio':
      return `traceidratio ${sampler.ratio}`;
    default:
      return sampler.name;
  }
}

/** DynamoDB's rule for table names (CreateTable's TableName): 3 to 255 of these characters. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
/**
 * An AWS region's form (`eu-west-1`, `us-gov-west-1`, `ap-southeast-5`, `eusc-de-east-1`), not a list: new regions
 * keep the form. It is what every partition's regionRegex in the AWS SDK's partitions.json has in common
 * (@aws-sdk/core, dist-es/submodules/client/util-endpoints/lib/aws/partitions.js), at most 20 characters. The CDK
 * app's `region` context key takes the same pattern (lib/settings.ts; this package cannot import it), and
 * test/context.test.ts runs one list of names through both.
 */
export const AWS_REGION_PATTERN = /^(?=.{1,20}$)[a-z]{2,4}(?:-[a-z]+){1,2}-\d+$/;

export function parseOrders(env: Env): OrdersConfig {
  const tableName = value(env, 'ORDERS_TABLE_NAME');
  if (tableName === undefined) return { store: 'memory' };
  if (!TABLE_NAME.test(tableName)) {
    throw new ConfigError('ORDERS_TABLE_NAME', 'a DynamoDB table name: 3 to 255 of A-Z a-z 0-9 _ . -');
  }
  const region = value(env, 'AWS_REGION');
  if (region === undefined || !AWS_REGION_PATTERN.test(region)) {
    throw new ConfigError('AWS_REGION', 'an AWS region such as eu-west-1 (required with ORDERS_TABLE_NAME)');
  }
  const endpoint = httpUrl(env, 'AWS_ENDPOINT_URL_DYNAMODB');
  return { store: 'dynamodb', tableName, region, ...(endpoint !== undefined ? { endpoint } : {}) };
}

/** Thrown for a bad value; `fail` turns it into the JSON line and the exit code. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly accepts: string,
  ) {
    super(`invalid configuration: ${variable} must be ${accepts}`);
  }
}

export const DEFAULT_LOG_GROUP = 'otel-test';

/**
 * Spans held while the collector is slow or away, sized from a memory budget: the task has 1024 MiB shared with the
 * ADOT collector (limit 256 MiB) and Fluent Bit (about 50 MiB); the service idles near 75 MB RSS and reaches about
 * 150 MB under saturating load. A queued span costs 1.7-2.2 KB (`GET /`) to 2.5-3.2 KB (`POST /orders`) of RSS,
 * measured with `node scripts/queue-memory.mjs` (docs/service.md), so 16,384 spans cost 28 to 52 MB: a full queue keeps the service
 * near 200 MB, and it still holds over a second of spans at saturation while one export is in flight.
 */
export const DEFAULT_MAX_QUEUE_SIZE = 16_384;
/** The specification's default; 512 spans with values cut at 512 characters stay far below gRPC's 4 MiB. */
export const DEFAULT_MAX_EXPORT_BATCH_SIZE = 512;
/**
 * Largest batch allowed: gRPC receivers (the collector included) refuse messages over 4 MiB by default, and a span
 * whose client-controlled values are all at the 512-character cut encodes to under 3 KB, so 1024 spans stay under
 * 3 MiB.
 */
export const MAX_EXPORT_BATCH_SIZE = 1024;
/**
 * Well inside the load balancer's 60 s idle timeout, which a trickling client never trips because it keeps sending:
 * the load balancer sends a request's headers in one go once it has them, so a slow header can only come from a
 * client that reaches the task directly.
 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/**
 * A whole request, body included: an order is a few dozen bytes and the body limit 16 KB, which even a slow mobile
 * link sends in about a second. A trickling body (one byte every few seconds keeps the load balancer's idle timer
 * from firing) is cut here, answered 408, instead of at Node's default of 300 s.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Longer than the load balancer's idle timeout (60 s), so the load balancer, not the service, closes idle connections. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;
/**
 * From a memory budget of 64 MiB for connections, out of the service's share of the task (1024 MiB less the sidecars'
 * 306 MiB; the service itself runs near 80 MB idle and 135 MB with a full span queue). A connection held open
 * mid-request, with its span started, costs 46-50 KB of RSS (`node scripts/connection-memory.mjs 1024`: 1,024 of them
 * added 47-49 MB), so 1,024 of them fit the budget. The load balancer keeps far fewer open to one task: at the
 * scaling target of 1000 requests a minute per task, a handful.
 */
export const DEFAULT_MAX_CONNECTIONS = 1024;
const LOG_GROUP_KEYS = new Set(['aws.log.group.names', 'aws.log.group.arns']);

type Env = Readonly<Record<string, string | undefined>>;

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/** @param variable and accepts: what an error names, when the value is one part of a variable. */
function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
  variable = name,
  accepts = `an integer from ${min} to ${max}`,
): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const parsed = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(variable, accepts);
  }
  return parsed;
}

function httpUrl(
  env: Env,
  name: string,
  variable = name,
  accepts = 'an absolute http:// or https:// URL',
): string | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(variable, accepts);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ConfigError(variable, accepts);
  }
  return raw.replace(/\/+$/, '');
}

function samplerArgument(env: Env, accepts: string): string | undefined {
  const raw = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (raw !== undefined && raw.length > 1024) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', accepts);
  return raw;
}

/** OTEL_TRACES_SAMPLER and its OTEL_TRACES_SAMPLER_ARG, which only `xray` and the ratio samplers take. */
export function parseSampler(env: Env): SamplerConfig {
  const raw = (value(env, 'OTEL_TRACES_SAMPLER') ?? 'xray').toLowerCase();
  if (!(SAMPLER_NAMES as readonly string[]).includes(raw)) {
    throw new ConfigError('OTEL_TRACES_SAMPLER', `one of ${SAMPLER_NAMES.join(', ')}`);
  }
  const name = raw.replace(/^parentbased_/, '');
  if (name === 'always_on' || name === 'always_off') return { name };
  if (name === 'traceidratio') {
    const accepts = 'a number from 0 to 1 (the share of requests recorded) for traceidratio';
    const arg = samplerArgument(env, accepts);
    if (arg === undefined) return { name, ratio: 1 };
    const ratio = /^(?:0|1|0?\.\d+|1\.0*)$/.test(arg) ? Number(arg) : NaN;
    if (!(ratio >= 0 && ratio <= 1)) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', accepts);
    return { name, ratio };
  }
  const accepts =
    'endpoint=<http URL of the X-Ray sampling proxy>,polling_interval=<seconds from 1 to 3600> for xray (both optional)';
  let endpoint = DEFAULT_XRAY_ENDPOINT;
  let pollingIntervalS = DEFAULT_XRAY_POLLING_INTERVAL_S;
  for (const pair of (samplerArgument(env, accepts) ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    const setting = pair.slice(eq + 1).trim();
    if (key === 'endpoint') {
      const url = httpUrl({ endpoint: setting }, 'endpoint', 'OTEL_TRACES_SAMPLER_ARG', accepts);
      if (url === undefined) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', accepts);
      endpoint = url;
    } else if (key === 'polling_interval') {
      pollingIntervalS = integer(
        { polling_interval: setting },
        'polling_interval',
        0,
        1,
        3600,
        'OTEL_TRACES_SAMPLER_ARG',
        accepts,
      );
    } else {
      throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', accepts);
    }
  }
  return { name: 'xray', endpoint, pollingIntervalS };
}

/** `key1=value1,key2=value2`, values percent-encoded, as the OpenTelemetry specification defines it. */
export function parseResourceAttributes(raw: string | undefined): Record<string, string | string[]> {
  const accepts = 'a comma-separated list of key=value pairs (values percent-encoded)';
  const attributes: Record<string, string | string[]> = {};
  if (raw === undefined) return attributes;
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    if (key === '' || !/^[\x21-\x7e]+$/.test(key)) throw new ConfigError('OTEL_RESOURCE_ATTRIBUTES', accepts);
    let decoded: string;
    try {
      decoded = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new ConfigError('OTEL_RESOURCE_ATTRIBUTES', accepts);
    }
    // The X-Ray exporter accepts a string split on '&' or a list; a list is what the semantic conventions define.
    attributes[key] = LOG_GROUP_KEYS.has(key) ? decoded.split('&').filter((part) => part !== '') : decoded;
  }
  return attributes;
}

function packageInfo(): { name: string; version: string } {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
      name?: string;
      version?: string;
    };
    return { name: pkg.name ?? 'otel-fargate-service', version: pkg.version ?? '0.0.0' };
  } catch {
    return { name: 'otel-fargate-service', version: '0.0.0' };
  }
}

/** Validates the environment; throws ConfigError for the first bad variable. */
export function parseConfig(env: Env): Config {
  const port = integer(env, 'PORT', 8080, 0, 65535);

  const logLevel = (value(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `one of ${LOG_LEVELS.join(', ')}`);
  }

  const sdkLogLevel = (value(env, 'OTEL_LOG_LEVEL') ?? 'warn').toLowerCase();
  if (!(SDK_LOG_LEVELS as readonly string[]).includes(sdkLogLevel)) {
    throw new ConfigError('OTEL_LOG_LEVEL', `one of ${SDK_LOG_LEVELS.join(', ')}`);
  }

  const disabledRaw = (value(env, 'OTEL_SDK_DISABLED') ?? 'false').toLowerCase();
  if (disabledRaw !== 'true' && disabledRaw !== 'false') throw new ConfigError('OTEL_SDK_DISABLED', 'true or false');

  // The signal-specific variable wins, as the OTLP exporter specification says; for gRPC both are used as given.
  const otlpEndpoint =
    httpUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ??
    httpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ??
    'http://localhost:4317';

  const resourceAttributes = parseResourceAttributes(value(env, 'OTEL_RESOURCE_ATTRIBUTES'));
  if (resourceAttributes['aws.log.group.names'] === undefined) {
    resourceAttributes['aws.log.group.names'] = [DEFAULT_LOG_GROUP];
  }

  const pkg = packageInfo();
  const fromAttributes = resourceAttributes['service.name'];
  const serviceName =
    value(env, 'OTEL_SERVICE_NAME') ?? (typeof fromAttributes === 'string' ? fromAttributes : pkg.name);

  const maxQueueSize = integer(env, 'OTEL_BSP_MAX_QUEUE_SIZE', DEFAULT_MAX_QUEUE_SIZE, 1, 1_048_576);
  const maxExportBatchSize = integer(
    env,
    'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    Math.min(DEFAULT_MAX_EXPORT_BATCH_SIZE, maxQueueSize),
    1,
    MAX_EXPORT_BATCH_SIZE,
  );
  if (maxExportBatchSize > maxQueueSize) {
    throw new ConfigError(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
      `an integer from 1 to OTEL_BSP_MAX_QUEUE_SIZE (${maxQueueSize})`,
    );
  }
  const scheduledDelayMillis = integer(env, 'OTEL_BSP_SCHEDULE_DELAY', 200, 0, 60_000);
  const exportTimeoutMillis = integer(env, 'OTEL_BSP_EXPORT_TIMEOUT', 10_000, 1, 60_000);

  return {
    port,
    logLevel: logLevel as LogLevel,
    sdkDisabled: disabledRaw === 'true',
    sdkLogLevel: sdkLogLevel as SdkLogLevel,
    otlpEndpoint,
    serviceName,
    serviceVersion: pkg.version,
    resourceAttributes,
    bsp: { maxQueueSize, maxExportBatchSize, scheduledDelayMillis, exportTimeoutMillis },
    sampler: parseSampler(env),
    pricingUrl: httpUrl(env, 'PRICING_URL'),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 25_000),
    http: httpLimits(env),
    orders: parseOrders(env),
  };
}

function httpLimits(env: Env): HttpLimits {
  const headersTimeoutMs = integer(env, 'HTTP_HEADERS_TIMEOUT_MS', DEFAULT_HEADERS_TIMEOUT_MS, 100, 60_000);
  const requestTimeoutMs = integer(
    env,
    'HTTP_REQUEST_TIMEOUT_MS',
    Math.max(DEFAULT_REQUEST_TIMEOUT_MS, headersTimeoutMs + 1),
    101,
    300_000,
  );
  // Node checks headersTimeout <= requestTimeout itself; strictly more, so a slow body always has some time.
  if (requestTimeoutMs <= headersTimeoutMs) {
    throw new ConfigError(
      'HTTP_REQUEST_TIMEOUT_MS',
      `an integer from HTTP_HEADERS_TIMEOUT_MS + 1 (${headersTimeoutMs + 1}) to 300000`,
    );
  }
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: integer(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', DEFAULT_KEEP_ALIVE_TIMEOUT_MS, 1000, 600_000),
    maxConnections: integer(env, 'MAX_CONNECTIONS', DEFAULT_MAX_CONNECTIONS, 1, 1_000_000),
  };
}

let loaded: Config | undefined;

/** The process's configuration; on a bad value writes one JSON line to stdout and exits 1. */
export function loadConfig(): Config {
  if (loaded) return loaded;
  try {
    loaded = parseConfig(process.env);
    return loaded;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // The service's own logger (synchronous to stdout), so this line has the same fields and time form as every other.
    createLogger('info', undefined, false).fatal({ variable: error.variable, accepts: error.accepts }, error.message);
    process.exit(1);
  }
}
