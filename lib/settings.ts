// The defaults the stack applies and the rules its settings follow, in one place: the constructs validate
// their props with these, bin/context.ts validates the CDK context with them, and docs/configuration.md shows
// these defaults (test/readme.test.ts checks it).

export const DEFAULTS = {
  serviceName: 'otel-fargate-service',
  logGroupName: 'otel-test',
  logRetentionDays: 30,
  desiredCount: 2,
  /** The most tasks autoscaling starts, unless desiredCount is larger. */
  maxTasks: 6,
  cpu: 512,
  memoryLimitMiB: 1024,
  cpuArchitecture: 'ARM64',
  natGateways: 1,
  containerPort: 8080,
  healthCheckPath: '/healthz',
  collectorVersion: 'v0.49.0',
  fluentBitVersion: '3.4.16',
  /** The service's X-Ray sampling rule: share of requests beyond the reservoir recorded (X-Ray's own default). */
  samplingRate: 0.05,
  /** The service's X-Ray sampling rule: requests recorded each second before the rate applies. */
  samplingReservoirPerSecond: 1,
  containerInsights: 'enhanced',
  /** Consecutive 1-minute periods the 5xx, latency, target and task alarms wait for; the error-line window. */
  alarmEvaluationMinutes: 5,
  alarm5xxPercent: 5,
  alarmP99LatencyMs: 1000,
  /** Service error lines within alarmEvaluationMinutes that page. */
  alarmErrorLines: 5,
  /** Minutes span export must have been failing before its alarm fires. */
  alarmSpanExportMinutes: 5,
  /** The stack creates the service log group; true adopts one of that name that already exists. */
  adoptLogGroup: false,
  /** An AWS WAF web ACL costs $5 a month and more per rule and request: off unless asked for. */
  webFirewall: false,
  /** Requests one address may send within 5 minutes through the web ACL (see WebFirewall.DEFAULT_RATE_LIMIT). */
  webFirewallRateLimit: 1000,
  /** The settings profile: `governed` meets AWS Control Tower's proactive controls (lib/profile.ts). */
  profile: 'default',
  deletionProtection: false,
  /** What `cdk destroy` does with the orders table: it holds the orders, so it is kept unless asked otherwise. */
  ordersTableRemovalPolicy: 'retain',
} as const;

/** The most requests a second the context lets the sampling rule's reservoir take. */
export const MAX_SAMPLING_RESERVOIR_PER_SECOND = 10_000;

/** The collector sidecar's hard memory limit: its memory_limiter refuses data at a percentage of this. */
export const COLLECTOR_MEMORY_LIMIT_MIB = 256;

/**
 * The collector's Go runtime settings, in its container's environment (and in every local run of the collector:
 * tools/collector/collector.ts). GOGC 400 collects a quarter as often as Go's default 100, for less CPU per span
 * (bench/FINDINGS.md), and lets garbage grow the heap to five times what is live. GOMEMLIMIT caps that below the
 * memory_limiter's soft limit (lib/config/collector.yaml: limit 80%, spike 25%, so 55% of the hard limit, 140 MiB): the
 * limiter counts the heap's garbage as use, so without the cap a slow X-Ray could have it refuse spans while most of
 * the heap is garbage. With the cap the runtime collects harder first, and the limiter refuses only what is live.
 * (The memory_limiter README, v0.143.0, advises GOMEMLIMIT beside every limiter, at 80% of the hard limit: above this
 * limiter's soft limit, which is why it is lower here.)
 */
export const COLLECTOR_GO_RUNTIME_ENVIRONMENT: Readonly<Record<string, string>> = {
  GOMEMLIMIT: `${Math.floor(COLLECTOR_MEMORY_LIMIT_MIB * 0.5)}MiB`,
  GOGC: '400',
};

/** The FireLens router's memory reservation. */
export const LOG_ROUTER_MEMORY_RESERVATION_MIB = 50;

/**
 * The FireLens router's hard memory limit. Fluent Bit buffers in memory here (parse-json.conf sets no storage.path),
 * so a destination outage grows it; at the limit the router alone is killed and the task replaced, instead of the
 * service or the collector. AWS for Fluent Bit advises 250 MB and more only for several MB/s per task
 * (troubleshooting/debugging.md, "high throughput").
 */
export const LOG_ROUTER_MEMORY_LIMIT_MIB = 128;

/** The collector image's own user: aoc, uid and gid 4317 (aws-otel-collector cmd/awscollector/Dockerfile). */
export const COLLECTOR_USER = '4317:4317';

/**
 * The FireLens router's user: ECS refuses any other uid on a FireLens container, because Fluent Bit must create the
 * unix socket the log driver connects to in an ECS directory only root may write (aws-for-fluent-bit
 * troubleshooting/debugging.md, "Amazon ECS FireLens: root is required").
 */
export const LOG_ROUTER_USER = '0';

/** The smallest V8 old-space limit the service gets: its old space reaches about 80 MB with a full span queue. */
export const MIN_SERVICE_HEAP_MIB = 128;

/** The least memory the service container may be limited to: its smallest heap and 64 MiB for the rest of Node. */
export const MIN_APP_MEMORY_MIB = MIN_SERVICE_HEAP_MIB + 64;

