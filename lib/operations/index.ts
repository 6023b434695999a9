// Operating the service: metrics from its logs and its sidecars' logs, X-Ray groups (with Insights) for its traces
// and its faults, alarms that notify an encrypted, TLS-only SNS topic, and a dashboard. Every alarm's description
// leads to the fault traces, the saved query for one trace's lines, and the dashboard.
import { Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AlarmTopic } from './alarm-topic';
import { ServiceAlarms, type AlarmThresholds } from './alarms';
import { dashboardUrl, logsInsightsUrl, xrayInsightsUrl, xrayTracesUrl } from './console';
import { OperationsDashboard } from './dashboard';
import { LogMetrics } from './log-metrics';
import { XRayGroups } from './xray-groups';

export type { AlarmThresholds } from './alarms';

export interface OperationsProps extends AlarmThresholds {
  /** The service's name in its traces (and in the dashboard's heading). */
  readonly serviceName: string;

  /** The ECS service. */
  readonly service: ecs.BaseService;

  /** The load balancer in front of the service. */
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;

  /** The service's target group. */
  readonly targetGroup: elbv2.ApplicationTargetGroup;

  /** The service's JSON lines. */
  readonly serviceLogGroup: logs.ILogGroup;

  /** The collector sidecar's own log. */
  readonly collectorLogGroup: logs.ILogGroup;

  /** The log router sidecar's own log. */
  readonly logRouterLogGroup: logs.ILogGroup;

  /** The orders table, graphed on the dashboard (throttles, errors, latency). @default - no table row */
  readonly ordersTable?: dynamodb.ITable;

  /** The saved Logs Insights query that lists one trace's lines, which the alarms point to. */
  readonly traceLogsQueryName: string;

  /** Whether the cluster has Container Insights (standard or enhanced). @default true */
  readonly containerInsights?: boolean;

  /** The fewest tasks autoscaling keeps. @default 1 */
  readonly minTasks?: number;

  /** The CPU percentage autoscaling aims for, drawn on the dashboard. @default 60 */
  readonly targetCpuPercent?: number;

  /** Where alarm notifications are emailed (the recipient confirms). @default - no subscription: the topic only */
  readonly alarmEmail?: string;

  /** The start of the alarms' names and the dashboard's name, unique in the account. @default - the stack's name */
  readonly namePrefix?: string;

  /** The namespace of the metrics made from log lines. @default - `OtelFargate/<namePrefix>` */
  readonly metricNamespace?: string;
}

export class Operations extends Construct {
  readonly alarmTopic: AlarmTopic;
  readonly logMetrics: LogMetrics;
  readonly xrayGroups: XRayGroups;
  readonly alarms: ServiceAlarms;
  readonly dashboard: OperationsDashboard;
  /** The dashboard in the console of the stack's region. */
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const prefix = props.namePrefix ?? stack.stackName;
    if (!Token.isUnresolved(prefix) && !/^[A-Za-z0-9_-]{1,200}$/.test(prefix)) {
      throw new Error(`namePrefix must be 1 to 200 letters, digits, '-' or '_', got '${prefix}'`);
    }
    const containerInsights = props.containerInsights ?? true;
    const minTasks = props.minTasks ?? 1;
    const region = stack.region;
    // Dashboards are global to the account: the region keeps the stack's dashboards in two regions apart.
    const dashboardName = `${prefix}-${region}`;
    this.dashboardUrl = dashboardUrl(region, dashboardName);

    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      alarmNamePattern: `${prefix}-*`,
      email: props.alarmEmail,
      displayName: `${props.serviceName} alarms`,
    });
    this.logMetrics = new LogMetrics(this, 'LogMetrics', {
      namespace: props.metricNamespace ?? `OtelFargate/${prefix}`,
      serviceLogGroup: props.serviceLogGroup,
      collectorLogGroup: props.collectorLogGroup,
      logRouterLogGroup: props.logRouterLogGroup,
    });
    this.xrayGroups = new XRayGroups(this, 'XRayGroups', { serviceName: props.serviceName });

    this.alarms = new ServiceAlarms(this, 'Alarms', {
      evaluationMinutes: props.evaluationMinutes,
      max5xxPercent: props.max5xxPercent,
      maxP99LatencyMs: props.maxP99LatencyMs,
      maxErrorLines: props.maxErrorLines,
      spanExportFailingMinutes: props.spanExportFailingMinutes,
      service: props.service,
      targetGroup: props.targetGroup,
      loadBalancer: props.loadBalancer,
      alarmNamePrefix: prefix,
      topic: this.alarmTopic.topic,
      logMetrics: this.logMetrics,
      containerInsights,
      minTasks,
      firstStops: {
        dashboardUrl: this.dashboardUrl,
        faultsGroupName: this.xrayGroups.faultsGroupName,
        tracesGroupName: this.xrayGroups.tracesGroupName,
        tracesUrl: xrayTracesUrl(region),
        traceLogsQueryName: props.traceLogsQueryName,
        logsInsightsUrl: logsInsightsUrl(region),
        collectorLogGroupName: props.collectorLogGroup.logGroupName,
      },
    });

    this.dashboard = new OperationsDashboard(this, 'Dashboard', {
      dashboardName,
      serviceName: props.serviceName,
      loadBalancer: props.loadBalancer,
      targetGroup: props.targetGroup,
      service: props.service,
      containerInsights,
      minTasks,
      targetCpuPercent: props.targetCpuPercent,
      logMetrics: this.logMetrics,
      xrayGroups: this.xrayGroups,
      alarms: this.alarms,
      ordersTable: props.ordersTable,
      links: {
        tracesUrl: xrayTracesUrl(region),
        insightsUrl: xrayInsightsUrl(region),
        logsInsightsUrl: logsInsightsUrl(region),
        traceLogsQueryName: props.traceLogsQueryName,
      },
    });
  }
}
