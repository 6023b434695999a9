// The stack composes: a VPC, a cluster with Container Insights, the observed service behind a public load
// balancer, the `otel-test` log group its traces link to, a saved query for one trace's lines, and outputs.
import * as path from 'node:path';
import { CfnOutput, RemovalPolicy, Stack, StackProps, Token } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Construct } from 'constructs';
import { Network } from './network';
import { ObservedTaskDefinition } from './observed-task-definition';
import { PublicLoadBalancedService } from './public-load-balanced-service';
import { DEFAULTS, checkSetting, serviceNodeOptions } from './settings';
import { TraceLogsQuery } from './trace-logs-query';

/** The service in this repo, built by `cdk deploy` from app/Dockerfile. */
export const APP_DIRECTORY = path.join(__dirname, '..', 'app');

export interface OtelFargateStackProps extends StackProps {
  /** The service's name in traces and log streams. @default 'otel-fargate-service' */
  readonly serviceName?: string;

  /** The log group for the service's lines, which X-Ray links each trace to. @default 'otel-test' */
  readonly logGroupName?: string;

  /** How long the service's lines are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;

  /** The service's image. @default - built from app/ for `cpuArchitecture`, with NODE_OPTIONS sizing its heap */
  readonly image?: ecs.ContainerImage;

  /** Tasks to run while no scaling is needed. @default 2 */
  readonly desiredCount?: number;

  /** The fewest tasks autoscaling keeps. @default desiredCount */
  readonly minTasks?: number;

  /** The most tasks autoscaling starts. @default - 6, or desiredCount if larger */
  readonly maxTasks?: number;

  /** CPU units per task. @default 512 */
  readonly cpu?: number;

  /** Memory per task. @default 1024 */
  readonly memoryLimitMiB?: number;

  /** The tasks' CPU architecture; the image is built for it. @default ecs.CpuArchitecture.ARM64 */
  readonly cpuArchitecture?: ecs.CpuArchitecture;

  /** NAT gateways; 0 runs the tasks in public subnets. @default 1 */
  readonly natGateways?: number;

  /** An ACM certificate ARN for HTTPS with HTTP redirected. @default - HTTP only */
  readonly certificateArn?: string;

  /** The ADOT collector release tag. @default 'v0.49.0' */
  readonly collectorVersion?: string;

  /** The AWS for Fluent Bit image tag. @default '3.4.16' */
  readonly fluentBitVersion?: string;
}

export class OtelFargateStack extends Stack {
  constructor(scope: Construct, id: string, props: OtelFargateStackProps = {}) {
    super(scope, id, props);
    const serviceName = props.serviceName ?? DEFAULTS.serviceName;
    const logGroupName = props.logGroupName ?? DEFAULTS.logGroupName;
    checkSetting('logGroupName', logGroupName);
    const cpuArchitecture = props.cpuArchitecture ?? ecs.CpuArchitecture.ARM64;
    const memoryLimitMiB = props.memoryLimitMiB ?? DEFAULTS.memoryLimitMiB;

    const network = new Network(this, 'Network', { natGateways: props.natGateways });
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    // Kept when the stack is deleted: it holds the service's logs. Its logical ID is pinned, because a
    // new ID would make CloudFormation replace the group and lose them.
    const logGroup = new logs.LogGroup(this, 'ServiceLogGroup', {
      logGroupName,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    (logGroup.node.defaultChild as logs.CfnLogGroup).overrideLogicalId('ServiceLogGroup');

    const observed = new ObservedTaskDefinition(this, 'ObservedTask', {
      image:
        props.image ??
        ecs.ContainerImage.fromAsset(APP_DIRECTORY, {
          platform: cpuArchitecture === ecs.CpuArchitecture.X86_64 ? Platform.LINUX_AMD64 : Platform.LINUX_ARM64,
        }),
      serviceName,
      logGroup,
      cpu: props.cpu,
      memoryLimitMiB,
      // The service from app/ is Node: its heap is sized to its share of the task. An image of the user's own keeps
      // its own NODE_OPTIONS.
      environment:
        props.image === undefined && !Token.isUnresolved(memoryLimitMiB)
          ? { NODE_OPTIONS: serviceNodeOptions(memoryLimitMiB) }
          : {},
      cpuArchitecture,
      collectorVersion: props.collectorVersion,
      fluentBitVersion: props.fluentBitVersion,
    });

    const web = new PublicLoadBalancedService(this, 'Web', {
      cluster,
      taskDefinition: observed.taskDefinition,
      taskSubnets: network.taskSubnets,
      assignPublicIp: network.tasksNeedPublicIp,
      certificateArn: props.certificateArn,
      desiredCount: props.desiredCount,
      minTasks: props.minTasks,
      maxTasks: props.maxTasks,
    });

    const queryName = `${serviceName}/log-lines-of-one-trace`;
    new TraceLogsQuery(this, 'TraceLogsQuery', { logGroups: [logGroup], queryName });

    const consoleHome = `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}`;
    new CfnOutput(this, 'ServiceUrl', { value: web.url, description: 'Open this URL to send a traced request' });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName });
    new CfnOutput(this, 'LogGroupArn', { value: logGroup.logGroupArn });
    new CfnOutput(this, 'XRayTracesConsoleUrl', {
      value: `${consoleHome}#xray:traces/query`,
      description: 'X-Ray traces; open one to see its log lines',
    });
    new CfnOutput(this, 'LogGroupConsoleUrl', {
      value: `${consoleHome}#logsV2:log-groups/log-group/${consoleEscape(logGroupName)}`,
    });
    new CfnOutput(this, 'TraceLogsQueryName', {
      value: queryName,
      description: 'Saved Logs Insights query: paste a trace ID (either form) and run it',
    });
    new CfnOutput(this, 'AccessLogBucketName', {
      value: web.accessLogsBucket.bucketName,
      description: 'The load balancer access logs; kept by cdk destroy, so delete it yourself (README, Teardown)',
    });
  }
}

/** The CloudWatch console's escaping of a log group name inside its URL fragment. */
function consoleEscape(name: string): string {
  return encodeURIComponent(name).replace(/%/g, '$25');
}
