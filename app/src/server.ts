// Starts the service and stops it cleanly. On SIGTERM/SIGINT: stop accepting, let in-flight requests finish, flush
// the spans, exit 0, all within SHUTDOWN_TIMEOUT_MS, even if the collector accepts connections and never answers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';
import { describeSampler, loadConfig } from './config';
import { serverOptions, watchListeners, type EdgeWatch } from './http-limits';
import { instrumentListener, shutdownTracing } from './instrumentation';
import { createLogger } from './logger';
import { HttpPricingClient } from './pricing';
import type { FlushReport } from './telemetry/sdk';
import { InMemoryOrderStore, InMemoryProductCache, type OrderStore } from './store';

const config = loadConfig();
// With tracing off there is never a span to read, so the lines skip the correlation lookup altogether.
const logger = createLogger(config.logLevel, undefined, !config.sdkDisabled);

// The pricing hop goes to this same app on a second, loopback-only listener unless PRICING_URL names another
// service. A separate listener lets orders in flight at shutdown still reach pricing after the public port closed.
// Both listeners cut slow requests (http-limits.ts); only the public one, which the internet reaches through the load
// balancer, needs a connection cap: the internal one serves this process's own pricing client (64 sockets at most).
// Once stopping, every response closes its connection: a keep-alive client (the ALB) would otherwise hold an idle
// socket open and make the drain wait for its whole budget. A response whose head is not written yet says
// `Connection: close` when it is (drainOnStop); a connection whose response had already started is closed as that
// response finishes, by a keep-alive timeout of a millisecond set at stop, which Node reads as each response finishes
// (_http_server.js, resOnFinish). Nothing is kept per request for it: a Set of responses and two listeners on each
// were paid by every request, tracing on or off, for a moment that comes once.
let stopping = false;

const internal = http.createServer(serverOptions(config.http));
const publicServer = http.createServer(serverOptions(config.http));
publicServer.maxConnections = config.http.maxConnections;
let edgeWatch: EdgeWatch | undefined;
const pricing = new HttpPricingClient(
  () => config.pricingUrl ?? `http://127.0.0.1:${(internal.address() as AddressInfo).port}`,
  logger,
);
const store = createStore();
const app = createApp({
  logger,
  store,
  cache: new InMemoryProductCache(),
  pricing,
});
internal.on('request', instrumentListener(app, 'internal'));
drainOnStop(app);
publicServer.on('request', instrumentListener(app, 'public'));

/**
 * The DynamoDB table when ORDERS_TABLE_NAME names one, else memory. A require, not an import: without a table the AWS
 * SDK's modules stay uninitialised in the bundle (as the OpenTelemetry SDK's do with tracing off).
 */
function createStore(): OrderStore & { close?: () => void } {
  const orders = config.orders;
  if (orders.store === 'memory') return new InMemoryOrderStore();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DynamoOrderStore } = require('./dynamo-store') as typeof import('./dynamo-store');
  // No endpoint: the SDK reads AWS_ENDPOINT_URL_DYNAMODB itself (config.ts only checks its form).
  return new DynamoOrderStore({ tableName: orders.tableName, region: orders.region });
}

/** The store, for the `listening` line: which one, and where. */
function storeFields(): Record<string, unknown> {
  const orders = config.orders;
  if (orders.store === 'memory') return { store: 'memory' };
  return {
    store: 'dynamodb',
    orders_table: orders.tableName,
    aws_region: orders.region,
    dynamodb_endpoint: orders.endpoint,
  };
}

/**
 * Every response of the app writes `Connection: close` once the service is stopping. On the app's response prototype
 * (`app.response`, which Express gives each `res`), so that it costs a request nothing until then.
 */
function drainOnStop(app: { response: http.ServerResponse }): void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with each response as `this`, below
  const inherited = app.response.writeHead;
  app.response.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    if (stopping && !this.headersSent) this.setHeader('connection', 'close');
    return (inherited as (...a: unknown[]) => http.ServerResponse).apply(this, args);
  };
}

/** Keep-alive connections close as their responses finish (drainOnStop: those not yet started). */
function closeConnectionsAfterResponses(): void {
  publicServer.keepAliveTimeout = 1;
  publicServer.keepAliveTimeoutBuffer = 0;
}

