// Loaded before the service (`node --import ./dist/instrumentation.js dist/server.js`) so that `http` is patched
// before anything requires it. With OTEL_SDK_DISABLED=true nothing of the SDK is even loaded: instrumentations
// patch modules as soon as they are constructed, so "built but not started" would still cost throughput.
import { loadConfig } from './config';
import { createLogger } from './logger';

const config = loadConfig();
if (!config.sdkDisabled) {
  // A synchronous require on purpose: the SDK must be in place before this preload returns and server.js runs,
  // which an `await import()` in a CommonJS preload cannot guarantee.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tracing = require('./tracing') as typeof import('./tracing');
  tracing.startTracing(config, createLogger(config.logLevel, undefined, false));
}
