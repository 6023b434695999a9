// Imported by main.ts before the service, so that `http` is patched before anything requires it. With
// OTEL_SDK_DISABLED=true nothing of the SDK even runs (its modules sit in the bundle uninitialised until
// `require('./tracing')`): instrumentations patch modules as soon as they are constructed, so "built but not
// started" would still cost throughput. server.ts imports this module too, for `shutdownTracing`: one instance.
import { loadConfig } from './config';
import { createLogger } from './logger';
import type { Tracing } from './tracing';

const config = loadConfig();
let tracing: Tracing | undefined;
if (!config.sdkDisabled) {
  // grpc-js writes its own errors to stderr (console.error) unless told otherwise; export failures already reach
  // the JSON log through the exporter, so its logging is off unless the environment asks for it.
  process.env.GRPC_VERBOSITY ??= 'NONE';
  // A synchronous require on purpose: the SDK must be in place before main.ts imports the service, which an
  // `await import()` cannot guarantee; and a require, unlike an import, leaves the SDK unrun when tracing is off.
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
