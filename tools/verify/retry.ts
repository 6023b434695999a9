// Throttling and stalls, in three layers.
// 1. The SDK's own standard retry strategy, 6 attempts: its throttling codes include X-Ray's `ThrottledException`,
//    CloudWatch Logs' `ThrottlingException` and `LimitExceededException` (more than 100 concurrent Insights queries
//    in the account) and CloudFormation's `Throttling`, retried with exponential backoff and jitter.
// 2. Request timeouts on the HTTP handler, so that one stalled connection fails its attempt (and is retried)
//    instead of waiting for the socket's 5-minute idle timeout; and an abort signal per call from the polling
//    loops, so that no call outlives the run's deadline whatever its retries.
// 3. The polling loops: a call still throttled after the SDK's attempts is not fatal; the loop waits twice as long
//    and asks again, until its deadline.
import { isThrottlingError } from '@smithy/core/retry';

/** Attempts per SDK call, the first included (the SDK's default is 3). */
export const SDK_MAX_ATTEMPTS = 6;

export interface RequestTimeouts {
  /** To open the TCP/TLS connection. @default 3000 */
  readonly connectionTimeoutMs?: number;
  /** From sending the request to the response's headers; an attempt over it fails with a TimeoutError. @default 15000 */
  readonly requestTimeoutMs?: number;
}

export interface AwsClientConfig {
  readonly region?: string;
  readonly maxAttempts: number;
  readonly retryMode: 'standard';
  readonly requestHandler: {
    readonly connectionTimeout: number;
    readonly requestTimeout: number;
    /** Without it, the installed @smithy/node-http-handler only logs a warning when requestTimeout passes. */
    readonly throwOnRequestTimeout: true;
  };
}

/** Config for every AWS client the verifier makes; credentials and, unless given, region come from the default chain. */
export function awsClientConfig(region?: string, timeouts: RequestTimeouts = {}): AwsClientConfig {
  return {
    ...(region ? { region } : {}),
    maxAttempts: SDK_MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: timeouts.connectionTimeoutMs ?? 3_000,
      requestTimeout: timeouts.requestTimeoutMs ?? 15_000,
      throwOnRequestTimeout: true,
    },
  };
}

/** The SDK's own classification: its throttling codes, HTTP 429, and the `$retryable.throttling` trait. */
export function isThrottling(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  return isThrottlingError(err as Parameters<typeof isThrottlingError>[0]);
}

/** A call cut short by its abort signal or a request timeout: AWS gave no answer in time. */
export function isNoAnswer(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** Backoff for the polling loops: doubles per consecutive throttle, capped. */
export function backoffMs(baseMs: number, consecutiveThrottles: number, capMs = 30_000): number {
  return Math.min(capMs, baseMs * 2 ** consecutiveThrottles);
}
