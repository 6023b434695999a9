// The requests whose traces the verifier then looks for: each carries a trace context made here, in advance.
import { VerifyError } from './errors';
import { newTraceContext, type RandomHex, type TraceContext } from './ids';

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
}

/** A route of the service and the child spans its server span must have (the service's contract). */
export interface Route {
  readonly name: string;
  readonly method: 'GET' | 'POST';
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

export interface SentRequest {
  readonly context: TraceContext;
  readonly route: Route;
  /** The HTTP status, or undefined when the request got no answer. */
  readonly status?: number;
  /** Why the request failed: no answer, or an unexpected status. */
  readonly error?: string;
}

export interface TrafficOptions {
  readonly requestsPerRoute: number;
  readonly now?: () => number;
  readonly randomHex?: RandomHex;
  /** Per-request time limit. @default 10000 */
  readonly requestTimeoutMs?: number;
}

function networkReason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer in time';
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** Fails with one line when the service cannot be reached or is not healthy, before any traffic is sent. */
export async function checkReachable(serviceUrl: string, timeoutMs = 10_000): Promise<void> {
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
}

async function sendOne(serviceUrl: string, route: Route, index: number, opts: TrafficOptions): Promise<SentRequest> {
  const context = newTraceContext((opts.now ?? Date.now)(), opts.randomHex);
  const body = route.body ? JSON.stringify(route.body(index)) : undefined;
  const headers: Record<string, string> = { ...context.headers };
  if (body) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(`${serviceUrl}${route.path}`, {
      method: route.method,
      headers,
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 10_000),
    });
    await res.text();
    const error =
      res.status === route.expectedStatus ? undefined : `HTTP ${res.status}, expected ${route.expectedStatus}`;
    return { context, route, status: res.status, ...(error ? { error } : {}) };
  } catch (err) {
    return { context, route, error: `no answer: ${networkReason(err)}` };
  }
}

/** Sends `requestsPerRoute` requests to each route, one at a time, each with its own new trace. */
export async function sendTraffic(serviceUrl: string, opts: TrafficOptions): Promise<SentRequest[]> {
  const sent: SentRequest[] = [];
  for (let i = 0; i < opts.requestsPerRoute; i++) {
    for (const route of ROUTES) {
      sent.push(await sendOne(serviceUrl, route, i, opts));
    }
  }
  return sent;
}
