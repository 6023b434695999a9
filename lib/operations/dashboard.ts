// One CloudWatch dashboard for the service: where to go first, the alarms, then the load balancer, the tasks, the
// logs and the traces. Each graph's title says what good looks like.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { serverErrorRate, taskCount, type ServiceAlarms } from './alarms';
import type { LogMetrics } from './log-metrics';
import type { XRayGroups } from './xray-groups';

export interface OperationsDashboardProps {
  /** The dashboard's name, unique in the account (dashboards are global). */
  readonly dashboardName: string;

  /** The service's name, in the dashboard's heading. */
  readonly serviceName: string;

  /** The load balancer in front of the service (its own 4xx and 5xx). */
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;

  /** The service's target group (requests, response codes, response time, target health). */
  readonly targetGroup: elbv2.ApplicationTargetGroup;

  /** The ECS service (CPU, memory, task counts). */
  readonly service: ecs.BaseService;

  /** Whether the cluster has Container Insights (running and desired task counts). */
  readonly containerInsights: boolean;

  /** The fewest tasks autoscaling keeps; without Container Insights healthy targets are drawn against it. */
  readonly minTasks: number;

  /** The CPU percentage autoscaling aims for. @default 60 */
  readonly targetCpuPercent?: number;

  /** The metrics from log lines. */
  readonly logMetrics: LogMetrics;

  /** The X-Ray groups, whose trace counts are graphed. */
  readonly xrayGroups: XRayGroups;

  /** The orders table: its throttles, errors and latency get a row of their own. @default - no row */
  readonly ordersTable?: dynamodb.ITable;

  /** The alarms, shown with their state; their thresholds are drawn on the graphs. */
  readonly alarms: ServiceAlarms;

  /** Console links for the heading. */
  readonly links: {
    readonly tracesUrl: string;
    readonly insightsUrl: string;
    readonly logsInsightsUrl: string;
    readonly traceLogsQueryName: string;
  };
}

const MINUTE = Duration.minutes(1);
const WIDTH = 8;
const HEIGHT = 6;

