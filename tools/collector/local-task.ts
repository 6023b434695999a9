// The task, on this machine: the built service (app/dist/main.js) with the environment the task definition gives it,
// the real collector with the task's configuration (collector.ts), and the X-Ray API stand-in both talk to
// (app/test/support/xray-proxy.ts) in place of xray.<region>.amazonaws.com. The service exports OTLP to the
// collector and asks the collector's awsproxy for X-Ray's sampling rules, as in the task; the stand-in records
// every PutTraceSegments call the awsxray exporter makes. Used by the tests of the real translator and the sampling
// proxy (tools/collector/test) and by `npm run local`.
import { OTLP_GRPC_ENDPOINT, SAMPLER_ENVIRONMENT, SAMPLING_PROXY_ENDPOINT } from '../../lib/observed-task-definition';
import { DEFAULTS } from '../../lib/settings';
import { startService, type Service } from '../../app/test/support/service';
import { DEFAULT_RULE, FakeXRayProxy, type SamplingRule } from '../../app/test/support/xray-proxy';
import { Collector, freePorts, TASK_PORTS, type CollectorPorts } from './collector';

/** The service's log group as the task names it to the service (OTEL_RESOURCE_ATTRIBUTES). */
export interface TaskLogGroup {
  readonly name: string;
  /** `arn:<partition>:logs:<region>:<account>:log-group:<name>`, without `:*` (ObservedTaskDefinition.logGroupArn). */
  readonly arn: string;
}

/** The log group ARN as the stack writes it (Stack.formatArn in lib/observed-task-definition.ts). */
export function logGroupArn(name: string, region: string, account = '123456789012', partition = 'aws'): string {
  return `arn:${partition}:logs:${region}:${account}:log-group:${name}`;
}

export interface LocalTaskOptions {
  /** The built collector (tools/collector/build.ts). @default process.env.OTELCOL_TASK_BINARY, set by jest's global setup */
  readonly binary?: string;
  /**
   * Where the collector listens: the task's own ports (4317, 2000, 13133), or free ones so that several tasks run
   * side by side (jest runs test files in parallel). @default 'free'
   */
  readonly ports?: 'task' | 'free';
  /** What the stand-in answers GetSamplingRules with. @default [DEFAULT_RULE], X-Ray's own Default rule */
  readonly rules?: SamplingRule[];
  /** The task's AWS_REGION, for the collector and the log group's ARN. @default 'us-east-1' */
  readonly region?: string;
  /** The service's OTEL_SERVICE_NAME. @default DEFAULTS.serviceName */
  readonly serviceName?: string;
  /** The service's log group. @default DEFAULTS.logGroupName, with its ARN in account 123456789012 */
  readonly logGroup?: TaskLogGroup;
  /**
   * More environment for the service, over the task's: PORT (the task's is 8080; the service here takes a free one),
   * ORDERS_TABLE_NAME with AWS_ENDPOINT_URL_DYNAMODB, LOG_LEVEL, OTEL_BSP_SCHEDULE_DELAY, … @default none
   */
  readonly serviceEnvironment?: Record<string, string>;
  /** Called with each line the collector logs. @default keeps them only (Collector.logs) */
  readonly onCollectorLog?: (line: string) => void;
}

/**
 * The environment the task definition gives the service container (lib/observed-task-definition.ts, the `App`
 * container), with the collector's ports in place of the task's: OTLP to its receiver, the X-Ray sampler through its
 * awsproxy, both on `localhost` as in the task, and the resource attributes that link each trace to the log group.
 * With the task's ports (TASK_PORTS) these are the task's own values.
 */
