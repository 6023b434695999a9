// The app's configuration: CDK context keys (cdk.json or `-c key=value`), validated into typed stack props.
// Every bad value is reported with its key and what the key accepts, before anything is synthesized.
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { OtelFargateStackProps } from '../lib/otel-fargate-stack';

type ConfigProps = Omit<OtelFargateStackProps, keyof import('aws-cdk-lib').StackProps | 'image'> & {
  /** The region to deploy to; load balancer access logging needs it known at synth. */
  region?: string;
};

interface ContextKey {
  /** What the README's configuration table says the key does. */
  readonly description: string;
  /** The default, exactly as the README's configuration table shows it. */
  readonly defaultValue: string;
  /** Turns a raw context value into props, or returns what the key accepts. */
  readonly parse: (raw: unknown) => Partial<ConfigProps> | { accepts: string };
}

const RETENTION_DAYS = Object.values(logs.RetentionDays).filter((days): days is number => typeof days === 'number');
const FARGATE_MEMORY_BY_CPU: Record<number, number[]> = {
  256: [512, 1024, 2048],
  512: range(1024, 4096, 1024),
  1024: range(2048, 8192, 1024),
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
  8192: range(16384, 61440, 4096),
  16384: range(32768, 122880, 8192),
};

/** Every context key the app reads, in the README's order. */
export const CONTEXT_KEYS: Record<string, ContextKey> = {
  region: {
    description:
      'The region to deploy to (access logging needs it at synth); else your CLI’s region (`CDK_DEFAULT_REGION`)',
    defaultValue: "the CLI's region, else us-east-1",
    parse: (raw) =>
      matching(raw, /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/)
        ? { region: String(raw) }
        : { accepts: "an AWS region name such as 'eu-west-1'" },
  },
  serviceName: {
    description: 'The service name in traces (`OTEL_SERVICE_NAME`) and in log stream names',
    defaultValue: 'otel-fargate-service',
    parse: (raw) =>
      matching(raw, /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/)
        ? { serviceName: String(raw) }
        : { accepts: "1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit" },
  },
  logGroupName: {
    description: 'The log group for the service’s lines, which each trace links to',
    defaultValue: 'otel-test',
    parse: (raw) =>
      matching(raw, /^[A-Za-z0-9._\-/#]{1,512}$/)
        ? { logGroupName: String(raw) }
        : { accepts: "a CloudWatch Logs group name: 1 to 512 of letters, digits, '.', '_', '-', '/', '#'" },
  },
  logRetentionDays: {
    description: 'Days the service’s lines are kept',
    defaultValue: '30',
    parse: (raw) => {
      const days = wholeNumber(raw);
      return days !== undefined && RETENTION_DAYS.includes(days)
        ? { logRetention: days as logs.RetentionDays }
        : { accepts: `one of CloudWatch Logs' retention periods: ${RETENTION_DAYS.join(', ')}` };
    },
  },
  desiredCount: {
    description: 'Tasks running while no scaling is needed (spread over two AZs)',
    defaultValue: '2',
    parse: (raw) => bounded(raw, 1, 100, (desiredCount) => ({ desiredCount })),
  },
  minTasks: {
    description: 'The fewest tasks autoscaling keeps',
    defaultValue: 'desiredCount',
    parse: (raw) => bounded(raw, 1, 100, (minTasks) => ({ minTasks })),
  },
  maxTasks: {
    description: 'The most tasks autoscaling starts (scaling on CPU and on requests per target)',
    defaultValue: '6',
    parse: (raw) => bounded(raw, 1, 100, (maxTasks) => ({ maxTasks })),
  },
  cpu: {
    description: 'CPU units per task',
    defaultValue: '512',
    parse: (raw) => {
      const cpu = wholeNumber(raw);
      return cpu !== undefined && cpu in FARGATE_MEMORY_BY_CPU
        ? { cpu }
        : { accepts: `a Fargate CPU size: ${Object.keys(FARGATE_MEMORY_BY_CPU).join(', ')}` };
    },
  },
  memoryMiB: {
    description: 'Memory per task, in MiB; must be a Fargate size for `cpu`',
    defaultValue: '1024',
    parse: (raw) => bounded(raw, 512, 122880, (memoryLimitMiB) => ({ memoryLimitMiB })),
  },
  cpuArchitecture: {
    description: 'The tasks’ CPU architecture; the image is built for it',
    defaultValue: 'ARM64',
    parse: (raw) =>
      raw === 'ARM64' || raw === 'X86_64'
        ? { cpuArchitecture: raw === 'ARM64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64 }
        : { accepts: "'ARM64' or 'X86_64'" },
  },
  natGateways: {
    description: 'NAT gateways; 0 runs the tasks in public subnets with public IPs (cheapest)',
    defaultValue: '1',
    parse: (raw) => bounded(raw, 0, 2, (natGateways) => ({ natGateways })),
  },
  certificateArn: {
    description: 'An ACM certificate ARN: HTTPS on 443, HTTP redirected to it',
    defaultValue: 'none: HTTP on 80',
    parse: (raw) =>
      matching(raw, /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/)
        ? { certificateArn: String(raw) }
        : { accepts: 'an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<id>' },
  },
  collectorVersion: {
    description: 'The ADOT collector image tag (a release, never `latest`)',
    defaultValue: 'v0.49.0',
    parse: (raw) =>
      matching(raw, /^v\d+\.\d+\.\d+$/)
        ? { collectorVersion: String(raw) }
        : { accepts: "an ADOT collector release tag such as 'v0.49.0'" },
  },
  fluentBitVersion: {
    description: 'The AWS for Fluent Bit image tag (immutable, never `stable`)',
    defaultValue: '3.2.2',
    parse: (raw) =>
      matching(raw, /^\d+\.\d+\.\d+(\.\d{8})?$/)
        ? { fluentBitVersion: String(raw) }
        : { accepts: "an immutable AWS for Fluent Bit tag such as '3.2.2' or '2.34.3.20260209'" },
  },
};

/**
 * Reads every known key through `getContext` (in the app, `app.node.tryGetContext`) and returns the props.
 * Throws one error listing each bad key, what it got, and what it accepts.
 */
export function stackPropsFromContext(getContext: (key: string) => unknown): ConfigProps {
  const props: Partial<ConfigProps> = {};
  const problems: string[] = [];
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
  problems.push(...crossKeyProblems(props));
  if (problems.length > 0) {
    throw new Error(
      `Invalid CDK context (set in cdk.json or with -c key=value):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return props;
}

function crossKeyProblems(props: Partial<ConfigProps>): string[] {
  const problems: string[] = [];
  const cpu = props.cpu ?? 512;
  const memory = props.memoryLimitMiB ?? 1024;
  if (!FARGATE_MEMORY_BY_CPU[cpu]?.includes(memory)) {
    problems.push(
      `context key 'memoryMiB' is ${memory}, which Fargate does not offer with cpu ${cpu}; ` +
        `it accepts ${FARGATE_MEMORY_BY_CPU[cpu]?.join(', ')}`,
    );
  }
  const desired = props.desiredCount ?? 2;
  const min = props.minTasks ?? desired;
  const max = props.maxTasks ?? Math.max(6, desired);
  if (min > desired) {
    problems.push(`context key 'minTasks' is ${min}; it accepts at most desiredCount (${desired})`);
  }
  if (max < desired) {
    problems.push(`context key 'maxTasks' is ${max}; it accepts at least desiredCount (${desired})`);
  }
  return problems;
}

/** A whole number, from a number or from the string `-c key=value` passes. */
function wholeNumber(raw: unknown): number | undefined {
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

function bounded<T>(raw: unknown, min: number, max: number, toProps: (value: number) => T): T | { accepts: string } {
  const value = wholeNumber(raw);
  return value !== undefined && value >= min && value <= max
    ? toProps(value)
    : { accepts: `a whole number from ${min} to ${max}` };
}

function matching(raw: unknown, pattern: RegExp): boolean {
  return typeof raw === 'string' && pattern.test(raw);
}

function range(from: number, to: number, step: number): number[] {
  return Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
}
