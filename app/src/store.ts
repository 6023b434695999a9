// The data store and the cache behind interfaces: the in-process versions here keep the service self-contained (and
// `npm run start:app` needing nothing); the DynamoDB table (dynamo-store.ts) implements the same OrderStore.
import { randomUUID } from 'node:crypto';

export interface Order {
  readonly id: string;
  readonly sku: string;
  readonly quantity: number;
  readonly unitPriceCents: number;
  readonly totalCents: number;
  readonly currency: string;
  readonly createdAt: string;
}

export type NewOrder = Omit<Order, 'id' | 'createdAt'>;

/** Where orders are kept. */
export interface OrderStore {
  /** Persists the order and returns it with its ID and creation time. Never overwrites an order. */
  put(order: NewOrder): Promise<Order>;
  /** The order with this ID (a UUID in lower case), undefined when there is none. */
  get(id: string): Promise<Order | undefined>;
  /** `db.system.name` on the store steps' spans. */
  readonly kind: string;
}

/** Why the store could not answer: the client should try again shortly (503 with Retry-After). */
export type UnavailableReason = 'throttled' | 'unavailable' | 'timeout';

/**
 * The store could not answer for a reason that is not the request's fault and may pass. Carries what the one warn
 * line reports: the SDK's error name and code, never its stack.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';

  constructor(
    readonly reason: UnavailableReason,
    /** The SDK's error name (`ThrottlingException`, `TimeoutError`, …). */
    readonly errorName: string,
    readonly details: {
      readonly code?: string;
      readonly httpStatus?: number;
      readonly requestId?: string;
      readonly attempts?: number;
    } = {},
  ) {
    super(
      `the order store is ${reason === 'throttled' ? 'throttling requests' : reason === 'timeout' ? 'not answering in time' : 'unavailable'} (${errorName})`,
    );
  }
}

/** A bounded in-memory store: the oldest orders go first, so memory stays flat under load. */
export class InMemoryOrderStore implements OrderStore {
  readonly kind = 'memory';
  private readonly orders = new Map<string, Order>();

  constructor(private readonly capacity = 10_000) {}

  put(order: NewOrder): Promise<Order> {
    const stored: Order = { id: randomUUID(), ...order, createdAt: new Date().toISOString() };
    this.orders.set(stored.id, stored);
    if (this.orders.size > this.capacity) {
      const oldest = this.orders.keys().next();
      if (!oldest.done) this.orders.delete(oldest.value);
    }
    return Promise.resolve(stored);
  }

  get(id: string): Promise<Order | undefined> {
    return Promise.resolve(this.orders.get(id));
  }

  get size(): number {
    return this.orders.size;
  }
}

export interface Product {
  readonly sku: string;
  readonly name: string;
}

/** A read-through cache of the product catalogue. */
export interface ProductCache {
  /** The product and whether it came from the cache. */
  read(sku: string): Promise<{ product: Product; hit: boolean }>;
}

/** LRU in a Map (insertion order), bounded; misses are filled from the catalogue rule. */
export class InMemoryProductCache implements ProductCache {
  private readonly entries = new Map<string, Product>();

  constructor(private readonly capacity = 1_000) {}

  read(sku: string): Promise<{ product: Product; hit: boolean }> {
    const cached = this.entries.get(sku);
    if (cached !== undefined) {
      this.entries.delete(sku);
      this.entries.set(sku, cached);
      return Promise.resolve({ product: cached, hit: true });
    }
    const product: Product = { sku, name: `Product ${sku}` };
    this.entries.set(sku, product);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return Promise.resolve({ product, hit: false });
  }
}
