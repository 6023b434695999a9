// Getting the verifier's own requests recorded, whatever the service's sampling rule says. The service ignores a
// caller's sampled flag at its public listener (the X-Ray rules decide), so the verifier creates a sampling rule for
// its run alone: priority 1, fixed rate 1, matching the service and a User-Agent with a random run ID that only its
// requests carry. The task's sampler fetches rules every 60 s, so the verifier probes until a response's
// `traceresponse` says sampled, and deletes the rule however the run ends.
import {
  CreateSamplingRuleCommand,
  DeleteSamplingRuleCommand,
  paginateGetSamplingRules,
  type SamplingRule,
  type XRayClient,
} from '@aws-sdk/client-xray';
import type { Clock } from './clock';
import { VerifyError, describeAwsError, oneLine } from './errors';
import { isThrottling } from './retry';

/** The User-Agent product the verifier's requests carry, followed by the run ID. */
export const USER_AGENT_PRODUCT = 'otel-fargate-verify';
/** Temporary rules are named with this prefix and the run ID (X-Ray takes at most 32 characters). */
export const RULE_NAME_PREFIX = 'otel-verify-';
/** The span attribute the rule matches on; the service records it at span start (its sampler sees it). */
export const USER_AGENT_ATTRIBUTE = 'user_agent.original';

/**
 * How long a new rule may take to reach every task: the sampler fetches rules every 60 s (OTEL_TRACES_SAMPLER_ARG's
 * polling_interval in the task), plus up to 5 s of jitter, plus a margin for the collector's proxy and the probe's
 * own pace.
 */
export const RULE_PROPAGATION_MS = 90_000;
/** Pause between probes, and between resending a request a task did not sample yet. */
export const PROBE_INTERVAL_MS = 5_000;

export function userAgent(runId: string): string {
  return `${USER_AGENT_PRODUCT}/${runId}`;
}

/** The rule for one run: the service's requests that carry this run's User-Agent, every one of them. */
export function temporaryRule(runId: string, serviceName: string): SamplingRule {
  return {
    RuleName: `${RULE_NAME_PREFIX}${runId}`,
    Priority: 1,
    FixedRate: 1,
    ReservoirSize: 0,
    ServiceName: serviceName,
    ServiceType: '*',
    Host: '*',
    HTTPMethod: '*',
    URLPath: '*',
    ResourceARN: '*',
    Version: 1,
    Attributes: { [USER_AGENT_ATTRIBUTE]: userAgent(runId) },
  };
}

/** A rule as the report shows it. */
export function describeRule(rule: SamplingRule): string {
  const percent = `${Number(((rule.FixedRate ?? 0) * 100).toFixed(2))}%`;
  return `${rule.RuleName} (priority ${rule.Priority}: ${rule.ReservoirSize}/s + ${percent} of the rest)`;
}

/** The stack's rule, by the name in its SamplingRuleName output; undefined with the reason when it is not there. */
export async function findRule(
  xray: XRayClient,
  ruleName: string,
  signal?: AbortSignal,
): Promise<{ rule?: SamplingRule; problem?: string }> {
  try {
    for await (const page of paginateGetSamplingRules(
      { client: xray },
      {},
      ...(signal ? [{ abortSignal: signal }] : []),
    )) {
      const found = page.SamplingRuleRecords?.find((r) => r.SamplingRule?.RuleName === ruleName)?.SamplingRule;
      if (found) return { rule: found };
    }
    return { problem: `no rule named ${ruleName} in this region` };
  } catch (err) {
    if (isThrottling(err)) return { problem: 'GetSamplingRules throttled' };
    throw describeAwsError(err, 'reading the sampling rules', 'xray:GetSamplingRules');
  }
}

/** Runs the registered clean-up once, whichever exit path asks first (the run's end, a failure, Ctrl-C). */
export class Cleanup {
  private steps: (() => Promise<string | undefined>)[] = [];
  private running?: Promise<string[]>;

  add(step: () => Promise<string | undefined>): void {
    this.steps.push(step);
  }

