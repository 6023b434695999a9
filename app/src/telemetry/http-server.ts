// The SERVER span of each request, opened around the request listener instead of by
// @opentelemetry/instrumentation-http, which builds every attribute and binds the request's and response's event
// emitters before the sampler is asked, so an unrecorded request cost as much as a recorded one (REFERENCE §8). Here
// an unrecorded request costs the decision and little else: the propagated context, what of the request the X-Ray
// rules read (nothing under the Default rule), a non-recording span, the `traceresponse` header. A recorded span gets
// the rest of what instrumentation-http records under the stable HTTP conventions (test/server-span.test.ts compares
// the two), except `client.address`, which is the load balancer's word (client-address.ts), and `server.address`,
// taken from `Host` alone (`Forwarded` and `X-Forwarded-Host` come from the client; the ALB sets neither).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { clientAddress } from '../client-address';
import type { IdGenerator } from '@opentelemetry/sdk-trace';
import type { SamplingRequest } from './root-decision';
import { ContextLink, withSpan } from './context';
import { PUBLIC_EDGE, RECORD_DECIDED, type EdgePolicySampler } from './sampler';
import { UnrecordedSpan } from './unrecorded-span';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Which listener: the public one (caller's trace kept, its sampled flag ignored) or the internal pricing hop. */
export type Edge = 'public' | 'internal';

export function isHealthCheck(url: string | undefined): boolean {
  return url === '/healthz' || (url?.startsWith('/healthz?') ?? false);
}

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  'QUERY',
]);