export class OperationsDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const tg = props.targetGroup.metrics;
    const lb = props.loadBalancer.metrics;
    const limits = props.alarms.thresholds;
    const sum = { statistic: 'Sum', period: MINUTE };
    const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
      new cloudwatch.GraphWidget({ title, left, width: WIDTH, height: HEIGHT, period: MINUTE, ...extra });
    const line = (label: string, value: number): cloudwatch.HorizontalAnnotation => ({ label, value });

    const requests = tg.requestCount({ ...sum, label: 'Requests' });
    const target4xx = tg.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, { ...sum, label: 'Service 4xx' });
    const target5xx = tg.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { ...sum, label: 'Service 5xx' });
    const service4xxRate = new cloudwatch.MathExpression({
      expression: '100 * FILL(e4, 0) / requests',
      usingMetrics: {
        requests: tg.requestCount(sum),
        e4: tg.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, sum),
      },
      period: MINUTE,
      label: 'Service 4xx %',
    });

    const heading = new cloudwatch.TextWidget({
      width: 12,
      height: HEIGHT,
      markdown: [
        `# ${props.serviceName}`,
        'When an alarm fires, start with:',
        `* [X-Ray traces](${props.links.tracesUrl}), group **${props.xrayGroups.faultsGroupName}**: the traces with ` +
          `faults; each one's Logs section lists its log lines. Group **${props.xrayGroups.tracesGroupName}** holds ` +
          `all of them; [X-Ray Insights](${props.links.insightsUrl}) reports unusual fault rates.`,
        `* [Logs Insights](${props.links.logsInsightsUrl}), Queries, **${props.links.traceLogsQueryName}**: paste a ` +
          'trace ID (either form) to list its lines.',
        '* docs/operations.md, sections "Alarms" and "Runbook": what each alarm means and the first three things to do.',
      ].join('\n'),
    });
    const alarmStatus = new cloudwatch.AlarmStatusWidget({
      title: 'Alarms (good: all OK)',
      alarms: props.alarms.all,
      width: 12,
      height: HEIGHT,
    });

    const tasks = props.containerInsights
      ? graph('Running and desired tasks (good: the lines overlap)', [
          taskCount(props.service, 'RunningTaskCount', 'Running'),
          taskCount(props.service, 'DesiredTaskCount', 'Desired'),
          taskCount(props.service, 'PendingTaskCount', 'Pending'),
        ])
      : graph(
          `Healthy targets (good: at least ${props.minTasks}, the scaling floor)`,
          [tg.healthyHostCount({ statistic: 'Minimum', period: MINUTE, label: 'Healthy targets' })],
          { leftAnnotations: [line('Scaling floor', props.minTasks)] },
        );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
      widgets: [
        [heading, alarmStatus],
        [
          graph('Requests per minute (good: your usual traffic)', [requests]),
          graph('4xx and 5xx per minute (good: 5xx at 0)', [
            target4xx,
            target5xx,
            lb.httpCodeElb(elbv2.HttpCodeElb.ELB_4XX_COUNT, { ...sum, label: 'Load balancer 4xx' }),
            lb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { ...sum, label: 'Load balancer 5xx' }),
          ]),
          graph(
            `4xx and 5xx, % of requests (good: 5xx at 0, alarm over ${limits.max5xxPercent}%)`,
            [
              serverErrorRate(props.targetGroup, props.loadBalancer, '5xx %, service and load balancer'),
              service4xxRate,
            ],
            { leftAnnotations: [line('5xx alarm', limits.max5xxPercent)] },
          ),
        ],
        [
          graph(
            `Response time, seconds (good: p99 under ${limits.maxP99LatencyMs / 1000} s)`,
            ['p50', 'p90', 'p99'].map((statistic) =>
              tg.targetResponseTime({ statistic, period: MINUTE, label: statistic }),
            ),
            { leftAnnotations: [line('p99 alarm', limits.maxP99LatencyMs / 1000)] },
          ),
          graph('Healthy and unhealthy targets (good: unhealthy at 0)', [
            tg.healthyHostCount({ statistic: 'Minimum', period: MINUTE, label: 'Healthy' }),
            tg.unhealthyHostCount({ statistic: 'Maximum', period: MINUTE, label: 'Unhealthy' }),
          ]),
          tasks,
        ],
        [
          graph(
            `CPU and memory, % of the task (good: CPU under ${props.targetCpuPercent ?? 60}%, where scaling adds tasks)`,
            [
              props.service.metricCpuUtilization({ period: MINUTE, label: 'CPU average' }),
              props.service.metricCpuUtilization({ period: MINUTE, statistic: 'Maximum', label: 'CPU busiest task' }),
              props.service.metricMemoryUtilization({ period: MINUTE, label: 'Memory average' }),
              props.service.metricMemoryUtilization({
                period: MINUTE,
                statistic: 'Maximum',
                label: 'Memory busiest task',
              }),
            ],
            { leftYAxis: { min: 0, max: 100 } },
          ),
          graph('Service error and fatal lines per minute (good: 0)', [
            props.logMetrics.serviceErrorLines.with({ label: 'Error and fatal lines' }),
          ]),
          graph('Span export failing lines per minute, one or two per failing task (good: 0)', [
            props.logMetrics.spanExportFailingLines.with({ label: 'Span export failing lines' }),
          ]),
        ],
        ...(props.ordersTable ? [ordersTableRow(props.ordersTable, graph)] : []),
        [
          graph('Sidecar errors per minute (good: 0)', [
            props.logMetrics.collectorErrors.with({ label: 'Collector' }),
            props.logMetrics.logRouterErrors.with({ label: 'Log router' }),
          ]),
          graph('X-Ray traces per minute (good: faults at 0, all above 0 while there is traffic)', [
            props.xrayGroups.traceCount('traces', `All (${props.xrayGroups.tracesGroupName})`),
            props.xrayGroups.traceCount('faults', `With faults (${props.xrayGroups.faultsGroupName})`),
          ]),
        ],
      ],
    });
  }
}

/** The operations the service calls on the orders table (lib/orders-table.ts, ORDERS_TABLE_ACTIONS). */
const ORDERS_TABLE_OPERATIONS = [dynamodb.Operation.PUT_ITEM, dynamodb.Operation.GET_ITEM];

/**
 * The orders table: throttles and DynamoDB's own errors, which the service answers with 503 store_unavailable (and
 * the 5xx alarm counts), refused conditional writes (an order ID already taken), and each call's latency.
 */
function ordersTableRow(
  table: dynamodb.ITable,
  graph: (title: string, left: cloudwatch.IMetric[]) => cloudwatch.GraphWidget,
): cloudwatch.IWidget[] {
  const sum = { statistic: 'Sum', period: MINUTE };
  return [
    // Two graphs: each ...ForOperations metric is a sum over per-operation metrics whose IDs would clash in one.
    graph('Orders table: throttled requests per minute (good: 0; the service answers 503)', [
      table.metricThrottledRequestsForOperations({ ...sum, operations: ORDERS_TABLE_OPERATIONS }),
    ]),
    graph('Orders table: errors per minute (good: 0; DynamoDB errors make the service answer 503)', [
      table.metricSystemErrorsForOperations({ ...sum, operations: ORDERS_TABLE_OPERATIONS }),
      table.metricConditionalCheckFailedRequests({ ...sum, label: 'Writes refused: order ID taken' }),
    ]),
    graph(
      'Orders table: latency, p99 ms (good: a few ms)',
      ORDERS_TABLE_OPERATIONS.map((operation) =>
        table.metricSuccessfulRequestLatency({
          statistic: 'p99',
          period: MINUTE,
          dimensionsMap: { TableName: table.tableName, Operation: operation },
          label: operation,
        }),
      ),
    ),
  ];
}
