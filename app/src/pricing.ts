// The downstream call of an order: an HTTP GET to the pricing service. The span is the CLIENT span of the hop and
// carries the trace context in the request headers (W3C and X-Ray), so the pricing side continues the same trace.
import http from 'node:http';
import https from 'node:https';
import { context, propagation, SpanKind, type Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { step } from './step';

export interface Price {
  readonly sku: string;
  readonly unitPriceCents: number;
  readonly currency: string;
}

/** A price lookup that failed; `status` is what the order route answers. */
export class PricingError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'PricingError';
  }
}

export interface PricingClient {
  quote(sku: string): Promise<Price>;
}

/** The catalogue rule of the pricing service: a stable price per SKU, from a hash (FNV-1a) of the SKU. */
export function priceFor(sku: string): Price {
  let hash = 0x811c9dc5;
  for (let i = 0; i < sku.length; i++) {
    hash ^= sku.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return { sku, unitPriceCents: 100 + (hash % 9900), currency: 'USD' };
}

/**
 * An ISO 4217 alphabetic code by its form: three upper-case letters. The form, not the list, because what matters
 * here is that the stored value is short and plain; a well-formed code the list lacks would be a pricing bug, not an
 * injection, and a list would need upkeep (or depend on the ICU data Node was built with).
 */
export const CURRENCY_CODE = /^[A-Z]{3}$/;

/**
 * A price as the pricing service must send it: `unitPriceCents` a positive safe integer, `currency` an ISO 4217 code.
 * Anything else throws, and the order is answered 502: an order must not store a negative, fractional or huge price,
 * or a currency string of any length.
 */
export function parsePrice(body: unknown): Price {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Error('pricing answered something other than a JSON object');
  }
  const { sku, unitPriceCents, currency } = body as Record<string, unknown>;
  if (typeof unitPriceCents !== 'number' || !Number.isSafeInteger(unitPriceCents) || unitPriceCents <= 0) {
    throw new Error('pricing answered a unit price that is not a positive whole number of cents');
  }
  if (typeof currency !== 'string' || !CURRENCY_CODE.test(currency)) {
    throw new Error('pricing answered a currency that is not an ISO 4217 code');
  }
  return { sku: String(sku), unitPriceCents, currency };
}

/** The whole call, from request to the last byte of the answer. */
const TIMEOUT_MS = 2000;
/** A price is a few dozen bytes; anything much larger is not one. */
const MAX_BODY_BYTES = 16 * 1024;

/**
 * The request path for a SKU. `encodeURIComponent` leaves `.` alone, and a path segment `.` or `..` (or its
 * `%2E` forms) is a dot segment that URL parsers remove, so `..` would ask for `/` instead of a price. The dots
 * are percent-encoded and the path is sent as is, never through `new URL`, which would normalise `%2E%2E` too.
 */
export function pricePath(sku: string): string {
  return `/prices/${encodeURIComponent(sku).replace(/\./g, '%2E')}`;
}

interface PricingTarget {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: string;
  readonly path: string;
}

export class HttpPricingClient implements PricingClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });

  /** @param baseUrl resolved per call, because the default target (this service) knows its port only after listen. */
  constructor(
    private readonly baseUrl: () => string,
    private readonly logger: Logger,
  ) {}

  quote(sku: string): Promise<Price> {
    const base = new URL(this.baseUrl());
    const path = `${base.pathname.replace(/\/+$/, '')}${pricePath(sku)}`;
    const url = { protocol: base.protocol, hostname: base.hostname, port: base.port, path };
    return step(
      'pricing.call',
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': 'GET',
          'url.full': `${base.origin}${path}`,
          'server.address': url.hostname,
          'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
          'peer.service': 'pricing',
        },
      },
      this.logger,
      async (span) => {
        const price = await this.get(url, span);
        this.logger.info({ sku, unit_price_cents: price.unitPriceCents }, 'price received from pricing');
        return price;
      },
    );
  }

  private get(url: PricingTarget, span: Span): Promise<Price> {
    const headers: Record<string, string> = { accept: 'application/json' };
    propagation.inject(context.active(), headers);
    const secure = url.protocol === 'https:';
    const request = secure ? https.request : http.request;
    return new Promise<Price>((resolve, reject) => {
      const req = request({
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port || undefined,
        path: url.path,
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
      // A deadline for the whole exchange: a socket-idle timeout would let a trickling downstream hold the order.
      // Settling twice is harmless (a promise keeps the first), so every path may call fail and then destroy.
      const fail = (error: Error, code: string) => {
        clearTimeout(deadline);
        reject(new PricingError(error.message, 502, code));
      };
      const deadline = setTimeout(() => {
        fail(new Error(`pricing did not answer within ${TIMEOUT_MS} ms`), 'pricing_unavailable');
        req.destroy();
      }, TIMEOUT_MS);
      req.on('error', (error) => fail(error, 'pricing_unavailable'));
      req.once('response', (res) => {
        span.setAttribute('http.response.status_code', res.statusCode ?? 0);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            fail(new Error(`pricing answered more than ${MAX_BODY_BYTES} bytes`), 'pricing_failed');
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (error) => fail(error, 'pricing_unavailable'));
        res.once('end', () => {
          clearTimeout(deadline);
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(new PricingError(`pricing answered ${status}`, 502, 'pricing_failed'));
            return;
          }
          try {
            resolve(parsePrice(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
          } catch (error) {
            reject(new PricingError((error as Error).message, 502, 'pricing_failed'));
          }
        });
      });
      req.end();
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
