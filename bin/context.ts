// The app's configuration: CDK context keys (cdk.json or `-c key=value`), validated into typed stack props.
// Every bad value is reported with its key and what the key accepts, before anything is synthesized.
import { RemovalPolicy, type StackProps } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { OtelFargateStackProps } from '../lib/otel-fargate-stack';
import { GOVERNED_MIN_RETENTION_DAYS, PROFILES, Profile, governedProblems } from '../lib/profile';
import {
  COLLECTOR_MEMORY_LIMIT_MIB,
  DEFAULTS,
  FARGATE_MEMORY_BY_CPU,
  LOG_ROUTER_MEMORY_LIMIT_MIB,
  MAX_SAMPLING_RESERVOIR_PER_SECOND,
  MIN_APP_MEMORY_MIB,
  RULES,
  appMemoryLimitMiB,
  defaultMaxTasks,
} from '../lib/settings';
import { WAF_RATE_LIMIT_RANGE } from '../lib/web-firewall';

export type ContextProps = Omit<OtelFargateStackProps, keyof StackProps | 'image'> & {
  /** The region to deploy to; load balancer access logging needs it known at synth. */
  region?: string;
};

interface ContextKey {
  /** The default, exactly as docs/configuration.md shows it. */
  readonly defaultValue: string;
  /** Turns a raw context value into props, or says what the key accepts. */
  readonly parse: (raw: unknown) => Partial<ContextProps> | { accepts: string };
}

const RETENTION_DAYS = Object.values(logs.RetentionDays).filter((days): days is number => typeof days === 'number');

/** The containerInsights values: ECS's own names for the cluster setting. */
const CONTAINER_INSIGHTS: Record<string, ecs.ContainerInsights> = {
  enhanced: ecs.ContainerInsights.ENHANCED,
  enabled: ecs.ContainerInsights.ENABLED,
  disabled: ecs.ContainerInsights.DISABLED,
};

/** The ordersTableRemovalPolicy values: CloudFormation's deletion policies that a DynamoDB table takes. */
const ORDERS_TABLE_REMOVAL: Record<string, RemovalPolicy> = {
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
};

