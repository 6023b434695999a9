// The request's contexts as a chain of links, each one key and its value, with the methods on the prototype. The
// API's BaseContext copies its parent's Map and makes three closures for every setValue: for the context of each
// request (and of each step), that was the largest item of the unrecorded path beyond the lean version's
// (`node bench/wrapper.mjs`, callgrind: Runtime_NewClosure_Tenured, 3 closures a request, 3,600 instructions).
import { createContextKey, type Context, type Span } from '@opentelemetry/api';

/**
 * The API's own key for the active span. createContextKey is Symbol.for(description), so every copy of the API (they
 * share one context manager) reads the span under this key (@opentelemetry/api 1.10: trace/context-utils SPAN_KEY).
 */
export const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN');

export class ContextLink implements Context {
  constructor(
    private readonly parent: Context,
    private readonly key: symbol,
    private readonly value: unknown,
  ) {}

  getValue(key: symbol): unknown {
    return key === this.key ? this.value : this.parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    return new ContextLink(this, key, value);
  }

  /** A deleted key reads as undefined, as BaseContext's does (it has no other way to be observed). */
  deleteValue(key: symbol): Context {
    return new ContextLink(this, key, undefined);
  }
}

/** `trace.setSpan(parent, span)`, as one link. */
export function withSpan(parent: Context, span: Span): Context {
  return new ContextLink(parent, SPAN_KEY, span);
}
