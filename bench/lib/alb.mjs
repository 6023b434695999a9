// The header the load balancer adds to every request it forwards to a task: `X-Amzn-Trace-Id: Root=1-<epoch seconds,
// 8 hex>-<96 random bits, 24 hex>`, Root only, fresh per request (ALB user guide, "Request tracing for your
// Application Load Balancer"). The benchmark sends it on every request, so that the service is measured on the
// traffic a task receives.
import { randomFillSync } from 'node:crypto';

export const ALB_TRACE_HEADER = 'x-amzn-trace-id';

const POOL_BYTES = 12 * 512;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** A fresh Root-only header value, as the load balancer writes it for a request that carries none. */
export function albTraceHeader(nowMs = Date.now()) {
  if (offset === POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.toString('hex', offset, offset + 12);
  offset += 12;
  const epoch = Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0');
  return `Root=1-${epoch}-${random}`;
}

/** The workload's headers with a fresh load-balancer header, or as they are when the variant runs without it. */
export function headersFor(workload, alb) {
  return alb ? { ...workload.headers, [ALB_TRACE_HEADER]: albTraceHeader() } : workload.headers;
}
