// Loaded before the service (`node --import ./dist/instrumentation.js dist/server.js`) so that `http` is patched
// before anything requires it. With OTEL_SDK_DISABLED=true nothing of the SDK is even loaded: instrumentations
// patch modules as soon as they are constructed, so "built but not started" would still cost throughput.
// server.js requires this module again for `shutdownTracing`; Node's `--import` of a CommonJS file goes through the
// same require cache, so that require returns this instance and starts nothing twice.
import { loadConfig } from './config';
import { createLogger } from './logger';
import type { Tracing } from './tracing';

const config = loadConfig();
let tracing: Tracing | undefined;
if (!config.sdkDisabled) {
  // grpc-js writes its own errors to stderr (console.error) unless told otherwise; export failures already reach
  // the JSON log through the exporter, so its logging is off unless the environment asks for it.
  process.env.GRPC_VERBOSITY ??= 'NONE';
  // A synchronous require on purpose: the SDK must be in place before this preload returns and server.js runs,
  // which an `await import()` in a CommonJS preload cannot guarantee.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdk = require('./tracing') as typeof import('./tracing');
  tracing = sdk.startTracing(config, createLogger(config.logLevel, undefined, false));
}

/**
 * Ends tracing: exports every queued span (rejecting if an export fails). Resolves at once when tracing is off.
 */
export function shutdownTracing(): Promise<void> {
  return tracing?.provider.shutdown() ?? Promise.resolve();
}
