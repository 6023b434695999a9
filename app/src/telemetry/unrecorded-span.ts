// The span of a request the rules do not record. It is its own span context, with the slot for its lines'
// correlation string declared from the start: one object per unrecorded request instead of the API's
// NonRecordingSpan and the span context it wraps, and no change of shape when the first line adds its string.
import {
  TraceFlags,
  type Exception,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanAttributeValue,
  type SpanContext,
  type SpanStatus,
  type TimeInput,
  type TraceState,
} from '@opentelemetry/api';
import { CORRELATION } from '../logger';

export class UnrecordedSpan implements Span, SpanContext {
  readonly traceFlags = TraceFlags.NONE;
  [CORRELATION]: string | undefined = undefined;

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly traceState: TraceState | undefined,
  ) {}

  spanContext(): SpanContext {
    return this;
  }

  setAttribute(_key: string, _value: SpanAttributeValue): this {
    return this;
  }

  setAttributes(_attributes: SpanAttributes): this {
    return this;
  }

  addEvent(_name: string, _attributesOrStartTime?: SpanAttributes | TimeInput, _startTime?: TimeInput): this {
    return this;
  }

  addLink(_link: Link): this {
    return this;
  }

  addLinks(_links: Link[]): this {
    return this;
  }

  setStatus(_status: SpanStatus): this {
    return this;
  }

  updateName(_name: string): this {
    return this;
  }

  end(_endTime?: TimeInput): void {}

  isRecording(): boolean {
    return false;
  }

  recordException(_exception: Exception, _time?: TimeInput): void {}
}
