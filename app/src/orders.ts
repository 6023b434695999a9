// The orders routes: POST /orders (read the product through the cache, price it, store the order) and
// GET /orders/:id. Each operation is a step of its own (step.ts); a store that cannot answer is a 503 the client may
// retry, a pricing failure the status the pricing client chose.
import { SpanKind } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { PricingError, type PricingClient } from './pricing';
import { sendError, sendStoreUnavailable, xrayTraceId } from './responses';
import { markLogged, step } from './step';
import { StoreUnavailableError, type OrderStore, type ProductCache } from './store';

export interface OrdersDeps {
  readonly logger: Logger;
  readonly store: OrderStore;
  readonly cache: ProductCache;
  readonly pricing: PricingClient;
}

/** A SKU: 1 to 64 printable ASCII characters, with no space at either end. */
export const SKU = /^[!-~](?:[ -~]{0,62}[!-~])?$/;
const MAX_QUANTITY = 1000;
/** An order ID: a UUID in its textual form (the service makes v4 IDs, in lower case; upper case is accepted). */
const ORDER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface OrderRequest {
  readonly sku: string;
  readonly quantity: number;
}

function parseOrder(body: unknown): OrderRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'the body must be a JSON object {"sku": string, "quantity": positive integer}';
  }
  const { sku, quantity } = body as Record<string, unknown>;
  if (typeof sku !== 'string' || !SKU.test(sku)) return 'sku must be 1 to 64 printable ASCII characters';
  if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
    return `quantity must be an integer from 1 to ${MAX_QUANTITY}`;
  }
  return { sku, quantity };
}

/**
 * Inside a store step: a store that cannot answer right now is one warn line with the SDK's error name and code (no
 * stack: it is not a bug here), written while the step's span is active; the step records it on its span only.
 */
function storeCall<T>(logger: Logger, call: () => Promise<T>): Promise<T> {
  return call().catch((error: unknown) => {
    if (error instanceof StoreUnavailableError) {
      logger.warn(
        {
          reason: error.reason,
          error_name: error.errorName,
          error_code: error.details.code,
          http_status: error.details.httpStatus,
          aws_request_id: error.details.requestId,
          attempts: error.details.attempts,
        },
        'order store unavailable',
      );
      markLogged(error);
    }
    throw error;
  });
}

/** POST /orders, after the JSON body parser: 201 with the stored order. */
export function placeOrder({ logger, store, cache, pricing }: OrdersDeps): RequestHandler {
  return async (req, res) => {
    const order = parseOrder(req.body);
    if (typeof order === 'string') {
      logger.info({ reason: order }, 'order rejected');
      sendError(res, 400, 'bad_request', order);
      return;
    }
    try {
      const { product, hit } = await step(
        'cache.read',
        { attributes: { 'cache.name': 'products', 'cache.key': order.sku } },
        logger,
        async (span) => {
          const result = await cache.read(order.sku);
          span.setAttribute('cache.hit', result.hit);
          logger.info({ sku: order.sku, cache_hit: result.hit }, 'product read from cache');
          return result;
        },
      );
      const price = await pricing.quote(product.sku);
      if (!Number.isSafeInteger(price.unitPriceCents * order.quantity)) {
        // A valid unit price can still make a total past 2^53 cents: no order of ours costs that much.
        logger.warn({ unit_price_cents: price.unitPriceCents, quantity: order.quantity }, 'order total out of range');
        throw new PricingError('the total is not a safe integer of cents', 502, 'pricing_failed');
      }
      const stored = await step(
        'store.write',
        {
          kind: SpanKind.INTERNAL,
          attributes: { 'db.system.name': store.kind, 'db.collection.name': 'orders', 'db.operation.name': 'put' },
        },
        logger,
        async (span) => {
          const saved = await storeCall(logger, () =>
            store.put({
              sku: product.sku,
              quantity: order.quantity,
              unitPriceCents: price.unitPriceCents,
              totalCents: price.unitPriceCents * order.quantity,
              currency: price.currency,
            }),
          );
          span.setAttribute('order.id', saved.id);
          logger.info({ order_id: saved.id, cache_hit: hit, total_cents: saved.totalCents }, 'order stored');
          return saved;
        },
      );
      res.status(201).json({ order: stored, ...xrayTraceId() });
    } catch (error) {
      if (error instanceof PricingError) {
        sendError(res, error.status, error.code, 'the pricing service could not price this order; try again');
        return;
      }
      if (error instanceof StoreUnavailableError) {
        sendStoreUnavailable(res);
        return;
      }
      throw error;
    }
  };
}

/** GET /orders/:id: the order, 404 when there is none, 400 when the ID is not a UUID. */
export function orderById({ logger, store }: Pick<OrdersDeps, 'logger' | 'store'>): RequestHandler {
  return async (req, res) => {
    const raw = req.params.id;
    if (typeof raw !== 'string' || !ORDER_ID.test(raw)) {
      logger.info({ reason: 'not a UUID' }, 'order lookup rejected');
      sendError(res, 400, 'bad_request', 'the order ID must be a UUID');
      return;
    }
    const id = raw.toLowerCase();
    try {
      const found = await step(
        'store.read',
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            'db.system.name': store.kind,
            'db.collection.name': 'orders',
            'db.operation.name': 'get',
            'order.id': id,
          },
        },
        logger,
        async (span) => {
          const order = await storeCall(logger, () => store.get(id));
          span.setAttribute('order.found', order !== undefined);
          logger.info({ order_id: id, found: order !== undefined }, 'order read');
          return order;
        },
      );
      if (found === undefined) {
        sendError(res, 404, 'not_found', 'no order with this ID');
        return;
      }
      res.json({ order: found, ...xrayTraceId() });
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        sendStoreUnavailable(res);
        return;
      }
      throw error;
    }
  };
}
