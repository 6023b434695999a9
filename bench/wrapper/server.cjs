'use strict';
// The unrecorded-request wrapper alone, for its instruction count (bench/wrapper.mjs, issue 22 item 3): one listener
// that writes the two lines a request writes (a line inside the handler, the access line with the load balancer's
// Root) and answers, served as it is (bare), inside the lean version's wrapper (lean, bench/lean/tracing.cjs), or
// inside the service's own (service: app/src/instrumentation.ts with the environment's sampler, the X-Ray rules).
// Without Express around it, the wrapper is most of what the process does per request, so the count resolves a
// change of a few hundred instructions that the whole service's counts bury in their noise. The service's modules are
// its TypeScript sources loaded through tsx, not app/dist's bundle: the same code, bundled differently.
// `node --import tsx bench/wrapper/server.cjs <bare|lean|service>`, on PORT.
const { createRequire } = require('node:module');
const http = require('node:http');
const path = require('node:path');
const lean = require('../lean/tracing.cjs');
const { albRootToRecord, parseAlbRoot } = require('../../app/src/access-log.ts');
const { createLogger } = require('../../app/src/logger.ts');

// The service's own copies of pino and the OpenTelemetry API, for every variant alike.
const appRequire = createRequire(path.join(__dirname, '..', '..', 'app', 'package.json'));
const pino = appRequire('pino');
const { trace } = appRequire('@opentelemetry/api');

/** Runs a step's work as it is: what a wrapper with no span per step does. */
const asItIs = (_name, work) => work();

/**
 * The handler: its line inside a step, as GET / writes it (`inChildSpan('about', …)` in the service), the answer,
 * and the access line; `albTraceId` is what the variant puts on the access line.
 */
function handler(logger, albTraceId, step = asItIs) {
  return (req, res) => {
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    step('about', () => logger.info({ path: req.url }, 'handling'));
    res.setHeader('content-type', 'text/plain');
    res.end('ok');
    logger.info({ status: res.statusCode, alb_trace_id: albTraceId(req) }, 'request completed');
  };
}

function listenerOf(variant) {
  switch (variant) {
    case 'bare':
      return handler(createLogger('info', undefined, false), (req) => parseAlbRoot(req.headers['x-amzn-trace-id']));
    case 'lean': {
      const logger = createLogger('info', lean.correlating(pino.destination({ dest: 1, sync: true })), false);
      return lean.traceRequests(
        handler(logger, () => lean.albRoot()),
        'public',
        lean.rulesFromEnv(process.env),
      );
    }
    case 'service': {
      const { instrumentListener } = require('../../app/src/instrumentation.ts');
      const { inChildSpan } = require('../../app/src/step.ts');
      const albTraceId = (req) =>
        albRootToRecord(parseAlbRoot(req.headers['x-amzn-trace-id']), trace.getActiveSpan()?.spanContext().traceId);
      return instrumentListener(handler(createLogger('info'), albTraceId, inChildSpan), 'public');
    }
    default:
      throw new Error(`usage: server.cjs <bare|lean|service>, not ${variant}`);
  }
}

http
  .createServer({ keepAliveTimeout: 65_000 }, listenerOf(process.argv[2]))
  .listen(Number(process.env.PORT), '127.0.0.1');
