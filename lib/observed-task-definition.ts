// A Fargate task definition that observes any service image: an ADOT collector sidecar that takes the
// service's OTLP and sends traces to X-Ray, a FireLens log router that ships the service's JSON stdout to
// CloudWatch Logs, the resource attributes that link each trace to those logs, and the least IAM for both.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { waiveControl, waiveDefaultProfileLogGroup } from './control-tower';
import {
  COLLECTOR_GO_RUNTIME_ENVIRONMENT,
  COLLECTOR_MEMORY_LIMIT_MIB,
  COLLECTOR_USER,
  DEFAULTS,
  LOG_ROUTER_MEMORY_LIMIT_MIB,
  LOG_ROUTER_MEMORY_RESERVATION_MIB,
  LOG_ROUTER_USER,
  MIN_APP_MEMORY_MIB,
  appMemoryLimitMiB,
  checkSetting,
  fargateSizeProblem,
} from './settings';

/** The collector configuration delivered to the sidecar, read from the repo at synth time. */
export const COLLECTOR_CONFIG_PATH = path.join(__dirname, 'config', 'collector.yaml');

/** The AWS for Fluent Bit built-in configuration that parses each JSON line into fields. */
export const LOG_ROUTER_CONFIG_FILE = '/fluent-bit/configs/parse-json.conf';

/** The `Grace` of {@link LOG_ROUTER_CONFIG_FILE} (aws/aws-for-fluent-bit configs/parse-json.conf: `Grace 30`). */
export const LOG_ROUTER_FLUSH_GRACE = Duration.seconds(30);

/** The service's writable scratch directory beside its read-only root file system (its image declares it a VOLUME). */
export const SERVICE_TMP_PATH = '/tmp';

/** Where the service sends OTLP: the collector, over the task's shared localhost. */
export const OTLP_GRPC_ENDPOINT = 'http://localhost:4317';

/** Where the service's sampler reads X-Ray's sampling rules: the collector's awsproxy extension (collector.yaml). */
export const SAMPLING_PROXY_ENDPOINT = 'http://localhost:2000';

/**
 * How often the sampler fetches the rules, in seconds: a rule changed in the console, or `npm run verify`'s temporary
 * rule, is in force within about a minute (the ADOT distro's default is 300).
 */
export const SAMPLING_RULES_POLL_SECONDS = 60;

/** The service container's sampler: X-Ray's rules through the collector (the ADOT distro's variables). */
export const SAMPLER_ENVIRONMENT = {
  OTEL_TRACES_SAMPLER: 'xray',
  OTEL_TRACES_SAMPLER_ARG: `endpoint=${SAMPLING_PROXY_ENDPOINT},polling_interval=${SAMPLING_RULES_POLL_SECONDS}`,
} as const;

/** Environment the construct sets on the service container, which `environment` may not override. */
export const RESERVED_ENVIRONMENT = [
  'PORT',
  'OTEL_SERVICE_NAME',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_RESOURCE_ATTRIBUTES',
  ...Object.keys(SAMPLER_ENVIRONMENT),
] as const;

export interface ObservedTaskDefinitionProps {
  /** The service's image. It must listen on `containerPort` and answer `healthCheckPath` with 200. */
  readonly image: ecs.ContainerImage;

  /** The service's name in traces (`OTEL_SERVICE_NAME`) and in its log streams. */
  readonly serviceName: string;

  /** The log group that receives the service's log lines and that its traces link to. */
  readonly logGroup: logs.ILogGroup;

  /** The port the service listens on, also given to it as `PORT`. @default 8080 */
  readonly containerPort?: number;

  /** The path that answers 200 when the service is healthy. @default '/healthz' */
  readonly healthCheckPath?: string;

  /** CPU units for the whole task. @default 512 */
  readonly cpu?: number;

  /** Memory for the whole task. @default 1024 */
  readonly memoryLimitMiB?: number;

  /** The CPU architecture of the task; the image must be built for it. @default ecs.CpuArchitecture.ARM64 */
  readonly cpuArchitecture?: ecs.CpuArchitecture;

  /** The release tag of public.ecr.aws/aws-observability/aws-otel-collector. @default DEFAULTS.collectorVersion */
  readonly collectorVersion?: string;

  /** The immutable tag of public.ecr.aws/aws-observability/aws-for-fluent-bit. @default DEFAULTS.fluentBitVersion */
  readonly fluentBitVersion?: string;

  /** Further environment for the service (`LOG_LEVEL`, …). @default - none */
  readonly environment?: Record<string, string>;

  /** How long the sidecars' own diagnostic logs are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly sidecarLogRetention?: logs.RetentionDays;

  /** The KMS key that encrypts the sidecars' log groups. @default - CloudWatch Logs' own encryption */
  readonly logEncryptionKey?: kms.IKey;
}

