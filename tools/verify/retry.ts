// Throttling, in two layers.
// 1. The SDK's own standard retry strategy: its throttling codes include X-Ray's `ThrottledException`,
//    CloudWatch Logs' `ThrottlingException` and `LimitExceededException` (too many concurrent Insights queries)
//    and CloudFormation's `Throttling`, retried with exponential backoff and jitter. We only raise the attempts.
// 2. The polling loops: a call still throttled after those attempts is not fatal; the loop waits twice as long
//    and asks again, until its deadline.

/** Attempts per SDK call, the first included (the SDK's default is 3). */
export const SDK_MAX_ATTEMPTS = 6;

export interface AwsClientConfig {
  readonly region?: string;
  readonly maxAttempts: number;
  readonly retryMode: 'standard';
}

/** Config for every AWS client the verifier makes; credentials and, unless given, region come from the default chain. */
export function awsClientConfig(region?: string): AwsClientConfig {
  return { ...(region ? { region } : {}), maxAttempts: SDK_MAX_ATTEMPTS, retryMode: 'standard' };
}

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'LimitExceededException',
  'RequestLimitExceeded',
]);

export function isThrottling(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return THROTTLING.has(e.name ?? '') || e.$metadata?.httpStatusCode === 429;
}

/** Backoff for the polling loops: doubles per consecutive throttle, capped. */
export function backoffMs(baseMs: number, consecutiveThrottles: number, capMs = 30_000): number {
  return Math.min(capMs, baseMs * 2 ** consecutiveThrottles);
}
