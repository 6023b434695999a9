// Imported by main.ts before the service. With OTEL_SDK_DISABLED=true nothing of the SDK even runs (its modules sit
// in the bundle uninitialised until `require('./telemetry/sdk')`), the listeners are left as they are, and the
// logger skips the correlation lookup. server.ts imports this module too: one instance.
import { loadConfig } from './config';
import { createLogger } from './logger';
import type { Edge, RequestListener } from './telemetry/http-server';
import type { FlushReport, Tracing } from './telemetry/sdk';

const config = loadConfig();
let tracing: Tracing | undefined;
if (!config.sdkDisabled) {
  // grpc-js writes its own errors to stderr (console.error) unless told otherwise; export failures already reach
  // the JSON log through the exporter, so its logging is off unless the environment asks for it.
  process.env.GRPC_VERBOSITY ??= 'NONE';
  // A synchronous require on purpose: a require, unlike an import, leaves the SDK unrun when tracing is off, and the
  // SDK is in place before main.ts imports the service.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdk = require('./telemetry/sdk') as typeof import('./telemetry/sdk');
  tracing = sdk.startTracing(config, createLogger(config.logLevel, undefined, false));
}

/** The listener, each request in its own SERVER span when tracing is on; the listener itself when it is off. */
export function instrumentListener(listener: RequestListener, edge: Edge): RequestListener {
  return tracing?.instrument(listener, edge) ?? listener;
}

/**
 * Ends tracing: exports every queued span (rejecting if an export fails). Resolves with undefined when tracing is
 * off: there were no spans.
 */
export function shutdownTracing(): Promise<FlushReport | undefined> {
  return tracing?.shutdown() ?? Promise.resolve(undefined);
}
