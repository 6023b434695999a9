// The requests whose traces the verifier then looks for: each carries a trace context made here, in advance, and the
// run's User-Agent (which its temporary sampling rule matches); the service says in `traceresponse` which trace it
// recorded the request under, and whether it sampled it.
import { VerifyError } from './errors';
import { newTraceContext, toXRayTraceId, type RandomHex, type TraceContext } from './ids';
import { parseTraceResponse, type TraceResponse } from './sampling';

/**
 * A child span the service's contract promises, and the name X-Ray shows it under. The ADOT awsxray exporter names
 * a CLIENT span's subsegment by `aws.remote.service`, else `peer.service`, and only then by the span name
 * (opentelemetry-collector-contrib, exporter/awsxrayexporter/internal/translator/segment.go, MakeSegment); an
 * INTERNAL span without such attributes keeps its span name.
 */
export interface ExpectedSpan {
  /** The span's name in the service (and in this tool's report). */
  readonly span: string;
  /** The segment or subsegment name X-Ray gives it. */
  readonly xrayName: string;
  /**
   * An AWS SDK call: the subsegment must also be in namespace `aws`, with this `aws.operation` and `aws.table_name`
   * (the awsxray exporter's translation of `rpc.system` aws-api, `rpc.method` and `aws.dynamodb.table_names`).
   */
  readonly aws?: { readonly operation: string; readonly tableName: string };
}

/** A route of the service and the child spans its server span must have (the service's contract). */
export interface Route {
  readonly name: string;
  readonly method: 'GET' | 'POST';
  /** The request path; a read of an order puts the order's ID for `:id`. */
  readonly path: string;
  readonly body?: (index: number) => unknown;
  readonly expectedStatus: number;
  readonly expectedSpans: readonly ExpectedSpan[];
}

export const ROUTES: readonly Route[] = [
  {
    name: 'GET /',
    method: 'GET',
    path: '/',
    expectedStatus: 200,
    expectedSpans: [{ span: 'about', xrayName: 'about' }],
  },
  {
    name: 'POST /orders',
    method: 'POST',
    path: '/orders',
    body: (index) => ({ sku: `verify-${index + 1}`, quantity: 1 }),
    expectedStatus: 201,
    expectedSpans: [
      { span: 'cache.read', xrayName: 'cache.read' },
      { span: 'store.write', xrayName: 'store.write' },
      // A CLIENT span with peer.service "pricing" (app/src/pricing.ts): X-Ray names its subsegment "pricing".
      { span: 'pricing.call', xrayName: 'pricing' },
    ],
  },
];

/** The CLIENT span instrumentation-aws-sdk makes for a DynamoDB call, as X-Ray names it (segment.go: rpc.service). */
function dynamoDbCall(operation: 'PutItem' | 'GetItem', tableName: string): ExpectedSpan {
  return { span: `DynamoDB.${operation}`, xrayName: 'DynamoDB', aws: { operation, tableName } };
}

/** The read of an order that POST /orders created: 200 with that order, from a separate request. */
export const ORDER_READ_ROUTE_NAME = 'GET /orders/:id';

export interface OrdersTableRoutes {
  /** GET / and POST /orders, the POST's trace also holding its DynamoDB PutItem. */
  readonly routes: readonly Route[];
  /** GET /orders/:id, its trace holding store.read and the DynamoDB GetItem. */
  readonly read: Route;
}

/**
 * The routes when the service keeps orders in the stack's DynamoDB table: the POST's trace must hold the PutItem
 * subsegment on that table, and each order is read back by GET /orders/:id, whose trace holds the GetItem.
 */
export function ordersTableRoutes(tableName: string): OrdersTableRoutes {
  const [home, post] = ROUTES;
  return {
    routes: [home, { ...post, expectedSpans: [...post.expectedSpans, dynamoDbCall('PutItem', tableName)] }],
    read: {
      name: ORDER_READ_ROUTE_NAME,
      method: 'GET',
      path: '/orders/:id',
      expectedStatus: 200,
      expectedSpans: [{ span: 'store.read', xrayName: 'store.read' }, dynamoDbCall('GetItem', tableName)],
    },
  };
}

