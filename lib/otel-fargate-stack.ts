// The stack composes: a VPC, a cluster with Container Insights, the observed service behind a public load
// balancer, the `otel-test` log group its traces link to, the orders table (DynamoDB) behind a gateway endpoint, the
// service's X-Ray sampling rule, a saved query for one trace's lines, operations (alarms, dashboard, X-Ray groups),
// optionally a WAF web ACL and a cost budget, and outputs; with profile 'governed', also what AWS Control Tower's
// proactive controls require (lib/profile.ts).
import * as path from 'node:path';
import { Annotations, CfnOutput, RemovalPolicy, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Construct } from 'constructs';
import { waiveControl, waiveDefaultProfileLogGroup } from './control-tower';
import { LogEncryptionKey } from './log-encryption-key';
import { Network } from './network';
import { OrdersTable } from './orders-table';
import { ObservedTaskDefinition } from './observed-task-definition';
import { PublicLoadBalancedService } from './public-load-balanced-service';
import { ServiceSamplingRule } from './sampling-rule';
import { Operations } from './operations';
import { Profile, governedProblems } from './profile';
import { DEFAULTS, checkSetting, serviceNodeOptions } from './settings';
import { TraceLogsQuery } from './trace-logs-query';
import { CostBudget, tagForCostAllocation } from './cost-budget';
import { WebFirewall } from './web-firewall';

/** The service in this repo, built by `cdk deploy` from app/Dockerfile. */
export const APP_DIRECTORY = path.join(__dirname, '..', 'app');

export interface OtelFargateStackProps extends StackProps {
  /** 'governed' meets AWS Control Tower's proactive controls and refuses settings that break one. @default 'default' */
  readonly profile?: Profile;

  /** The service's name in traces and log streams. @default 'otel-fargate-service' */
  readonly serviceName?: string;

  /** The log group for the service's lines, which X-Ray links each trace to. @default 'otel-test' */
  readonly logGroupName?: string;

  /** How long the service's lines are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Use the existing group named `logGroupName` (kept by an earlier `cdk destroy`) instead of creating it: imported
   * by name, its retention left as it is, the task's grants still scoped to it. @default false
   */
  readonly adoptLogGroup?: boolean;

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

  /** An ACM certificate ARN for HTTPS with HTTP redirected. @default - HTTP only; required with profile 'governed' */
  readonly certificateArn?: string;

  /** Deletion protection on the load balancer and the orders table. @default - false; true with profile 'governed' */
  readonly deletionProtection?: boolean;

  /** What `cdk destroy` does with the orders table: RETAIN or DESTROY. @default RemovalPolicy.RETAIN */
  readonly ordersTableRemovalPolicy?: RemovalPolicy;

  /** The ADOT collector release tag. @default 'v0.49.0' */
  readonly collectorVersion?: string;

  /** The AWS for Fluent Bit image tag. @default '3.4.16' */
  readonly fluentBitVersion?: string;

  /** Share of requests beyond the reservoir that the sampling rule records, 0 to 1. @default 0.05 */
  readonly samplingRate?: number;

  /** Requests a second the sampling rule records before the rate applies. @default 1 */
  readonly samplingReservoirPerSecond?: number;

  /** Record every request (a sampling rate of 1), for demos; each is a billed trace. @default false */
  readonly recordEveryRequest?: boolean;
  /** Container Insights on the cluster; DISABLED also moves the task alarm to healthy targets. @default ecs.ContainerInsights.ENHANCED; ENABLED with profile 'governed' */
  readonly containerInsights?: ecs.ContainerInsights;

  /** Where alarm notifications are emailed (the recipient confirms). @default - no subscription */
  readonly alarmEmail?: string;

  /** Consecutive minutes before the 5xx, latency, target and task alarms fire; the error-line window. @default 5 */
  readonly alarmEvaluationMinutes?: number;

  /** The 5xx share of requests that pages, in percent. @default 5 */
  readonly alarm5xxPercent?: number;

  /** The p99 response time that pages, in milliseconds. @default 1000 */
  readonly alarmP99LatencyMs?: number;

  /** Service error lines within alarmEvaluationMinutes that page. @default 5 */
  readonly alarmErrorLines?: number;