/**
 * The service container's hard memory limit in a task of `taskMemoryMiB`: what the sidecars' hard limits leave, so
 * the three limits add up to the task and a leak in one container cannot take another's memory.
 */
export function appMemoryLimitMiB(taskMemoryMiB: number): number {
  return taskMemoryMiB - COLLECTOR_MEMORY_LIMIT_MIB - LOG_ROUTER_MEMORY_LIMIT_MIB;
}

/**
 * The V8 old-space limit (`--max-old-space-size`) for the Node service in a task of `taskMemoryMiB`: half of what
 * the sidecars leave it, and at least MIN_SERVICE_HEAP_MIB. Node's own default is about half of the memory it sees
 * (its cgroup limit, else the machine's): the whole task, which the sidecars share, or far more outside a task.
 */
export function serviceHeapLimitMiB(taskMemoryMiB: number): number {
  const serviceShare = taskMemoryMiB - COLLECTOR_MEMORY_LIMIT_MIB - LOG_ROUTER_MEMORY_RESERVATION_MIB;
  return Math.max(MIN_SERVICE_HEAP_MIB, Math.floor(serviceShare / 2));
}

/** The service container's NODE_OPTIONS in a task of `taskMemoryMiB` (the benchmark starts the service with it). */
export function serviceNodeOptions(taskMemoryMiB: number): string {
  return `--max-old-space-size=${serviceHeapLimitMiB(taskMemoryMiB)}`;
}

/** The scaling ceiling when none is given: DEFAULTS.maxTasks, or desiredCount if that is larger. */
export function defaultMaxTasks(desiredCount: number): number {
  return Math.max(DEFAULTS.maxTasks, desiredCount);
}

/** Each setting's pattern and, for error messages, what it accepts. */
export const RULES = {
  serviceName: {
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    accepts: "1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit",
  },
  logGroupName: {
    pattern: /^[A-Za-z0-9._\-/#]{1,512}$/,
    accepts: "a CloudWatch Logs group name: 1 to 512 of letters, digits, '.', '_', '-', '/', '#'",
  },
  // A region's form, not a list: new regions keep it. The form is what every partition's regionRegex in the AWS
  // SDK's partitions.json has in common (@aws-sdk/core, dist-es/submodules/client/util-endpoints/lib/aws/
  // partitions.js): a prefix of two to four letters (`us`, `cn`, `eusc`), the partition's own part if it has one
  // (`gov`, `isob`, `isoe`, `de`), a direction, a number. app/src/config.ts (AWS_REGION) keeps the same pattern,
  // and test/context.test.ts runs one list of names through both. Bounded, so that the console URLs built from it
  // keep alarm descriptions within their 1,024 characters (the longest region name today, us-isof-south-1, has 15).
  region: {
    pattern: /^(?=.{1,20}$)[a-z]{2,4}(?:-[a-z]+){1,2}-\d+$/,
    accepts: "an AWS region name such as 'eu-west-1', at most 20 characters",
  },
  certificateArn: {
    pattern: /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/,
    accepts: 'an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<id>',
  },
  // Pinned release tags only: `latest` or `stable` would change the task under a running service.
  collectorVersion: {
    pattern: /^v\d+\.\d+\.\d+$/,
    accepts: "an ADOT collector release tag such as 'v0.49.0'",
  },
  fluentBitVersion: {
    pattern: /^\d+\.\d+\.\d+(\.\d{8})?$/,
    accepts: "an immutable AWS for Fluent Bit tag such as '3.4.16' or '2.34.3.20260209'",
  },
  // Deliberately plain: SNS itself validates the address, and the recipient must confirm the subscription anyway.
  alarmEmail: {
    pattern: /^(?=.{3,254}$)[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/,
    accepts: 'one email address such as ops@example.com',
  },
} as const;

/** The task sizes Fargate offers: CPU units to the memory sizes (MiB) allowed with them. */
export const FARGATE_MEMORY_BY_CPU: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: range(1024, 4096, 1024),
  1024: range(2048, 8192, 1024),
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
  8192: range(16384, 61440, 4096),
  16384: range(32768, 122880, 8192),
};

/** Throws `<name> must be <accepts>, got '<value>'` unless the value follows its rule. */
export function checkSetting(name: keyof typeof RULES, value: string): void {
  if (!RULES[name].pattern.test(value)) {
    throw new Error(`${name} must be ${RULES[name].accepts}, got '${value}'`);
  }
}

/** What is wrong with a CPU and memory pair, or undefined when Fargate offers it. */
export function fargateSizeProblem(cpu: number, memoryLimitMiB: number): string | undefined {
  const sizes = FARGATE_MEMORY_BY_CPU[cpu];
  if (!sizes) return `cpu ${cpu} is not a Fargate CPU size: ${Object.keys(FARGATE_MEMORY_BY_CPU).join(', ')}`;
  if (!sizes.includes(memoryLimitMiB)) {
    return `memory ${memoryLimitMiB} MiB is not offered with cpu ${cpu}; Fargate offers ${sizes.join(', ')}`;
  }
  return undefined;
}

function range(from: number, to: number, step: number): number[] {
  return Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
}
