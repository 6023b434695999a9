// The routes, without listening. Every line logged while a request is handled is correlated by the logger (logger.ts);
// each request ends with one access line (access-log.ts). Errors answer JSON with the X-Ray trace ID (responses.ts),
// so that a user can report it. The orders routes live in orders.ts.
import { trace } from '@opentelemetry/api';
import express, { type ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { accessLog } from './access-log';
import { clientErrorAnswer } from './client-errors';
import { clip } from './logger';
import { orderById, placeOrder, SKU } from './orders';
import { priceFor, type PricingClient } from './pricing';
import { sendError } from './responses';
import { inChildSpan, loggedByStep } from './step';
import type { OrderStore, ProductCache } from './store';

export interface AppDeps {
  readonly logger: Logger;
  readonly store: OrderStore;
  readonly cache: ProductCache;
  readonly pricing: PricingClient;
}

export function createApp(deps: AppDeps): express.Express {
  const { logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);

  // Before the access log: health checks are neither traced (telemetry/http-server.ts) nor logged.
  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });

  app.use(accessLog(logger));

  app.get('/', (_req, res) => {
    // The original's child span, active while it logs so that the line carries its IDs.
    inChildSpan('about', () => logger.info('about us page'));
    res.type('text/plain').send('Welcome to the Home Page!');
  });

  app.get('/prices/:sku', (req, res) => {
    const sku = req.params.sku;
    if (!SKU.test(sku)) {
      sendError(res, 400, 'bad_request', 'sku must be 1 to 64 printable ASCII characters');
      return;
    }
    const price = priceFor(sku);
    logger.info({ sku, unit_price_cents: price.unitPriceCents }, 'price quoted');
    res.json(price);
  });

  app.post('/orders', express.json({ limit: '16kb' }), placeOrder(deps));
  app.get('/orders/:id', orderById(deps));

  app.use((_req, res) => {
    sendError(res, 404, 'not_found', 'no such route');
  });
  app.use(errorAnswer(logger));
  return app;
}

/**
 * The last handler: a client error (body-parser and the router mark them with a 4xx status: bad JSON, too large, bad
 * encoding) gets a fixed message (client-errors.ts) and its line keeps the error's own, clipped; anything else is a
 * 500, recorded on the server span and logged once.
 */
function errorAnswer(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const answer = clientErrorAnswer(error);
    if (answer !== undefined) {
      logger.info({ reason: answer.message, detail: clip(String((error as Error).message ?? '')) }, 'request rejected');
      sendError(res, answer.status, answer.error, answer.message);
      return;
    }
    trace.getActiveSpan()?.recordException(error instanceof Error ? error : new Error(String(error)));
    if (!loggedByStep(error)) logger.error({ err: error }, 'unhandled error');
    sendError(res, 500, 'internal_error', 'something went wrong; report the trace ID');
  };
}