/** Descriptors the process needs besides the public connections: Node's own, the pricing hop's two ends, the exporter. */
const FD_HEADROOM = 256;

function listen(server: http.Server, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(ms, 0));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const deadline = Date.now() + config.shutdownTimeoutMs;
  logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'shutting down');

  // Half the budget for requests to finish; whatever is still open then is cut so that spans can be flushed.
  closeConnectionsAfterResponses();
  const drained = await within(close(publicServer), config.shutdownTimeoutMs / 2);
  if (drained === 'timeout') publicServer.closeAllConnections();
  internal.closeAllConnections();
  await within(close(internal), 100);
  pricing.close();
  store.close?.();
  edgeWatch?.stop();

  // A failed flush (collector refused, deadline exceeded, channel closed) is logged by the tracing shutdown and
  // reported, never thrown: the spans are lost either way, and the task must still stop with exit 0 and its
  // `stopped` line. Anything else that goes wrong there is logged here, and the task stops all the same.
  const flushed = await within(
    shutdownTracing().then(
      (report) => report,
      (error: unknown) => {
        logger.warn({ component: 'opentelemetry', err: error }, 'tracing shutdown failed');
        return 'failed' as const;
      },
    ),
    deadline - Date.now(),
  );
  if (flushed === 'timeout') {
    logger.warn('span flush did not finish before the shutdown deadline; the collector is not answering');
  }
  logger.info({ drained: drained !== 'timeout', ...spansFields(flushed) }, 'stopped');
  process.exit(0);
}

/**
 * `spans_flushed` is true only when the flush finished and worked, and no span was lost since start (a failed export
 * or a full queue); with tracing off there were no spans, and the line says nothing about them.
 */
function spansFields(flushed: FlushReport | undefined | 'failed' | 'timeout'): Record<string, unknown> {
  if (flushed === undefined) return {};
  if (typeof flushed === 'string') return { spans_flushed: false };
  return {
    spans_flushed: flushed.flushed && flushed.lostSpans === 0,
    ...(flushed.lostSpans > 0 ? { spans_lost: flushed.lostSpans } : {}),
  };
}

function onSignal(signal: NodeJS.Signals): void {
  shutdown(signal).catch((error: unknown) => {
    logger.fatal({ err: error }, 'shutdown failed');
    process.exit(1);
  });
}
// `on`, not `once`: a repeated signal must not kill the process mid-flush. Ctrl-C under `npm run` delivers SIGINT
// twice (the terminal signals the whole process group, and npm forwards its own copy); `stopping` ignores repeats.
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

// Whatever escapes is one JSON line on stdout, never a stack on stderr. While stopping, the shutdown carries on
// (it exits by its deadline); otherwise the process state is unknown, so it exits 1 and the task is replaced.
function onFatal(kind: string) {
  return (error: unknown): void => {
    if (stopping) {
      logger.error({ err: error, kind }, 'error while stopping');
      return;
    }
    logger.fatal({ err: error, kind }, 'crashed');
    process.exit(1);
  };
}
process.on('uncaughtException', onFatal('uncaughtException'));
process.on('unhandledRejection', onFatal('unhandledRejection'));

async function main(): Promise<void> {
  await listen(internal, 0, '127.0.0.1');
  await listen(publicServer, config.port);
  edgeWatch = watchListeners(publicServer, [internal], logger);
  const port = (publicServer.address() as AddressInfo).port;
  logger.info(
    {
      port,
      ...storeFields(),
      tracing: !config.sdkDisabled,
      otlp_endpoint: config.sdkDisabled ? undefined : config.otlpEndpoint,
      sampler: config.sdkDisabled ? undefined : describeSampler(config.sampler),
      max_connections: config.http.maxConnections,
      fd_limit: edgeWatch.fdLimit,
    },
    'listening',
  );
  if (edgeWatch.fdLimit !== undefined && edgeWatch.fdLimit < config.http.maxConnections + FD_HEADROOM) {
    logger.warn(
      { fd_limit: edgeWatch.fdLimit, max_connections: config.http.maxConnections },
      'the file descriptor limit is below the connection cap: connections past it are reset, not refused',
    );
  }
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, 'could not start');
  process.exit(1);
});