/** `http.request.method` as the conventions define it: a known method in upper case, anything else `_OTHER`. */
function normalizeMethod(method: string): string {
  if (KNOWN_METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}

/**
 * A path the URL parser would leave as it is: no dot segment, backslash, fragment or character it would
 * percent-encode. Anything else goes through `new URL`, as instrumentation-http takes it.
 */
const PLAIN_PATH = /^\/[A-Za-z0-9\-_~!$&'()*+,;=:@%/]*$/;

function urlPath(url: string): string {
  const query = url.indexOf('?');
  const raw = query < 0 ? url : url.slice(0, query);
  if (PLAIN_PATH.test(raw)) return raw;
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return raw;
  }
}

/** Host and port from the `Host` header, split as instrumentation-http splits it (semconv 1.27). */
function hostAndPort(host: string | undefined): { host?: string; port?: number } {
  if (host === undefined || host === '') return {};
  const colon = host.indexOf(':');
  if (colon < 0) return { host, port: 80 };
  if (host.indexOf(':', colon + 1) < 0) return { host: host.slice(0, colon), port: Number(host.slice(colon + 1)) };
  const parts = host.split(':');
  if (parts.length === 1) return { host, port: 80 };
  if (parts.length === 2) return { host: parts[0], port: Number(parts[1]) };
  if (parts[0].startsWith('[')) {
    if (parts[parts.length - 1].endsWith(']')) return { host, port: 80 };
    if (parts[parts.length - 2].endsWith(']'))
      return { host: parts.slice(0, -1).join(':'), port: Number(parts.at(-1)) };
  }
  return { host };
}

/** instrumentation-http's DEFAULT_QUERY_STRINGS_TO_REDACT: signed-URL credentials never reach a span. */
const REDACTED_QUERY_KEYS = [
  'sig',
  'Signature',
  'AWSAccessKeyId',
  'X-Goog-Signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
];

function redactedQuery(search: string): string {
  const params = new URLSearchParams(search);
  for (const key of REDACTED_QUERY_KEYS) if (params.has(key)) params.set(key, 'REDACTED');
  return params.toString();
}

/** What only a recorded span needs: computed after the decision, added to the attributes the decision saw. */
function addRecordedAttributes(
  attributes: Attributes,
  req: IncomingMessage,
  method: string,
  normalized: string,
  port: number | undefined,
): Attributes {
  attributes['url.scheme'] = 'http';
  attributes['network.peer.address'] = req.socket.remoteAddress;
  attributes['network.peer.port'] = req.socket.remotePort;
  attributes['network.protocol.version'] = req.httpVersion;
  attributes['client.address'] = clientAddress(req);
  if (port !== undefined) attributes['server.port'] = port;
  if (method !== normalized) attributes['http.request.method_original'] = method;
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  if (query >= 0 && query < url.length - 1) {
    try {
      const search = new URL(url, 'http://localhost').search;
      if (search !== '') attributes['url.query'] = redactedQuery(search.slice(1));
    } catch {
      // A target the URL parser refuses has no query to record.
    }
  }
  return attributes;
}

function endServerSpan(span: Span, res: ServerResponse): void {
  const status = res.statusCode;
  span.setAttribute('http.response.status_code', status);
  if (status >= 500 && status < 600) span.setAttribute('error.type', String(status));
  // SERVER spans: only a 5xx (or no valid status) is an error; a 4xx is the client's.
  span.setStatus({ code: status >= 100 && status < 500 ? SpanStatusCode.UNSET : SpanStatusCode.ERROR });
  span.end();
}

function failServerSpan(span: Span, error: Error): void {
  span.setAttribute('error.type', error.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.recordException(error);
  span.end();
}

/** The W3C Trace Context Level 2 response header: this request's trace and span, and whether it is recorded. */
function traceResponse(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & TraceFlags.SAMPLED) !== 0 ? '01' : '00'}`;
}

/**
 * The header getter for the propagators. Node lowercases incoming header names, and the propagators read only the
 * fields they declare; the API's default getter lists every header from `keys()`, which the X-Ray propagator then
 * lowercases one by one to find its own, on every request.
 */
function headerGetter(fields: readonly string[]): TextMapGetter<IncomingHttpHeaders> {
  const none: string[] = [];
  return {
    keys: (headers) => (fields.some((field) => headers[field] !== undefined) ? fields.filter((f) => headers[f]) : none),
    get: (headers, key) => headers[key],
  };
}

const XRAY_HEADER = 'x-amzn-trace-id';

/**
 * Whether the propagators may find a caller's context in these headers: one of their fields is there, other than an
 * `X-Amzn-Trace-Id` that the X-Ray propagator cannot continue. That is the load balancer's own header, Root only, on
 * nearly every request at the public listener: the propagator continues a header only with a `Sampled` part and a
 * valid `Parent` (propagator-aws-xray 3.0.0, AWSXRayPropagator.getSpanContextFromHeader returns INVALID_SPAN_CONTEXT
 * without `Sampled`, and an invalid span ID without `Parent`), so extraction is skipped for it.
 */
export function mayCarryContext(headers: IncomingHttpHeaders, fields: readonly string[]): boolean {
  for (const field of fields) {
    const value = headers[field];
    if (value === undefined) continue;
    if (
      field === XRAY_HEADER &&
      typeof value === 'string' &&
      !(value.includes('Parent') && value.includes('Sampled'))
    ) {
      continue;
    }
    return true;
  }
  return false;
}

/**
 * The request as the sampling rules read it (root-decision.ts): its path and host are parsed when a rule asks, once.
 * One per listener, pointed at each request for its decision, which is synchronous, and let go right after.
 */
class RequestForRules implements SamplingRequest {
  private req: IncomingMessage | undefined;
  private normalizedMethod = '';
  private parsedPath: string | undefined;
  private parsedHost: { host?: string; port?: number } | undefined;

  of(req: IncomingMessage, normalizedMethod: string): this {
    this.req = req;
    this.normalizedMethod = normalizedMethod;
    this.parsedPath = undefined;
    this.parsedHost = undefined;
    return this;
  }

  release(): void {
    this.req = undefined;
    this.parsedPath = undefined;
    this.parsedHost = undefined;
  }

  method(): string {
    return this.normalizedMethod;
  }

  path(): string {
    return (this.parsedPath ??= urlPath(this.req!.url ?? '/'));
  }

  host(): string | undefined {
    return this.hostAndPort().host;
  }

  hostAndPort(): { host?: string; port?: number } {
    return (this.parsedHost ??= hostAndPort(this.req!.headers.host));
  }

  attribute(key: string): unknown {
    switch (key) {
      case 'http.request.method':
        return this.normalizedMethod;
      case 'url.path':
        return this.path();
      case 'server.address':
        return this.host();
      case 'user_agent.original':
        return this.req!.headers['user-agent'];
      default:
        return undefined;
    }
  }

  /** The four attributes the rules can match, first on a recorded span. */
  attributes(): Attributes {
    const attributes: Attributes = { 'http.request.method': this.normalizedMethod, 'url.path': this.path() };
    const host = this.host();
    if (host !== undefined) attributes['server.address'] = host;
    const userAgent = this.req!.headers['user-agent'];
    if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
    return attributes;
  }
}

/** Wraps a request listener so that each request but the health check runs inside its own SERVER span. */
export interface ServerSpans {
  readonly tracer: Tracer;
  readonly sampler: EdgePolicySampler;
  readonly ids: IdGenerator;
}

export function traceRequests(
  listener: RequestListener,
  { tracer, sampler, ids }: ServerSpans,
  edge: Edge,
): RequestListener {
  const fields = propagation.fields();
  const getter = headerGetter(fields);
  const view = new RequestForRules();
  return (req, res) => {
    if (isHealthCheck(req.url)) {
      listener(req, res);
      return;
    }
    let parent: Context = mayCarryContext(req.headers, fields)
      ? propagation.extract(ROOT_CONTEXT, req.headers, getter)
      : ROOT_CONTEXT;
    if (edge === 'public') {
      const caller = trace.getSpanContext(parent);
      if (caller !== undefined) {
        // The caller's trace ID and parent are kept; its tracestate (vendor data from anyone) is not passed on, and
        // PUBLIC_EDGE tells the sampler that the caller's sampled flag does not count here.
        parent = new ContextLink(trace.setSpanContext(parent, { ...caller, traceState: undefined }), PUBLIC_EDGE, true);
      }
    }
    const method = req.method ?? 'GET';
    const normalized = normalizeMethod(method);

    // The decision first: an unrecorded request gets its non-recording span here, without the tracer's work for a
    // span that will be dropped (copying and checking the attributes, links, the SDK's own span metrics), and
    // without its path or host parsed unless a rule reads them.
    let span: Span;
    const recorded = sampler.decide(parent, view.of(req, normalized));
    if (recorded) {
      const attributes = addRecordedAttributes(view.attributes(), req, method, normalized, view.hostAndPort().port);
      view.release();
      span = tracer.startSpan(
        method,
        { kind: SpanKind.SERVER, attributes },
        new ContextLink(parent, RECORD_DECIDED, true),
      );
    } else {
      view.release();
      const caller = trace.getSpanContext(parent);
      span = new UnrecordedSpan(caller?.traceId ?? ids.generateTraceId(), ids.generateSpanId(), caller?.traceState);
    }
    const { traceId, spanId, traceFlags } = span.spanContext();
    res.setHeader('traceresponse', traceResponse(traceId, spanId, traceFlags));
    if (recorded) {
      // 'close' comes after 'finish', so the access line has named the route by then; a response that failed has
      // its error in `errored`.
      res.once('close', () => {
        if (res.errored) failServerSpan(span, res.errored);
        else endServerSpan(span, res);
      });
    }
    context.with(withSpan(parent, span), listener, undefined, req, res);
  };
}
