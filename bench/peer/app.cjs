'use strict';
// The service's routes as a plain Express 5 + pino app. Variant a0 runs it with no OpenTelemetry code loaded at
// all; variants c and d run the very same file under the peers' zero-code agents (--require …/register), which
// then trace it: the child spans come from the OpenTelemetry API named by BENCH_OTEL_API, the one the agent
// registered (the ADOT distro pins api 1.9.1 exactly; an app on 1.10 would get a no-op API and no spans).
// CommonJS on purpose: the agents patch express, http and pino through require hooks. Variant (lean) runs it with
// BENCH_LEAN=1: bench/lean/tracing.cjs wraps its listeners and its log destination.
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const express = require('express');
const pino = require('pino');

const apiModule = process.env.BENCH_OTEL_API;
const api = apiModule ? require(apiModule) : undefined;
const tracer = api ? api.trace.getTracer('bench-peer') : undefined;
const lean = process.env.BENCH_LEAN === '1' ? require('../lean/tracing.cjs') : undefined;

/** Runs one step of a request in its own child span when an API is loaded; the plain call otherwise. */
async function step(name, options, work) {
  if (!tracer) return work(undefined);
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error);
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: error.message });
      logger.error({ step: name, err: error }, `${name} failed`);
      throw error;
    } finally {
      span.end();
    }
  });
}

// The service's logger settings (ISO time, level labels, no pid/hostname, synchronous stdout), minus its trace
// mixin: under (c) and (d) the agents' pino instrumentation adds the trace fields instead.
const logger = pino(
  {
    level: process.env.LOG_LEVEL ?? 'info',
    base: undefined,
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  lean ? lean.correlating(pino.destination({ dest: 1, sync: true })) : pino.destination({ dest: 1, sync: true }),
);

// The service's catalogue rule (FNV-1a of the SKU), its bounded LRU cache and bounded order store.
function priceFor(sku) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < sku.length; i += 1) {
    hash ^= sku.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return { sku, unitPriceCents: 100 + (hash % 9900), currency: 'USD' };
}
const products = new Map();
async function cacheRead(sku) {
  const cached = products.get(sku);
  if (cached !== undefined) {
    products.delete(sku);
    products.set(sku, cached);
    return { product: cached, hit: true };
  }
  const product = { sku, name: `Product ${sku}` };
  products.set(sku, product);
  if (products.size > 1000) products.delete(products.keys().next().value);
  return { product, hit: false };
}
const orders = new Map();
async function storePut(order) {
  const stored = { id: randomUUID(), ...order, createdAt: new Date().toISOString() };
  orders.set(stored.id, stored);
  if (orders.size > 10_000) orders.delete(orders.keys().next().value);
  return stored;
}

// The downstream call: an HTTP GET to the pricing route on a second, loopback-only listener, as the service does.
const internal = http.createServer();
const pricingAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function quote(sku) {
  const port = internal.address().port;
  return step('pricing.call', { kind: 2, attributes: { 'peer.service': 'pricing' } }, async () => {
    const price = await new Promise((resolve, reject) => {
      const request = http.get(
        {
          host: '127.0.0.1',
          port,
          path: `/prices/${encodeURIComponent(sku)}`,
          agent: pricingAgent,
          headers: lean?.outgoingHeaders(),
        },
        (response) => {
          const chunks = [];
          response.on('data', (chunk) => chunks.push(chunk));
          response.once('end', () => {
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      request.once('error', reject);
    });
    logger.info({ sku, unit_price_cents: price.unitPriceCents }, 'price received from pricing');
    return price;
  });
}

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.set('query parser', false);

app.get('/healthz', (_req, res) => {
  res.status(200).json({ status: 'ok' });
});

const clip = (value, max = 256) => (value.length <= max ? value : `${value.slice(0, max)}…`);
app.use((req, res, next) => {
  const started = process.hrtime.bigint();
  let finished = false;
  res.once('finish', () => {
    finished = true;
    logger.info(
      {
        method: clip(req.method, 16),
        route: req.route?.path,
        path: clip(req.path),
        status: res.statusCode,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
        alb_trace_id: lean?.albRoot(),
      },
      'request completed',
    );
  });
  res.once('close', () => {
    if (!finished) logger.warn({ method: clip(req.method, 16), path: clip(req.path) }, 'client went away');
  });
  next();
});

app.get('/', (_req, res) => {
  // The original's child span, active while it logs, ended synchronously as in the service.
  if (tracer) {
    tracer.startActiveSpan('about', (span) => {
      logger.info('about us page');
      span.end();
    });
  } else {
    logger.info('about us page');
  }
  res.type('text/plain').send('Welcome to the Home Page!');
});

app.get('/prices/:sku', (req, res) => {
  const price = priceFor(req.params.sku);
  logger.info({ sku: req.params.sku, unit_price_cents: price.unitPriceCents }, 'price quoted');
  res.json(price);
});

app.post('/orders', express.json({ limit: '16kb' }), async (req, res) => {
  const { sku, quantity } = req.body ?? {};
  if (typeof sku !== 'string' || !Number.isSafeInteger(quantity) || quantity < 1 || quantity > 1000) {
    logger.info('order rejected');
    res.status(400).json({ error: 'bad_request' });
    return;
  }
  const { product, hit } = await step('cache.read', { attributes: { 'cache.key': sku } }, async (span) => {
    const result = await cacheRead(sku);
    span?.setAttribute('cache.hit', result.hit);
    logger.info({ sku, cache_hit: result.hit }, 'product read from cache');
    return result;
  });
  const price = await quote(product.sku);
  const stored = await step('store.write', { attributes: { 'db.operation.name': 'put' } }, async (span) => {
    const saved = await storePut({
      sku,
      quantity,
      unitPriceCents: price.unitPriceCents,
      totalCents: price.unitPriceCents * quantity,
      currency: price.currency,
    });
    span?.setAttribute('order.id', saved.id);
    logger.info({ order_id: saved.id, cache_hit: hit, total_cents: saved.totalCents }, 'order stored');
    return saved;
  });
  res.status(201).json({ order: stored });
});

app.use((_req, res) => {
  res.status(404).json({ error: 'not_found' });
});

const rules = lean?.rulesFromEnv(process.env);
internal.on('request', lean ? lean.traceRequests(app, 'internal', rules) : app);
internal.listen(0, '127.0.0.1');
const server = http.createServer(lean ? lean.traceRequests(app, 'public', rules) : app);
// The service's keep-alive timeout (65 s, past the load balancer's 60 s idle timeout) instead of Node's 5 s, which a
// server slowed down under callgrind (lib/instructions.mjs) can pass between two requests on one connection.
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 8080));

async function stop() {
  const deadline = setTimeout(() => process.exit(1), 10_000);
  deadline.unref();
  await new Promise((resolve) => {
    server.close(resolve);
    server.closeIdleConnections();
  });
  internal.closeAllConnections();
  internal.close();
  pricingAgent.destroy();
  // The agents own the tracer provider; flush whatever sits in its batch queue through the API.
  if (api) {
    const provider = api.trace.getTracerProvider();
    const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
    if (typeof delegate.forceFlush === 'function') await delegate.forceFlush();
  }
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