  /** Minutes of failing span export before its alarm fires. @default 5 */
  readonly alarmSpanExportMinutes?: number;

  /** An AWS WAF web ACL on the load balancer: a per-address rate limit and AWS managed rules. @default false */
  readonly webFirewall?: boolean;

  /** Requests one address may send within 5 minutes, with webFirewall. @default 1000 */
  readonly webFirewallRateLimit?: number;

  /** A monthly AWS Budgets cost budget, in whole US dollars, over the stack's cost-allocation tag. @default - none */
  readonly monthlyBudgetUsd?: number;

  /** Who the budget emails. @default - alarmEmail */
  readonly budgetEmail?: string;
}

export class OtelFargateStack extends Stack {
  constructor(scope: Construct, id: string, props: OtelFargateStackProps = {}) {
    super(scope, id, props);
    const serviceName = props.serviceName ?? DEFAULTS.serviceName;
    const logGroupName = props.logGroupName ?? DEFAULTS.logGroupName;
    checkSetting('logGroupName', logGroupName);
    const cpuArchitecture = props.cpuArchitecture ?? ecs.CpuArchitecture.ARM64;
    const memoryLimitMiB = props.memoryLimitMiB ?? DEFAULTS.memoryLimitMiB;
    const governed = (props.profile ?? DEFAULTS.profile) === 'governed';
    if (governed) validateGoverned(props);
    // The flow logs', the sidecars' and the WAF logs' retention; the service's own group follows logRetention.
    const supportingLogRetention = governed ? logs.RetentionDays.ONE_YEAR : logs.RetentionDays.ONE_MONTH;
    const logEncryptionKey = governed ? new LogEncryptionKey(this, 'LogEncryptionKey').key : undefined;

    const network = new Network(this, 'Network', {
      natGateways: props.natGateways,
      flowLogRetention: supportingLogRetention,
      logEncryptionKey,
      defaultSecurityGroupHandlerInVpc: governed,
    });
    const containerInsights =
      props.containerInsights ?? (governed ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.ENHANCED);
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc: network.vpc, containerInsightsV2: containerInsights });
    if (containerInsights === ecs.ContainerInsights.ENHANCED) {
      waiveControl(
        cluster,
        'CT.ECS.PR.2',
        'Container Insights runs with enhanced observability (context key containerInsights=enhanced), which ' +
          "collects what the standard 'enabled' setting does and task- and container-level metrics besides; the " +
          "control's rule accepts only the value 'enabled'. profile=governed uses 'enabled'.",
      );
    }
    if (containerInsights === ecs.ContainerInsights.DISABLED) {
      Validations.of(cluster).acknowledge({
        id: 'AwsSolutions-ECS4',
        reason:
          'Container Insights is off because the deployer chose so (context key containerInsights=disabled) to save ' +
          'its cost; ECS still publishes the service CPU and memory metrics, and the missing-tasks alarm then ' +
          'counts healthy targets instead of running tasks.',
      });
      waiveControl(
        cluster,
        'CT.ECS.PR.2',
        'The deployer turned Container Insights off (context key containerInsights=disabled) to save its cost; ECS ' +
          'still publishes the service CPU and memory metrics. profile=governed refuses this setting.',
      );
    }

    const deletionProtection = props.deletionProtection ?? governed;
    const orders = new OrdersTable(this, 'Orders', {
      removalPolicy: props.ordersTableRemovalPolicy,
      deletionProtection,
      vpc: network.vpc,
      endpointSubnets: network.taskSubnets,
    });

    const logRetention = props.logRetention ?? (governed ? logs.RetentionDays.ONE_YEAR : logs.RetentionDays.ONE_MONTH);
    const logGroup = props.adoptLogGroup
      ? this.adoptLogGroup(logGroupName, props.logRetention, governed)
      : this.createLogGroup(logGroupName, logRetention, logEncryptionKey);

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
      environment: {
        ...(props.image === undefined && !Token.isUnresolved(memoryLimitMiB)
          ? { NODE_OPTIONS: serviceNodeOptions(memoryLimitMiB) }
          : {}),
        ...orders.serviceEnvironment,
      },
      cpuArchitecture,
      collectorVersion: props.collectorVersion,
      fluentBitVersion: props.fluentBitVersion,
      sidecarLogRetention: supportingLogRetention,
      logEncryptionKey,
    });

    orders.grantItemReadWrite(observed.taskDefinition.taskRole);

    const web = new PublicLoadBalancedService(this, 'Web', {
      cluster,
      taskDefinition: observed.taskDefinition,
      taskSubnets: network.taskSubnets,
      assignPublicIp: network.tasksNeedPublicIp,
      certificateArn: props.certificateArn,
      deletionProtection,
      governedAccessLogBucket: governed,
      desiredCount: props.desiredCount,
      minTasks: props.minTasks,
      maxTasks: props.maxTasks,
    });

    const samplingRule = new ServiceSamplingRule(this, 'SamplingRule', {
      serviceName,
      fixedRate: props.recordEveryRequest ? 1 : props.samplingRate,
      reservoirPerSecond: props.samplingReservoirPerSecond,
    });

    const queryName = `${serviceName}/log-lines-of-one-trace`;
    new TraceLogsQuery(this, 'TraceLogsQuery', { logGroups: [logGroup], queryName });

    const operations = new Operations(this, 'Operations', {
      serviceName,
      service: web.service.service,
      loadBalancer: web.loadBalancer,
      targetGroup: web.service.targetGroup,
      serviceLogGroup: logGroup,
      collectorLogGroup: observed.collectorLogGroup,
      logRouterLogGroup: observed.logRouterLogGroup,
      ordersTable: orders.table,
      traceLogsQueryName: queryName,
      containerInsights: containerInsights !== ecs.ContainerInsights.DISABLED,
      minTasks: props.minTasks ?? props.desiredCount ?? DEFAULTS.desiredCount,
      alarmEmail: props.alarmEmail,
      evaluationMinutes: props.alarmEvaluationMinutes,
      max5xxPercent: props.alarm5xxPercent,
      maxP99LatencyMs: props.alarmP99LatencyMs,
      maxErrorLines: props.alarmErrorLines,
      spanExportFailingMinutes: props.alarmSpanExportMinutes,
    });

    // Every taggable resource carries the stack's cost-allocation tag, whether or not a budget watches it, so that it
    // can be activated in the Billing console before a budget is wanted.
    tagForCostAllocation(this, this.stackName);
    if (props.webFirewallRateLimit !== undefined && !props.webFirewall) {
      throw new Error('webFirewallRateLimit applies only with webFirewall: true');
    }
    if (props.webFirewall) {
      const firewall = new WebFirewall(this, 'WebFirewall', {
        loadBalancer: web.loadBalancer,
        rateLimit: props.webFirewallRateLimit,
        logRetention: supportingLogRetention,
        logEncryptionKey,
      });
      new CfnOutput(this, 'WebAclArn', { value: firewall.webAcl.attrArn, description: 'The AWS WAF web ACL' });
    }
    if (props.monthlyBudgetUsd !== undefined) {
      const email = props.budgetEmail ?? props.alarmEmail;
      if (email === undefined) throw new Error('monthlyBudgetUsd needs budgetEmail (or alarmEmail) to notify');
      const budget = new CostBudget(this, 'CostBudget', { monthlyLimitUsd: props.monthlyBudgetUsd, email });
      new CfnOutput(this, 'BudgetName', { value: budget.budgetName, description: 'The AWS Budgets cost budget' });
    } else if (props.budgetEmail !== undefined) {
      throw new Error('budgetEmail applies only with monthlyBudgetUsd');
    }

    const consoleHome = `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}`;
    new CfnOutput(this, 'ServiceUrl', { value: web.url, description: 'Open this URL to send a traced request' });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName });
    new CfnOutput(this, 'LogGroupArn', {
      value: observed.logGroupArn,
      description: 'The ARN the spans link to (aws.log.group.arns), without the :* of the group’s Arn attribute',
    });
    new CfnOutput(this, 'XRayTracesConsoleUrl', {
      value: `${consoleHome}#xray:traces/query`,
      description: 'X-Ray traces; open one to see its log lines',
    });
    new CfnOutput(this, 'LogGroupConsoleUrl', {
      value: `${consoleHome}#logsV2:log-groups/log-group/${consoleEscape(logGroupName)}`,
    });
    new CfnOutput(this, 'SamplingRuleName', {
      value: samplingRule.ruleName,
      description: `X-Ray sampling rule: ${samplingRule.reservoirPerSecond}/s + ${samplingRule.fixedRate} of the rest`,
    });
    new CfnOutput(this, 'SamplingRuleConsoleUrl', {
      value: `${consoleHome}#xray:settings/sampling-rules`,
      description: 'X-Ray sampling rules; a change there applies within a minute, until the next deploy',
    });
    new CfnOutput(this, 'OrdersTableName', {
      value: orders.table.tableName,
      description:
        orders.removalPolicy === RemovalPolicy.RETAIN
          ? 'The orders table (DynamoDB); kept by cdk destroy, so delete it yourself (docs/deploy.md, Teardown)'
          : 'The orders table (DynamoDB); deleted with its orders by cdk destroy',
    });
    new CfnOutput(this, 'TraceLogsQueryName', {
      value: queryName,
      description: 'Saved Logs Insights query: paste a trace ID (either form) and run it',
    });
    new CfnOutput(this, 'AccessLogBucketName', {
      value: web.accessLogsBucket.bucketName,
      description:
        'The load balancer access logs; kept by cdk destroy, so delete it yourself (docs/deploy.md, Teardown)',
    });
    new CfnOutput(this, 'DashboardUrl', {
      value: operations.dashboardUrl,
      description: 'The service dashboard: traffic, errors, latency, tasks, log errors, traces',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: operations.alarmTopic.topic.topicArn,
      description: 'The SNS topic every alarm notifies; subscribe to it (or set the alarmEmail context key)',
    });
  }

  /**
   * Kept when the stack is deleted: it holds the service's logs. Its logical ID is pinned, because a new ID would
   * make CloudFormation replace the group and lose them.
   */
  private createLogGroup(
    logGroupName: string,
    retention: logs.RetentionDays,
    encryptionKey: kms.IKey | undefined,
  ): logs.ILogGroup {
    const logGroup = new logs.LogGroup(this, 'ServiceLogGroup', {
      logGroupName,
      retention,
      encryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    (logGroup.node.defaultChild as logs.CfnLogGroup).overrideLogicalId('ServiceLogGroup');
    waiveDefaultProfileLogGroup(logGroup, retention, encryptionKey !== undefined);
    return logGroup;
  }

  /** The group of that name that already exists: referenced only, so the stack neither creates nor changes it. */
  private adoptLogGroup(
    logGroupName: string,
    retention: logs.RetentionDays | undefined,
    governed: boolean,
  ): logs.ILogGroup {
    if (governed) {
      Annotations.of(this).addWarning(
        `adoptLogGroup with profile=governed: '${logGroupName}' keeps its own retention and encryption, which the ` +
          'Control Tower checks cannot see (they judge only what the template creates); CT.CLOUDWATCH.PR.2 and PR.3 ' +
          'ask for a year or more and a KMS key (`aws logs put-retention-policy`, `aws logs associate-kms-key`).',
      );
    }
    if (retention !== undefined) {
      Annotations.of(this).addWarning(
        `adoptLogGroup: the retention of '${logGroupName}' is left as it is; the logRetention given is not ` +
          'applied (set it with `aws logs put-retention-policy`).',
      );
    }
    return logs.LogGroup.fromLogGroupName(this, 'ServiceLogGroup', logGroupName);
  }
}

/** Throws, naming each setting, when props ask the governed profile for something its controls refuse. */
function validateGoverned(props: OtelFargateStackProps): void {
  const problems = governedProblems({
    certificateArn: props.certificateArn,
    natGateways: props.natGateways,
    logRetentionDays: props.logRetention,
    containerInsights: props.containerInsights,
    deletionProtection: props.deletionProtection,
  });
  if (problems.length > 0) {
    throw new Error(
      `profile 'governed' cannot deploy these settings:\n${problems.map((p) => `  - ${p.key} ${p.problem}`).join('\n')}`,
    );
  }
}

/** The CloudWatch console's escaping of a log group name inside its URL fragment. */
function consoleEscape(name: string): string {
  return encodeURIComponent(name).replace(/%/g, '$25');
}