/**
 * The task definition of one observed service: the service container (first, so that load balancers
 * target it), the collector sidecar it waits for, and the FireLens log router that ships its stdout.
 */
export class ObservedTaskDefinition extends Construct {
  /** How long ECS waits for the service to exit after SIGTERM: room to finish requests and flush spans. */
  static readonly APP_STOP_TIMEOUT = Duration.seconds(30);
  /** The log router stops last; it needs its whole flush grace and a margin. */
  static readonly LOG_ROUTER_STOP_TIMEOUT = LOG_ROUTER_FLUSH_GRACE.plus(Duration.seconds(10));

  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly appContainer: ecs.ContainerDefinition;
  readonly collectorContainer: ecs.ContainerDefinition;
  readonly logRouterContainer: ecs.FirelensLogRouter;
  /**
   * The log group's ARN as the spans carry it (`aws.log.group.arns`): `arn:<partition>:logs:<region>:<account>:
   * log-group:<name>`, without the `:*` that CloudFormation's `Arn` attribute ends in. The ECS resource detector
   * writes it this way, and CloudWatch Logs' StartQuery refuses `*` in `logGroupIdentifiers`.
   */
  readonly logGroupArn: string;
  /** The collector sidecar's own log. */
  readonly collectorLogGroup: logs.ILogGroup;
  /** The log router sidecar's own log. */
  readonly logRouterLogGroup: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: ObservedTaskDefinitionProps) {
    super(scope, id);
    const containerPort = props.containerPort ?? DEFAULTS.containerPort;
    const healthCheckPath = props.healthCheckPath ?? DEFAULTS.healthCheckPath;
    const collectorVersion = props.collectorVersion ?? DEFAULTS.collectorVersion;
    const fluentBitVersion = props.fluentBitVersion ?? DEFAULTS.fluentBitVersion;
    const cpu = props.cpu ?? DEFAULTS.cpu;
    const memoryLimitMiB = props.memoryLimitMiB ?? DEFAULTS.memoryLimitMiB;
    validateProps({
      ...props,
      containerPort,
      healthCheckPath,
      collectorVersion,
      fluentBitVersion,
      cpu,
      memoryLimitMiB,
    });

    const region = Stack.of(this).region;
    // Built from the name, so it holds for a group imported by name as for one the stack creates.
    this.logGroupArn = Stack.of(this).formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: props.logGroup.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const sidecarLogRetention = props.sidecarLogRetention ?? logs.RetentionDays.ONE_MONTH;
    const collectorLogs = new logs.LogGroup(this, 'CollectorLogs', {
      retention: sidecarLogRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const logRouterLogs = new logs.LogGroup(this, 'LogRouterLogs', {
      retention: sidecarLogRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const group of [collectorLogs, logRouterLogs]) {
      waiveDefaultProfileLogGroup(group, sidecarLogRetention, props.logEncryptionKey !== undefined);
    }
    this.collectorLogGroup = collectorLogs;
    this.logRouterLogGroup = logRouterLogs;

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu,
      memoryLimitMiB,
      runtimePlatform: {
        cpuArchitecture: props.cpuArchitecture ?? ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });

    // Added first: the first essential container is the one ecs_patterns puts behind the load balancer.
    this.appContainer = this.taskDefinition.addContainer('App', {
      containerName: 'app',
      image: props.image,
      essential: true,
      portMappings: [{ containerPort, name: 'http' }],
      readonlyRootFilesystem: true,
      user: '1000:1000',
      // What the sidecars' hard limits leave: a leak in the service kills the service, not a sidecar.
      memoryLimitMiB: Token.isUnresolved(memoryLimitMiB) ? undefined : appMemoryLimitMiB(memoryLimitMiB),
      stopTimeout: ObservedTaskDefinition.APP_STOP_TIMEOUT,
      environment: {
        ...props.environment,
        PORT: String(containerPort),
        OTEL_SERVICE_NAME: props.serviceName,
        OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_GRPC_ENDPOINT,
        ...SAMPLER_ENVIRONMENT,
        // The ECS resource detector sets these only for the awslogs driver; without them X-Ray shows no logs.
        OTEL_RESOURCE_ATTRIBUTES: [
          `aws.log.group.names=${props.logGroup.logGroupName}`,
          `aws.log.group.arns=${this.logGroupArn}`,
        ].join(','),
      },
      healthCheck: {
        // Node's own fetch: the service image has no curl.
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${containerPort}${healthCheckPath}')` +
            '.then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))',
        ],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(15),
      },
      logging: ecs.LogDrivers.firelens({
        options: {
          Name: 'cloudwatch_logs',
          region,
          log_group_name: props.logGroup.logGroupName,
          log_stream_prefix: `${props.serviceName}/`,
          // The stack owns the group (retention, removal policy); the router must not create it.
          auto_create_group: 'false',
          retry_limit: '5',
        },
      }),
    });

    this.collectorContainer = this.taskDefinition.addContainer('Collector', {
      containerName: 'aws-otel-collector',
      image: ecs.ContainerImage.fromRegistry(`public.ecr.aws/aws-observability/aws-otel-collector:${collectorVersion}`),
      essential: true,
      memoryReservationMiB: 64,
      memoryLimitMiB: COLLECTOR_MEMORY_LIMIT_MIB,
      // The image's own user (aoc). RUN_IN_CONTAINER=True in the image makes the collector log to stderr instead of
      // /opt/aws/aws-otel-collector/logs, and the configuration comes from AOT_CONFIG_CONTENT: it writes no file
      // (aws-otel-collector v0.49.0: cmd/awscollector/Dockerfile, pkg/logger/logger.go, pkg/config/config_factory.go).
      user: COLLECTOR_USER,
      readonlyRootFilesystem: true,
      environment: {
        AOT_CONFIG_CONTENT: fs.readFileSync(COLLECTOR_CONFIG_PATH, 'utf8'),
        AWS_REGION: region,
        ...COLLECTOR_GO_RUNTIME_ENVIRONMENT,
      },
      // Exec form: the image is built FROM scratch and has no shell.
      healthCheck: {
        command: ['CMD', '/healthcheck'],
        interval: Duration.seconds(5),
        timeout: Duration.seconds(3),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: collectorLogs, streamPrefix: 'collector' }),
    });
    // The root file system is read-only; /tmp stays writable on the task's ephemeral storage. Fargate makes a bind
    // mount root-owned 0755 unless the image declares a VOLUME at the same path (app/Dockerfile does, keeping 1777).
    this.taskDefinition.addVolume({ name: 'app-tmp' });
    this.appContainer.addMountPoints({ sourceVolume: 'app-tmp', containerPath: SERVICE_TMP_PATH, readOnly: false });

    // Spans from the first requests would be lost if the service started before the collector listens.
    this.appContainer.addContainerDependencies({
      container: this.collectorContainer,
      condition: ecs.ContainerDependencyCondition.HEALTHY,
    });

    // ECS starts this router before, and stops it after, every container that logs through it.
    this.logRouterContainer = this.taskDefinition.addFirelensLogRouter('LogRouter', {
      containerName: 'log-router',
      image: ecs.ContainerImage.fromRegistry(`public.ecr.aws/aws-observability/aws-for-fluent-bit:${fluentBitVersion}`),
      essential: true,
      memoryReservationMiB: LOG_ROUTER_MEMORY_RESERVATION_MIB,
      memoryLimitMiB: LOG_ROUTER_MEMORY_LIMIT_MIB,
      // Root, as ECS requires of a FireLens container (see LOG_ROUTER_USER). Read-only root: the image's entrypoint.sh
      // only execs fluent-bit, parse-json.conf sets no storage.path, and the two paths Fluent Bit writes, the socket
      // /var/run/fluent.sock and the generated /fluent-bit/etc/fluent-bit.conf, are bind mounts ECS provides.
      user: LOG_ROUTER_USER,
      readonlyRootFilesystem: true,
      stopTimeout: ObservedTaskDefinition.LOG_ROUTER_STOP_TIMEOUT,
      firelensConfig: {
        type: ecs.FirelensLogRouterType.FLUENTBIT,
        options: {
          enableECSLogMetadata: true,
          configFileType: ecs.FirelensConfigFileType.FILE,
          configFileValue: LOG_ROUTER_CONFIG_FILE,
        },
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: logRouterLogs, streamPrefix: 'log-router' }),
    });

    this.grantTelemetryWrites(props.logGroup);

    if (this.taskDefinition.executionRole) {
      Validations.of(this.taskDefinition.executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken, which the execution role needs to pull a service image from a private ECR ' +
          'repository, supports only "*"; the pull actions themselves are scoped to that repository.',
      });
    }
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds no secrets: the port, the service name, the OTLP endpoint, the sampler and its ' +
        'rules endpoint, the log group name and ARN, the region, the orders table name (from the stack) and the ' +
        'collector configuration. Secrets belong ' +
        'in `secrets` instead.',
    });
    waiveControl(
      this.taskDefinition,
      'CT.ECS.PR.3',
      'The FireLens log router runs as root (user 0) because ECS refuses any other user on a FireLens container: ' +
        "Fluent Bit must create the unix socket the containers' log driver connects to in a directory that ECS " +
        'creates for root only (aws/aws-for-fluent-bit troubleshooting/debugging.md, "Amazon ECS FireLens: root is ' +
        'required"; containers-roadmap#2122). The service runs as 1000:1000 and the collector as 4317:4317.',
    );
    Validations.of(this.taskDefinition).acknowledge({
      id: 'CloudFormation-Validate::E1029',
      reason:
        "The collector configuration in AOT_CONFIG_CONTENT uses the collector's own ${env:AWS_REGION} " +
        'expansion, which the collector performs at start; CloudFormation must pass it through unchanged.',
    });
  }

  /** The task role: the collector writes to X-Ray, the log router writes to the service's log group. */
  private grantTelemetryWrites(logGroup: logs.ILogGroup): void {
    const taskRole = this.taskDefinition.taskRole;
    // CreateLogStream and PutLogEvents on this group only; no CreateLogGroup: the group exists before the task.
    logGroup.grantWrite(taskRole);
    const grantedArn = logGroup.node.defaultChild instanceof logs.CfnLogGroup ? undefined : logGroup.logGroupArn;

    // In the role's default policy, which the ECS service depends on: a policy of its own would not be, and the
    // first tasks could start before it exists and get AccessDenied on PutTraceSegments.
    taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'xray:PutTraceSegments',
          'xray:PutTelemetryRecords',
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
        ],
        resources: ['*'],
      }),
    );
    const defaultPolicy = taskRole.node.findChild('DefaultPolicy');
    Validations.of(defaultPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray PutTraceSegments, PutTelemetryRecords and the sampling reads support no resource-level ' +
        'permissions: the Service Authorization Reference lists "*" as their only resource.',
    });
    if (grantedArn !== undefined) {
      // An imported group's ARN is spelled out in the template, so cdk-nag sees its `:*` (a created group's Arn
      // attribute ends the same way, unseen).
      Validations.of(defaultPolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(Stack.of(this).resolve(grantedArn))}]`,
        reason:
          "The service log group's own ARN, `arn:…:log-group:<name>:*`: CreateLogStream and PutLogEvents act on " +
          "the group's log streams, which the trailing `:*` covers; no other group is reachable.",
      });
    }
  }
}

/** A resolved template value as cdk-nag names it in a finding ID: `Ref`s as `<Name>`, joins joined. */
function nagResourceName(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as { 'Fn::Join'?: [string, unknown[]]; Ref?: string };
  if (node['Fn::Join']) return node['Fn::Join'][1].map(nagResourceName).join(node['Fn::Join'][0]);
  if (node.Ref !== undefined) return `<${node.Ref}>`;
  return JSON.stringify(value);
}

function validateProps(
  props: ObservedTaskDefinitionProps &
    Required<
      Pick<
        ObservedTaskDefinitionProps,
        'containerPort' | 'healthCheckPath' | 'collectorVersion' | 'fluentBitVersion' | 'cpu' | 'memoryLimitMiB'
      >
    >,
): void {
  const { containerPort, healthCheckPath, cpu, memoryLimitMiB } = props;
  if (
    !Token.isUnresolved(containerPort) &&
    (!Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535)
  ) {
    throw new Error(`containerPort must be an integer from 1 to 65535, got ${containerPort}`);
  }
  if (!healthCheckPath.startsWith('/')) {
    throw new Error(`healthCheckPath must start with '/', got '${healthCheckPath}'`);
  }
  if (!Token.isUnresolved(props.serviceName)) checkSetting('serviceName', props.serviceName);
  checkSetting('collectorVersion', props.collectorVersion);
  checkSetting('fluentBitVersion', props.fluentBitVersion);
  if (!Token.isUnresolved(cpu) && !Token.isUnresolved(memoryLimitMiB)) {
    const problem = fargateSizeProblem(cpu, memoryLimitMiB);
    if (problem) throw new Error(`cpu and memoryLimitMiB: ${problem}`);
  }
  if (!Token.isUnresolved(memoryLimitMiB) && appMemoryLimitMiB(memoryLimitMiB) < MIN_APP_MEMORY_MIB) {
    throw new Error(
      `memoryLimitMiB ${memoryLimitMiB} leaves the service ${appMemoryLimitMiB(memoryLimitMiB)} MiB after the ` +
        `sidecars' hard limits (collector ${COLLECTOR_MEMORY_LIMIT_MIB}, log router ${LOG_ROUTER_MEMORY_LIMIT_MIB}); ` +
        `the service needs at least ${MIN_APP_MEMORY_MIB} MiB: use a task of 1024 MiB or more`,
    );
  }
  if (props.environment) {
    const reserved: readonly string[] = RESERVED_ENVIRONMENT;
    const clashes = Object.keys(props.environment).filter((key) => reserved.includes(key));
    if (clashes.length > 0) {
      throw new Error(`environment must not set ${clashes.join(', ')}: ObservedTaskDefinition sets them`);
    }
  }
}