/** How a read of an order went: the order POST /orders answered with, and what GET /orders/:id answered. */
export interface ReadBack {
  readonly orderId: string;
  /** True when the answer is 200 with an order equal to the one created. */
  readonly sameOrder: boolean;
}

export interface SentRequest {
  /** The trace context the verifier sent. */
  readonly context: TraceContext;
  readonly route: Route;
  /** The HTTP status, or undefined when the request got no answer. */
  readonly status?: number;
  /** Why the request failed: no answer, or an unexpected status. */
  readonly error?: string;
  /** The service's `traceresponse`, when it sent one. */
  readonly traceResponse?: TraceResponse;
  /** POST /orders answers with the X-Ray form of the trace ID it recorded the order under. */
  readonly bodyXrayTraceId?: string;
  /** The order a POST /orders answered 201 with. */
  readonly createdOrder?: Readonly<Record<string, unknown>>;
  /** For a read of an order: which order, and whether the service answered with it. */
  readonly readBack?: ReadBack;
  /** The trace the service used (32 hex): from `traceresponse`, else the body, else the one sent. */
  readonly traceId: string;
  /** The X-Ray form of `traceId`: the ID looked up in X-Ray and in the logs. */
  readonly xrayTraceId: string;
  /** Requests sent for this one: more than 1 when a task had not sampled it yet and it was sent again. */
  readonly attempts: number;
}

export interface TrafficOptions {
  readonly requestsPerRoute: number;
  /** The run's User-Agent, which its temporary sampling rule matches. */
  readonly userAgent: string;
  /** The time the trace IDs are made from (the service's clock when known). */
  readonly now?: () => number;
  readonly randomHex?: RandomHex;
  /** Per-request time limit. @default 10000 */
  readonly requestTimeoutMs?: number;
  /**
   * The service keeps orders in this DynamoDB table (the stack's OrdersTableName): POST /orders' trace must show the
   * PutItem on it, and each order created is read back `readsPerOrder` times. @default - no table: no such checks
   */
  readonly ordersTable?: string;
  /**
   * Reads of each order, one after another: behind a load balancer with two tasks, three reads reach the task that
   * did not take the write at least once. @default 3
   */
  readonly readsPerOrder?: number;
  /**
   * A request the service answers as not sampled is sent again (a new trace), until it is sampled or this time
   * passes (a task that has not fetched the run's rule yet). @default no resend
   */
  readonly resend?: {
    readonly until: number;
    readonly pauseMs: number;
    readonly clock: { now(): number; sleep(ms: number): Promise<void> };
  };
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer in time';
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

export interface Reachability {
  /** The service's clock, from its (or the load balancer's) `Date` header, in epoch milliseconds. */
  readonly serverDateMs?: number;
}

/** Fails with one line when the service cannot be reached or is not healthy, before any traffic is sent. */
export async function checkReachable(serviceUrl: string, timeoutMs = 10_000): Promise<Reachability> {
  const url = `${serviceUrl}/healthz`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
  } catch (err) {
    throw new VerifyError(`Cannot reach the service at ${url}: ${networkReason(err)}.`);
  }
  if (res.status !== 200) {
    const hint = res.status === 502 || res.status === 503 ? ' The load balancer has no healthy task yet?' : '';
    throw new VerifyError(`The service at ${url} answered HTTP ${res.status}, not 200.${hint}`);
  }
  const date = Date.parse(res.headers.get('date') ?? '');
  return Number.isFinite(date) ? { serverDateMs: date } : {};
}

function parseBody(text: string): { xrayTraceId?: unknown; order?: unknown } {
  try {
    const body = JSON.parse(text) as unknown;
    return typeof body === 'object' && body !== null ? body : {};
  } catch {
    return {};
  }
}

function bodyTraceId(body: { xrayTraceId?: unknown }): string | undefined {
  const id = body.xrayTraceId;
  return typeof id === 'string' && /^1-[0-9a-f]{8}-[0-9a-f]{24}$/.test(id) ? id : undefined;
}

function bodyOrder(body: { order?: unknown }): Record<string, unknown> | undefined {
  const order = body.order;
  return typeof order === 'object' && order !== null && typeof (order as { id?: unknown }).id === 'string'
    ? (order as Record<string, unknown>)
    : undefined;
}

