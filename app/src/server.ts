// Starts the service and stops it cleanly. On SIGTERM/SIGINT: stop accepting, let in-flight requests finish, flush
// the spans, exit 0, all within SHUTDOWN_TIMEOUT_MS, even if the collector accepts connections and never answers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace, type ProxyTracerProvider } from '@opentelemetry/api';
import { createApp } from './app';
import { loadConfig } from './config';
import { createLogger } from './logger';
import { HttpPricingClient } from './pricing';
import { InMemoryOrderStore, InMemoryProductCache } from './store';

const config = loadConfig();
const logger = createLogger(config.logLevel);

// The pricing hop goes to this same app on a second, loopback-only listener unless PRICING_URL names another
// service. A separate listener lets orders in flight at shutdown still reach pricing after the public port closed.
const internal = http.createServer();
const publicServer = http.createServer();
const pricing = new HttpPricingClient(
  () => config.pricingUrl ?? `http://127.0.0.1:${(internal.address() as AddressInfo).port}`,
  logger,
);
const app = createApp({
  logger,
  store: new InMemoryOrderStore(),
  cache: new InMemoryProductCache(),
  pricing,
});
internal.on('request', app);
publicServer.on('request', app);
// Longer than the ALB's idle timeout (60 s), so the load balancer, not the service, closes idle connections.
publicServer.keepAliveTimeout = 65_000;

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

/** The SDK's provider when tracing is on (the API hands out a proxy to it), else undefined. */
function sdkProvider(): { shutdown(): Promise<void> } | undefined {
  const delegate = (trace.getTracerProvider() as Partial<ProxyTracerProvider>).getDelegate?.();
  return delegate && 'shutdown' in delegate ? (delegate as { shutdown(): Promise<void> }) : undefined;
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(ms, 0));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const deadline = Date.now() + config.shutdownTimeoutMs;
  logger.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'shutting down');

  // Half the budget for requests to finish; whatever is still open then is cut so that spans can be flushed.
  const drained = await within(close(publicServer), config.shutdownTimeoutMs / 2);
  if (drained === 'timeout') publicServer.closeAllConnections();
  internal.closeAllConnections();
  await within(close(internal), 100);
  pricing.close();

  const provider = sdkProvider();
  const flushed = provider
    ? await within(
        provider.shutdown().then(() => 'ok' as const),
        deadline - Date.now(),
      )
    : 'ok';
  if (flushed === 'timeout') {
    logger.warn('span flush did not finish before the shutdown deadline; the collector is not answering');
  }
  logger.info({ drained: drained !== 'timeout', spans_flushed: flushed === 'ok' }, 'stopped');
  process.exit(0);
}

process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

async function main(): Promise<void> {
  await listen(internal, 0, '127.0.0.1');
  await listen(publicServer, config.port);
  const port = (publicServer.address() as AddressInfo).port;
  logger.info(
    { port, tracing: !config.sdkDisabled, otlp_endpoint: config.sdkDisabled ? undefined : config.otlpEndpoint },
    'listening',
  );
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, 'could not start');
  process.exit(1);
});