export function serviceTaskEnvironment(
  ports: Pick<CollectorPorts, 'otlpGrpc' | 'samplingProxy'>,
  serviceName: string,
  logGroup: TaskLogGroup,
): Record<string, string> {
  const onPort = (endpoint: string, port: number) => {
    const url = new URL(endpoint);
    url.port = String(port);
    return url.origin;
  };
  const samplerArg = SAMPLER_ENVIRONMENT.OTEL_TRACES_SAMPLER_ARG;
  if (!samplerArg.includes(`endpoint=${SAMPLING_PROXY_ENDPOINT}`)) {
    throw new Error(`The task's OTEL_TRACES_SAMPLER_ARG no longer names ${SAMPLING_PROXY_ENDPOINT}: ${samplerArg}`);
  }
  return {
    OTEL_SERVICE_NAME: serviceName,
    OTEL_EXPORTER_OTLP_ENDPOINT: onPort(OTLP_GRPC_ENDPOINT, ports.otlpGrpc),
    OTEL_TRACES_SAMPLER: SAMPLER_ENVIRONMENT.OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG: samplerArg.replace(
      SAMPLING_PROXY_ENDPOINT,
      onPort(SAMPLING_PROXY_ENDPOINT, ports.samplingProxy),
    ),
    OTEL_RESOURCE_ATTRIBUTES: `aws.log.group.names=${logGroup.name},aws.log.group.arns=${logGroup.arn}`,
  };
}

/** A running service, collector and X-Ray stand-in; `stop()` ends all three. */
export class LocalTask {
  private constructor(
    /** The X-Ray API stand-in: `segments`, `segmentsOf(traceId, n)`, `rules`, `statistics`, … */
    readonly xray: FakeXRayProxy,
    /** The real collector: `logs`, `healthUrl`, `stop(signal)`. */
    readonly collector: Collector,
    /** The built service: `url(path)`, `lines` (its JSON log lines), `linesOf(traceId)`. */
    readonly service: Service,
    /** The environment the service was started with. */
    readonly serviceEnvironment: Readonly<Record<string, string>>,
  ) {}

  /** Starts the stand-in, then the collector (healthy), then the service (listening); on a failure, stops what ran. */
  static async start(options: LocalTaskOptions = {}): Promise<LocalTask> {
    const binary = options.binary ?? process.env.OTELCOL_TASK_BINARY;
    if (!binary) {
      throw new Error(
        'No collector binary: pass `binary` (tools/collector/build.ts, collectorBinary()) or run under jest, whose ' +
          'global setup sets OTELCOL_TASK_BINARY',
      );
    }
    const region = options.region ?? 'us-east-1';
    const xray = await FakeXRayProxy.start({ rules: options.rules ?? [DEFAULT_RULE] });
    let collector: Collector | undefined;
    try {
      const start = (ports: CollectorPorts) =>
        Collector.start({
          binary,
          xrayEndpoint: xray.endpoint,
          ports,
          region,
          ...(options.onCollectorLog ? { onLog: options.onCollectorLog } : {}),
        });
      collector = options.ports === 'task' ? await start(TASK_PORTS) : await startOnFreePorts(start);
      const logGroup = options.logGroup ?? {
        name: DEFAULTS.logGroupName,
        arn: logGroupArn(DEFAULTS.logGroupName, region),
      };
      const environment = {
        ...serviceTaskEnvironment(collector.ports, options.serviceName ?? DEFAULTS.serviceName, logGroup),
        ...options.serviceEnvironment,
      };
      const service = await startService(environment);
      return new LocalTask(xray, collector, service, environment);
    } catch (error) {
      await collector?.stop('SIGKILL');
      await xray.stop();
      throw error;
    }
  }

  /**
   * Stops in the task's order: the service first (SIGTERM: it flushes its spans to the collector), then the collector
   * (SIGTERM: it exports its batch), then the stand-in. Resolves once all three have stopped.
   */
  async stop(): Promise<void> {
    try {
      await this.service.stop('SIGTERM');
      await this.collector.stop('SIGTERM');
    } finally {
      await this.xray.stop();
    }
  }
}

/**
 * Free ports are free when picked, not when the collector binds them: another process on the machine (a test file
 * beside this one) may take one in between. The collector then exits with `address already in use`; pick again.
 */
export async function startOnFreePorts(
  start: (ports: CollectorPorts) => Promise<Collector>,
  attempts = 3,
): Promise<Collector> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePorts());
    } catch (error) {
      if (attempt >= attempts || !/address already in use/.test((error as Error).message)) throw error;
    }
  }
}