/** Whether two orders (parsed JSON) hold the same fields and values. */
function sameOrder(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const keys = Object.keys(a).sort();
  return (
    JSON.stringify(keys) === JSON.stringify(Object.keys(b).sort()) &&
    keys.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]))
  );
}

/** One request with a new trace context. */
export async function sendOnce(
  serviceUrl: string,
  route: Route,
  index: number,
  opts: Omit<TrafficOptions, 'requestsPerRoute' | 'resend'>,
  attempts = 1,
  /** For a read of an order: the order POST /orders answered with. */
  order?: Readonly<Record<string, unknown>>,
): Promise<SentRequest> {
  const context = newTraceContext((opts.now ?? Date.now)(), opts.randomHex);
  const body = route.body ? JSON.stringify(route.body(index)) : undefined;
  const headers: Record<string, string> = { ...context.headers, 'user-agent': opts.userAgent };
  if (body) headers['content-type'] = 'application/json';
  const sent = { context, route, traceId: context.traceId, xrayTraceId: context.xrayTraceId, attempts };
  const path = order ? route.path.replace(':id', encodeURIComponent(String(order.id))) : route.path;
  try {
    const res = await fetch(`${serviceUrl}${path}`, {
      method: route.method,
      headers,
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 10_000),
    });
    const text = await res.text();
    const traceResponse = parseTraceResponse(res.headers.get('traceresponse'));
    const parsed = parseBody(text);
    const bodyXrayTraceId = bodyTraceId(parsed);
    const answered = res.status === route.expectedStatus ? bodyOrder(parsed) : undefined;
    const traceId =
      traceResponse?.traceId ??
      (bodyXrayTraceId ? bodyXrayTraceId.slice(2).replace('-', '') : undefined) ??
      context.traceId;
    const error =
      res.status === route.expectedStatus ? undefined : `HTTP ${res.status}, expected ${route.expectedStatus}`;
    return {
      ...sent,
      status: res.status,
      traceId,
      xrayTraceId: toXRayTraceId(traceId),
      ...(traceResponse ? { traceResponse } : {}),
      ...(bodyXrayTraceId ? { bodyXrayTraceId } : {}),
      ...(answered && !order && route.method === 'POST' ? { createdOrder: answered } : {}),
      ...(order
        ? { readBack: { orderId: String(order.id), sameOrder: answered !== undefined && sameOrder(order, answered) } }
        : {}),
      ...(error ? { error } : {}),
    };
  } catch (err) {
    return {
      ...sent,
      error: `no answer: ${networkReason(err)}`,
      ...(order ? { readBack: { orderId: String(order.id), sameOrder: false } } : {}),
    };
  }
}

/**
 * Sends `requestsPerRoute` requests to each route, one at a time, each with its own new trace; one the service did
 * not sample is sent again while `resend` allows. With an orders table, each order created is then read back
 * `readsPerOrder` times, each read a request (and a trace) of its own.
 */
export async function sendTraffic(serviceUrl: string, opts: TrafficOptions): Promise<SentRequest[]> {
  const table = opts.ordersTable === undefined ? undefined : ordersTableRoutes(opts.ordersTable);
  const routes = table?.routes ?? ROUTES;
  const send = async (route: Route, i: number, order?: Readonly<Record<string, unknown>>) => {
    let result = await sendOnce(serviceUrl, route, i, opts, 1, order);
    const { resend } = opts;
    while (resend && result.traceResponse?.sampled === false && resend.clock.now() < resend.until) {
      await resend.clock.sleep(Math.min(resend.pauseMs, resend.until - resend.clock.now()));
      result = await sendOnce(serviceUrl, route, i, opts, result.attempts + 1, order);
    }
    return result;
  };
  const sent: SentRequest[] = [];
  for (let i = 0; i < opts.requestsPerRoute; i++) {
    for (const route of routes) {
      const result = await send(route, i);
      sent.push(result);
      if (table && result.createdOrder) {
        for (let r = 0; r < (opts.readsPerOrder ?? 3); r++) sent.push(await send(table.read, i, result.createdOrder));
      }
    }
  }
  return sent;
}
