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

const TIMEOUT_MS = 2000;

export class HttpPricingClient implements PricingClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });

  /** @param baseUrl resolved per call, because the default target (this service) knows its port only after listen. */
  constructor(
    private readonly baseUrl: () => string,
    private readonly logger: Logger,
  ) {}

  quote(sku: string): Promise<Price> {
    const url = new URL(`${this.baseUrl()}/prices/${encodeURIComponent(sku)}`);
    return step(
      'pricing.call',
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': 'GET',
          'url.full': url.href,
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

  private get(url: URL, span: Span): Promise<Price> {
    const headers: Record<string, string> = { accept: 'application/json' };
    propagation.inject(context.active(), headers);
    const secure = url.protocol === 'https:';
    const request = secure ? https.request : http.request;
    return new Promise<Price>((resolve, reject) => {
      const req = request(url, { headers, agent: secure ? this.httpsAgent : this.httpAgent, timeout: TIMEOUT_MS });
      req.once('timeout', () => req.destroy(new Error(`pricing did not answer within ${TIMEOUT_MS} ms`)));
      req.once('error', (error) => reject(new PricingError(error.message, 502, 'pricing_unavailable')));
      req.once('response', (res) => {
        span.setAttribute('http.response.status_code', res.statusCode ?? 0);
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', (error) => reject(new PricingError(error.message, 502, 'pricing_unavailable')));
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(new PricingError(`pricing answered ${status}`, 502, 'pricing_failed'));
            return;
          }
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Partial<Price>;
            if (typeof body.unitPriceCents !== 'number' || typeof body.currency !== 'string') {
              throw new Error('pricing answered an unexpected body');
            }
            resolve({ sku: String(body.sku), unitPriceCents: body.unitPriceCents, currency: body.currency });
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
