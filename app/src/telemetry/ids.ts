// Trace and span IDs in X-Ray's form (the trace ID starts with the epoch second, 8 hex), made from a pool of random
// bytes that crypto.randomFillSync refills 512 IDs at a time, with the epoch's hex made once a second. Every request
// needs a trace ID and a span ID, recorded or not; @opentelemetry/id-generator-aws-xray draws them from Math.random a
// word at a time (a heap number per call from optimized code) and formats the epoch for every trace ID.
import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

const POOL_BYTES = 8 * 1024;
const RANDOM_TRACE_BYTES = 12;
const SPAN_BYTES = 8;
const ZERO_SPAN_ID = '0000000000000000';

export class XRayIdGenerator implements IdGenerator {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private next = POOL_BYTES;
  private epochSecond = -1;
  private epochHex = '';

  /** @param nowMs the clock, epoch milliseconds (tests set it) */
  constructor(private readonly nowMs: () => number = Date.now) {}

  /** 8 hex of the current epoch second, then 24 random hex: a valid X-Ray trace ID (`1-{8}-{24}` once split). */
  generateTraceId(): string {
    const second = Math.floor(this.nowMs() / 1000);
    if (second !== this.epochSecond) {
      this.epochSecond = second;
      this.epochHex = second.toString(16).padStart(8, '0');
    }
    return this.epochHex + this.randomHex(RANDOM_TRACE_BYTES);
  }

  /** 16 random hex, never all zeros (an invalid span ID). */
  generateSpanId(): string {
    const id = this.randomHex(SPAN_BYTES);
    return id === ZERO_SPAN_ID ? this.generateSpanId() : id;
  }

  private randomHex(bytes: number): string {
    if (this.next + bytes > POOL_BYTES) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    const start = this.next;
    this.next += bytes;
    return this.pool.toString('hex', start, start + bytes);
  }
}