/** Every context key the app reads. */
export const CONTEXT_KEYS: Record<string, ContextKey> = {
  region: {
    defaultValue: "the CLI's region, else us-east-1",
    parse: (raw) => following(raw, 'region', (region) => ({ region })),
  },
  profile: {
    defaultValue: DEFAULTS.profile,
    parse: (raw) =>
      typeof raw === 'string' && (PROFILES as readonly string[]).includes(raw)
        ? { profile: raw as Profile }
        : { accepts: `one of ${PROFILES.join(', ')}` },
  },
  serviceName: {
    defaultValue: DEFAULTS.serviceName,
    parse: (raw) => following(raw, 'serviceName', (serviceName) => ({ serviceName })),
  },
  logGroupName: {
    defaultValue: DEFAULTS.logGroupName,
    parse: (raw) => following(raw, 'logGroupName', (logGroupName) => ({ logGroupName })),
  },
  logRetentionDays: {
    defaultValue: `${DEFAULTS.logRetentionDays}; governed: ${GOVERNED_MIN_RETENTION_DAYS}`,
    parse: (raw) => {
      const days = wholeNumber(raw);
      return days !== undefined && RETENTION_DAYS.includes(days)
        ? { logRetention: days as logs.RetentionDays }
        : { accepts: `one of CloudWatch Logs' retention periods: ${RETENTION_DAYS.join(', ')}` };
    },
  },
  desiredCount: {
    defaultValue: String(DEFAULTS.desiredCount),
    parse: (raw) => bounded(raw, 1, 100, (desiredCount) => ({ desiredCount })),
  },
  minTasks: {
    defaultValue: 'desiredCount',
    parse: (raw) => bounded(raw, 1, 100, (minTasks) => ({ minTasks })),
  },
  maxTasks: {
    defaultValue: `${DEFAULTS.maxTasks}, or desiredCount if larger`,
    parse: (raw) => bounded(raw, 1, 100, (maxTasks) => ({ maxTasks })),
  },
  cpu: {
    defaultValue: String(DEFAULTS.cpu),
    parse: (raw) => {
      const cpu = wholeNumber(raw);
      return cpu !== undefined && cpu in FARGATE_MEMORY_BY_CPU
        ? { cpu }
        : { accepts: `a Fargate CPU size: ${Object.keys(FARGATE_MEMORY_BY_CPU).join(', ')}` };
    },
  },
  memoryMiB: {
    defaultValue: String(DEFAULTS.memoryLimitMiB),
    parse: (raw) => bounded(raw, 512, 122880, (memoryLimitMiB) => ({ memoryLimitMiB })),
  },
  cpuArchitecture: {
    defaultValue: DEFAULTS.cpuArchitecture,
    parse: (raw) =>
      raw === 'ARM64' || raw === 'X86_64'
        ? { cpuArchitecture: raw === 'ARM64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64 }
        : { accepts: "'ARM64' or 'X86_64'" },
  },
  natGateways: {
    defaultValue: String(DEFAULTS.natGateways),
    parse: (raw) => bounded(raw, 0, 2, (natGateways) => ({ natGateways })),
  },
  certificateArn: {
    defaultValue: 'none: HTTP on 80',
    parse: (raw) => following(raw, 'certificateArn', (certificateArn) => ({ certificateArn })),
  },
  deletionProtection: {
    defaultValue: `${DEFAULTS.deletionProtection}; governed: true`,
    parse: (raw) =>
      raw === true || raw === 'true'
        ? { deletionProtection: true }
        : raw === false || raw === 'false'
          ? { deletionProtection: false }
          : { accepts: 'true or false' },
  },
  ordersTableRemovalPolicy: {
    defaultValue: DEFAULTS.ordersTableRemovalPolicy,
    parse: (raw) =>
      typeof raw === 'string' && Object.hasOwn(ORDERS_TABLE_REMOVAL, raw)
        ? { ordersTableRemovalPolicy: ORDERS_TABLE_REMOVAL[raw] }
        : { accepts: `one of ${Object.keys(ORDERS_TABLE_REMOVAL).join(', ')} (what cdk destroy does with the table)` },
  },
  collectorVersion: {
    defaultValue: DEFAULTS.collectorVersion,
    parse: (raw) => following(raw, 'collectorVersion', (collectorVersion) => ({ collectorVersion })),
  },
  fluentBitVersion: {
    defaultValue: DEFAULTS.fluentBitVersion,
    parse: (raw) => following(raw, 'fluentBitVersion', (fluentBitVersion) => ({ fluentBitVersion })),
  },
  samplingRate: {
    defaultValue: String(DEFAULTS.samplingRate),
    parse: (raw) => {
      const rate = decimal(raw);
      return rate !== undefined && rate >= 0 && rate <= 1
        ? { samplingRate: rate }
        : { accepts: 'a number from 0 to 1, the share of requests recorded beyond the reservoir (0.05 is 5%)' };
    },
  },
  samplingReservoirPerSecond: {
    defaultValue: String(DEFAULTS.samplingReservoirPerSecond),
    parse: (raw) =>
      bounded(raw, 0, MAX_SAMPLING_RESERVOIR_PER_SECOND, (samplingReservoirPerSecond) => ({
        samplingReservoirPerSecond,
      })),
  },
  recordEveryRequest: {
    defaultValue: 'false',
    parse: (raw) =>
      raw === true || raw === 'true'
        ? { recordEveryRequest: true }
        : raw === false || raw === 'false'
          ? { recordEveryRequest: false }
          : { accepts: "true or false ('true' records every request: for demos, at X-Ray's price per trace)" },
  },
  containerInsights: {
    defaultValue: `${DEFAULTS.containerInsights}; governed: enabled`,
    parse: (raw) => {
      const setting =
        typeof raw === 'string' && Object.hasOwn(CONTAINER_INSIGHTS, raw) ? CONTAINER_INSIGHTS[raw] : undefined;
      return setting !== undefined
        ? { containerInsights: setting }
        : { accepts: `one of ${Object.keys(CONTAINER_INSIGHTS).join(', ')}` };
    },
  },
  alarmEmail: {
    defaultValue: 'none: the topic only',
    parse: (raw) => following(raw, 'alarmEmail', (alarmEmail) => ({ alarmEmail })),
  },
  alarmEvaluationMinutes: {
    defaultValue: String(DEFAULTS.alarmEvaluationMinutes),
    parse: (raw) => bounded(raw, 1, 60, (alarmEvaluationMinutes) => ({ alarmEvaluationMinutes })),
  },
  alarm5xxPercent: {
    defaultValue: String(DEFAULTS.alarm5xxPercent),
    parse: (raw) => bounded(raw, 1, 100, (alarm5xxPercent) => ({ alarm5xxPercent })),
  },
  alarmP99LatencyMs: {
    defaultValue: String(DEFAULTS.alarmP99LatencyMs),
    parse: (raw) => bounded(raw, 1, 60_000, (alarmP99LatencyMs) => ({ alarmP99LatencyMs })),
  },
  alarmErrorLines: {
    defaultValue: String(DEFAULTS.alarmErrorLines),
    parse: (raw) => bounded(raw, 1, 100_000, (alarmErrorLines) => ({ alarmErrorLines })),
  },
  alarmSpanExportMinutes: {
    defaultValue: String(DEFAULTS.alarmSpanExportMinutes),
    parse: (raw) => bounded(raw, 1, 60, (alarmSpanExportMinutes) => ({ alarmSpanExportMinutes })),
  },
  adoptLogGroup: {
    defaultValue: String(DEFAULTS.adoptLogGroup),
    parse: (raw) => {
      const value = raw === true || raw === 'true' ? true : raw === false || raw === 'false' ? false : undefined;
      return value === undefined ? { accepts: 'true or false' } : { adoptLogGroup: value };
    },
  },
  waf: {
    defaultValue: String(DEFAULTS.webFirewall),
    parse: (raw) => {
      const value = raw === true || raw === 'true' ? true : raw === false || raw === 'false' ? false : undefined;
      return value === undefined ? { accepts: 'true or false' } : { webFirewall: value };
    },
  },
  wafRateLimit: {
    defaultValue: String(DEFAULTS.webFirewallRateLimit),
    parse: (raw) =>
      bounded(raw, WAF_RATE_LIMIT_RANGE.min, WAF_RATE_LIMIT_RANGE.max, (webFirewallRateLimit) => ({
        webFirewallRateLimit,
      })),
  },
  budgetMonthlyUsd: {
    defaultValue: 'none: no budget',
    parse: (raw) => bounded(raw, 1, 1_000_000, (monthlyBudgetUsd) => ({ monthlyBudgetUsd })),
  },
  budgetEmail: {
    defaultValue: 'alarmEmail',
    parse: (raw) => following(raw, 'alarmEmail', (budgetEmail) => ({ budgetEmail })),
  },
};

/** A mistake in the app's configuration: the app prints its message alone, without a stack trace, and exits 1. */
export class ContextError extends Error {
  override readonly name = 'ContextError';
}

/**
 * Keys that belong to the CDK, not to this app, and so are never reported as unknown. Feature flags and library
 * settings are namespaced (`@aws-cdk/core:...`, `@aws-cdk-containers/...`); the CLI's own keys (`aws:cdk:version-reporting`,
 * `aws:cdk:bundling-stacks`, ... from its contextFromSettings) and cached lookups in cdk.context.json
 * (`availability-zones:account=...:region=...`) contain a colon. Two older keys have neither: the CLI keeps
 * acknowledged notices in cdk.context.json, and aws-ecr-assets reads an ECR repository name override.
 */
const CDK_KEYS_WITHOUT_NAMESPACE = ['acknowledged-issue-numbers', 'assets-ecr-repository-name'];

export function isCdkContextKey(key: string): boolean {
  return key.startsWith('@') || key.includes(':') || CDK_KEYS_WITHOUT_NAMESPACE.includes(key);
}

export interface ContextReadOptions {
  /** Every key in the context (in the app, `Object.keys(app.node.getAllContext())`): the app's unknown ones fail. */
  readonly keys?: readonly string[];
  /** The region the stack gets when the `region` key is not set; a certificate must be in the stack's region. */
  readonly defaultRegion?: string;
}

/**
 * Reads every known key through `getContext` (in the app, `app.node.tryGetContext`) and returns the props.
 * Throws one ContextError listing each bad key, what it got, and what it accepts, and each unknown key of the app's
 * with the known key closest to it.
 */
export function stackPropsFromContext(
  getContext: (key: string) => unknown,
  options: ContextReadOptions = {},
): ContextProps {
  const props: Partial<ContextProps> = {};
  const problems: string[] = [];
  for (const key of options.keys ?? []) {
    if (!(key in CONTEXT_KEYS) && !isCdkContextKey(key)) problems.push(unknownKeyProblem(key, getContext(key)));
  }
  for (const [key, spec] of Object.entries(CONTEXT_KEYS)) {
    const raw = getContext(key);
    if (raw === undefined || raw === null || raw === '') continue;
    const parsed = spec.parse(raw);
    if ('accepts' in parsed) {
      problems.push(`context key '${key}' is ${JSON.stringify(raw)}; it accepts ${String(parsed.accepts)}`);
    } else {
      Object.assign(props, parsed);
    }
  }
  if (problems.length === 0) problems.push(...crossKeyProblems(props, options.defaultRegion));
  if (problems.length === 1) throw new ContextError(`Invalid CDK context (cdk.json or -c key=value): ${problems[0]}`);
  if (problems.length > 1) {
    throw new ContextError(
      `Invalid CDK context (cdk.json or -c key=value):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return props;
}

function unknownKeyProblem(key: string, value: unknown): string {
  const known = Object.keys(CONTEXT_KEYS);
  const closest = closestKey(key, known);
  const hint = closest ? `did you mean '${closest}'?` : `the app reads ${known.map((k) => `'${k}'`).join(', ')}`;
  return `context key '${key}' (set to ${JSON.stringify(value)}) is not one this app reads; ${hint}`;
}

/** The known key a typo most likely meant: few edits away (case ignored), or one containing the other. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const typed = key.toLowerCase();
  const ranked = known
    .map((candidate) => ({ candidate, distance: editDistance(typed, candidate.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance);
  const best = ranked[0];
  if (best === undefined) return undefined;
  const lower = best.candidate.toLowerCase();
  const close = best.distance <= Math.max(2, Math.floor(key.length / 3));
  return close || lower.includes(typed) || typed.includes(lower) ? best.candidate : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

function crossKeyProblems(props: Partial<ContextProps>, defaultRegion?: string): string[] {
  const problems: string[] = [];
  // The load balancer takes certificates from its own region only (the construct checks it too, with a stack trace).
  const region = props.region ?? defaultRegion;
  const certificateRegion = props.certificateArn?.split(':')[3];
  if (region !== undefined && certificateRegion !== undefined && certificateRegion !== region) {
    problems.push(
      `context key 'certificateArn' is a certificate in ${certificateRegion}; it accepts a certificate in the ` +
        `stack's region (${region}), the only region a load balancer takes certificates from`,
    );
  }
  const cpu = props.cpu ?? DEFAULTS.cpu;
  const memory = props.memoryLimitMiB ?? DEFAULTS.memoryLimitMiB;
  if (!FARGATE_MEMORY_BY_CPU[cpu].includes(memory)) {
    problems.push(
      `context key 'memoryMiB' is ${memory}, which Fargate does not offer with cpu ${cpu}; ` +
        `it accepts ${FARGATE_MEMORY_BY_CPU[cpu].join(', ')}`,
    );
  } else if (appMemoryLimitMiB(memory) < MIN_APP_MEMORY_MIB) {
    problems.push(
      `context key 'memoryMiB' is ${memory}, which leaves the service ${appMemoryLimitMiB(memory)} MiB after the ` +
        `sidecars' hard limits (collector ${COLLECTOR_MEMORY_LIMIT_MIB}, log router ${LOG_ROUTER_MEMORY_LIMIT_MIB}); ` +
        `it accepts a size that leaves at least ${MIN_APP_MEMORY_MIB}, from 1024 up`,
    );
  }
  const desired = props.desiredCount ?? DEFAULTS.desiredCount;
  const min = props.minTasks ?? desired;
  const max = props.maxTasks ?? defaultMaxTasks(desired);
  if (min > desired) {
    problems.push(`context key 'minTasks' is ${min}; it accepts at most desiredCount (${desired})`);
  }
  if (max < desired) {
    problems.push(`context key 'maxTasks' is ${max}; it accepts at least desiredCount (${desired})`);
  }
  if (props.webFirewallRateLimit !== undefined && !props.webFirewall) {
    problems.push(`context key 'wafRateLimit' is ${props.webFirewallRateLimit}; it applies only with waf=true`);
  }
  if (props.monthlyBudgetUsd !== undefined && props.budgetEmail === undefined && props.alarmEmail === undefined) {
    problems.push(
      `context key 'budgetMonthlyUsd' is ${props.monthlyBudgetUsd}; it needs budgetEmail (or alarmEmail) to notify`,
    );
  }
  if (props.budgetEmail !== undefined && props.monthlyBudgetUsd === undefined) {
    problems.push(
      `context key 'budgetEmail' is ${JSON.stringify(props.budgetEmail)}; it applies only with budgetMonthlyUsd`,
    );
  }
  if (props.recordEveryRequest && props.samplingRate !== undefined && props.samplingRate !== 1) {
    problems.push(
      `context key 'samplingRate' is ${props.samplingRate}, but recordEveryRequest is true (a rate of 1); ` +
        'it accepts only 1 then: set one of the two',
    );
  }
  if (props.profile === 'governed') {
    const governed = governedProblems({
      certificateArn: props.certificateArn,
      natGateways: props.natGateways,
      logRetentionDays: props.logRetention,
      containerInsights: props.containerInsights,
      deletionProtection: props.deletionProtection,
    });
    problems.push(...governed.map(({ key, problem }) => `context key '${key}' ${problem}`));
  }
  return problems;
}

/** A whole number, from a number or from the string `-c key=value` passes. */
function wholeNumber(raw: unknown): number | undefined {
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

/** A finite number, from a number or from the string `-c key=value` passes. */
function decimal(raw: unknown): number | undefined {
  const value = typeof raw === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : raw;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function bounded<T>(raw: unknown, min: number, max: number, toProps: (value: number) => T): T | { accepts: string } {
  const value = wholeNumber(raw);
  return value !== undefined && value >= min && value <= max
    ? toProps(value)
    : { accepts: `a whole number from ${min} to ${max}` };
}

function following<T>(raw: unknown, rule: keyof typeof RULES, toProps: (value: string) => T): T | { accepts: string } {
  return typeof raw === 'string' && RULES[rule].pattern.test(raw) ? toProps(raw) : { accepts: RULES[rule].accepts };
}
