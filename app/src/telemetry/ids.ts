// Trace and span IDs in X-Ray's form (the trace ID starts with the epoch second, 8 hex), made from a pool of random
// bytes that crypto.randomFillSync refills 512 IDs at a time, with the epoch second written once a second. Every
// request needs a trace ID and a span ID, recorded or not; @opentelemetry/id-generator-aws-xray draws them from
// Math.random a word at a time (a heap number per call from optimized code) and formats the epoch for every trace ID.
import { randomFillSync } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace';

const POOL_BYTES = 8 * 1024;
const EPOCH_BYTES = 4;
const RANDOM_TRACE_BYTES = 12;
const SPAN_BYTES = 8;
const ZERO_SPAN_ID = '0000000000000000';

export class XRayIdGenerator implements IdGenerator {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private next = POOL_BYTES;
  private epochSecond = -1;
  /** The trace ID being made: the epoch second (big-endian), then the random part. */
  private readonly traceBytes = Buffer.alloc(EPOCH_BYTES + RANDOM_TRACE_BYTES);

  /** @param nowMs the clock, epoch milliseconds (tests set it) */
  constructor(private readonly nowMs: () => number = Date.now) {}

  /**
   * 8 hex of the current epoch second, then 24 random hex: a valid X-Ray trace ID (`1-{8}-{24}` once split). Made by
   * one `toString` of 16 bytes, so that it is a flat string: a concatenation would be a cons string, which every
   * later read of its characters (the API's ID check, each line's correlation fields) has to flatten first.
   */
  generateTraceId(): string {
    const second = Math.floor(this.nowMs() / 1000);
    if (second !== this.epochSecond) {
      this.epochSecond = second;
      this.traceBytes.writeUInt32BE(second, 0);
    }
    const start = this.take(RANDOM_TRACE_BYTES);
    this.pool.copy(this.traceBytes, EPOCH_BYTES, start, start + RANDOM_TRACE_BYTES);
    return this.traceBytes.toString('hex');
  }

  /** 16 random hex, never all zeros (an invalid span ID). */
  generateSpanId(): string {
    const id = this.randomHex(SPAN_BYTES);
    return id === ZERO_SPAN_ID ? this.generateSpanId() : id;
  }

  private randomHex(bytes: number): string {
    const start = this.take(bytes);
    return this.pool.toString('hex', start, start + bytes);
  }

  /** The offset of `bytes` fresh random bytes in the pool, refilled when used up. */
  private take(bytes: number): number {
    if (this.next + bytes > POOL_BYTES) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    const start = this.next;
    this.next += bytes;
    return start;
  }
}