  /** Lines to show: what was cleaned up, or what could not be and how to do it by hand. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const lines: string[] = [];
      for (const step of this.steps.reverse()) {
        const line = await step();
        if (line) lines.push(line);
      }
      return lines;
    })();
    return this.running;
  }
}

/**
 * Creates the run's rule and registers its deletion. Access denied or the account's rule quota stop the run before
 * any traffic, in one line.
 */
export async function createTemporaryRule(
  xray: XRayClient,
  rule: SamplingRule,
  cleanup: Cleanup,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await xray.send(new CreateSamplingRuleCommand({ SamplingRule: rule }), signal ? { abortSignal: signal } : {});
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'RuleLimitExceededException') {
      throw new VerifyError(
        `Cannot create the temporary sampling rule ${rule.RuleName}: the account has its maximum of sampling rules in ` +
          'this region. Delete an unused one (aws xray get-sampling-rules; aws xray delete-sampling-rule --rule-name ...).',
      );
    }
    throw describeAwsError(err, `creating the temporary sampling rule ${rule.RuleName}`, 'xray:CreateSamplingRule');
  }
  cleanup.add(async () => {
    try {
      // Its own deadline: this runs after the run's signal may have fired, on Ctrl-C too.
      await xray.send(new DeleteSamplingRuleCommand({ RuleName: rule.RuleName }), {
        abortSignal: AbortSignal.timeout(20_000),
      });
      return `Deleted the temporary sampling rule ${rule.RuleName}.`;
    } catch (err) {
      return (
        `Could not delete the temporary sampling rule ${rule.RuleName} (${oneLine(err)}). It matches only this ` +
        `run's User-Agent; delete it with: aws xray delete-sampling-rule --rule-name ${rule.RuleName}`
      );
    }
  });
}

/** The W3C Trace Context Level 2 response header: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
export interface TraceResponse {
  readonly traceId: string;
  readonly spanId: string;
  /** Flag 01: the service recorded (sampled) this request's trace. */
  readonly sampled: boolean;
}

const TRACE_RESPONSE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Parses `traceresponse`; undefined when absent or malformed (version ff, all-zero IDs, wrong lengths). */
export function parseTraceResponse(value: string | null | undefined): TraceResponse | undefined {
  const match = TRACE_RESPONSE.exec((value ?? '').trim().toLowerCase());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags] = match;
  if (version === 'ff' || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export type ProbeOutcome =
  /** A probe came back sampled: the rule is in force on at least the task that answered. */
  | { readonly state: 'sampled'; readonly probes: number; readonly waitedMs: number }
  /** The service sends no `traceresponse`: it cannot say, so the run goes on as before this contract. */
  | { readonly state: 'no-header'; readonly probes: number; readonly waitedMs: number }
  /** No probe was sampled before the deadline. */
  | { readonly state: 'not-sampled'; readonly probes: number; readonly waitedMs: number; readonly error?: string };

/**
 * Sends `probe` every PROBE_INTERVAL_MS until a response says sampled, the service sends no `traceresponse` at all,
 * or `deadline` passes.
 */
export async function waitForRule(
  probe: () => Promise<TraceResponse | undefined | Error>,
  opts: { clock: Clock; deadline: number; onProgress?: (probes: number, remainingMs: number) => void },
): Promise<ProbeOutcome> {
  const started = opts.clock.now();
  let error: string | undefined;
  for (let probes = 1; ; probes++) {
    const answer = await probe();
    const waitedMs = opts.clock.now() - started;
    if (answer instanceof Error) error = answer.message;
    else if (answer === undefined) return { state: 'no-header', probes, waitedMs };
    else if (answer.sampled) return { state: 'sampled', probes, waitedMs };
    const remainingMs = opts.deadline - opts.clock.now();
    opts.onProgress?.(probes, Math.max(0, remainingMs));
    if (remainingMs <= 0) return { state: 'not-sampled', probes, waitedMs, ...(error ? { error } : {}) };
    await opts.clock.sleep(Math.min(PROBE_INTERVAL_MS, remainingMs));
  }
}
