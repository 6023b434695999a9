// The alarms that page, each on a 1-minute signal: 5xx rate (the service's and the load balancer's own), p99 latency,
// unhealthy targets, tasks below desired (nothing running included), service error lines, a span export outage, and
// the collector failing to deliver to X-Ray.
// Each notifies the topic when it fires and when it recovers, and its description names what to open first. Missing
// data is chosen per alarm; the reason is next to each. A description holds at most 1,024 characters
// (AWS::CloudWatch::Alarm AlarmDescription): test/operations.test.ts checks them for the longest context values.
import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { DEFAULTS } from '../settings';
import type { LogMetrics } from './log-metrics';

/** Where an on-call engineer starts; alarm descriptions name these. */
export interface FirstStops {
  /** The dashboard's console URL. */
  readonly dashboardUrl: string;
  /** The X-Ray group of the service's traces with faults. */
  readonly faultsGroupName: string;
  /** The X-Ray group of all the service's traces. */
  readonly tracesGroupName: string;
  /** The console URL of X-Ray's trace list. */
  readonly tracesUrl: string;
  /** The saved Logs Insights query that lists one trace's lines (over the service's log group). */
  readonly traceLogsQueryName: string;
  /** The console URL of Logs Insights. */
  readonly logsInsightsUrl: string;
  /** The collector sidecar's log group. */
  readonly collectorLogGroupName: string;
}

export interface AlarmThresholds {
  /** Consecutive minutes a condition must hold (5xx, latency, tasks); targets: at least half of them. @default 5 */
  readonly evaluationMinutes?: number;
  /** The share of requests answered 5xx, by the service or the load balancer itself, that pages, in percent. @default 5 */
  readonly max5xxPercent?: number;
  /** The p99 target response time that pages, in milliseconds. @default 1000 */
  readonly maxP99LatencyMs?: number;
  /** Service error lines within `evaluationMinutes` that page. @default 5 */
  readonly maxErrorLines?: number;
  /** Minutes span export must have been failing before the alarm fires. @default 5 */
  readonly spanExportFailingMinutes?: number;
}

export interface ServiceAlarmsProps extends AlarmThresholds {
  /** The start of every alarm's name, so they sort together and the topic's key policy can name them. */
  readonly alarmNamePrefix: string;

  /** Where the alarms notify. */
  readonly topic: sns.ITopic;

  /** The service's target group behind the load balancer. */
  readonly targetGroup: elbv2.ApplicationTargetGroup;

  /** The load balancer, whose own 5xx (no healthy target, a target that reset the connection) count in the rate. */
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;

  /** The ECS service. */
  readonly service: ecs.BaseService;

  /** The metrics from the service's and the sidecars' logs. */
  readonly logMetrics: LogMetrics;

  /**
   * Whether the cluster has Container Insights: then the task alarm compares ECS/ContainerInsights RunningTaskCount
   * with DesiredTaskCount; without it, the target group's healthy targets with `minTasks`. @default true
   */
  readonly containerInsights?: boolean;

  /** The fewest tasks autoscaling keeps, the task alarm's floor without Container Insights. @default 1 */
  readonly minTasks?: number;

  /** What the descriptions tell the on-call engineer to open. */
  readonly firstStops: FirstStops;
}

const MINUTE = Duration.minutes(1);

export class ServiceAlarms extends Construct {
  readonly serverErrorRate: cloudwatch.Alarm;
  readonly p99Latency: cloudwatch.Alarm;
  readonly unhealthyTargets: cloudwatch.Alarm;
  readonly tasksBelowDesired: cloudwatch.Alarm;
  readonly errorLogLines: cloudwatch.Alarm;
  readonly spanExportFailing: cloudwatch.Alarm;
  readonly collectorErrors: cloudwatch.Alarm;
  /** Every alarm above, in that order. */
  readonly all: cloudwatch.Alarm[];
  /** The thresholds in force, defaults applied. */
  readonly thresholds: Required<AlarmThresholds>;

  constructor(scope: Construct, id: string, props: ServiceAlarmsProps) {
    super(scope, id);
    const minutes = props.evaluationMinutes ?? DEFAULTS.alarmEvaluationMinutes;
    const max5xxPercent = props.max5xxPercent ?? DEFAULTS.alarm5xxPercent;
    const maxP99LatencyMs = props.maxP99LatencyMs ?? DEFAULTS.alarmP99LatencyMs;
    const maxErrorLines = props.maxErrorLines ?? DEFAULTS.alarmErrorLines;
    const spanExportMinutes = props.spanExportFailingMinutes ?? DEFAULTS.alarmSpanExportMinutes;
    const minTasks = props.minTasks ?? 1;
    this.thresholds = {
      evaluationMinutes: minutes,
      max5xxPercent,
      maxP99LatencyMs,
      maxErrorLines,
      spanExportFailingMinutes: spanExportMinutes,
    };
    validate({ ...this.thresholds, minTasks });

    const stops = props.firstStops;
    const faults = `X-Ray traces (${stops.tracesUrl}), group ${stops.faultsGroupName}: open a fault trace; its Logs section lists its lines`;
    const traces = `X-Ray traces (${stops.tracesUrl}), group ${stops.tracesGroupName}, sorted by response time: open the slowest`;
    const savedQuery = (input: string) =>
      `the saved Logs Insights query ${stops.traceLogsQueryName} (${stops.logsInsightsUrl}, Queries) with ${input}`;
    const query = savedQuery("that trace's ID");
    const queryErrors = savedQuery('the trace ID of an error line');
    const dashboard = `the dashboard (${stops.dashboardUrl})`;
    const ecsService = `ECS > Clusters > ${props.service.cluster.clusterName} > Services > ${props.service.serviceName}`;
    const describe = (meaning: string, first: string[]) =>
      `${meaning} Open first: ${first.map((stop, i) => `(${i + 1}) ${stop}`).join('; ')}. Runbook: docs/operations.md, "Runbook".`;
    const tg = props.targetGroup.metrics;

    // No requests is no errors: the rate is missing then, and a quiet service must not page. A load balancer that
    // answers every request itself (503: no healthy target) still has a rate: 100% (serverErrorRate).
    this.serverErrorRate = new cloudwatch.Alarm(this, 'ServerErrorRate', {
      alarmName: `${props.alarmNamePrefix}-5xx-rate`,
      alarmDescription: describe(
        `More than ${max5xxPercent}% of requests got a 5xx from the service or the load balancer for ${minutes} minutes.`,
        [faults, query, `${dashboard}: load balancer 5xx without service 5xx mean the service did not answer`],
      ),
      metric: serverErrorRate(props.targetGroup, props.loadBalancer, '5xx % of requests'),
      threshold: max5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: minutes,
      datapointsToAlarm: minutes,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // No requests is no latency. Low-sample p99s are evaluated: a few slow requests in each of N straight minutes are
    // a real signal at low traffic, and the alarm would otherwise stay silent below 1000 requests a minute.
    this.p99Latency = new cloudwatch.Alarm(this, 'P99Latency', {
      alarmName: `${props.alarmNamePrefix}-p99-latency`,
      alarmDescription: describe(
        `The service's p99 response time at the load balancer was over ${maxP99LatencyMs} ms for ${minutes} minutes.`,
        [dashboard, traces, query],
      ),
      metric: tg.targetResponseTime({ statistic: 'p99', period: MINUTE }),
      threshold: maxP99LatencyMs / 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: minutes,
      datapointsToAlarm: minutes,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      evaluateLowSampleCountPercentile: 'evaluate',
    });

    // The load balancer reports the count every minute, zeros included, so a gap says nothing about the targets.
    // A crash-looping task is unhealthy only part of each cycle (ECS replaces it), hence half the minutes suffice.
    this.unhealthyTargets = new cloudwatch.Alarm(this, 'UnhealthyTargets', {
      alarmName: `${props.alarmNamePrefix}-unhealthy-targets`,
      alarmDescription: describe(
        `At least one target failed its /healthz checks in ${Math.ceil(minutes / 2)} of ${minutes} minutes.`,
        [dashboard, `${ecsService} > Tasks, Stopped (each task's stopped reason)`, queryErrors],
      ),
      metric: tg.unhealthyHostCount({ statistic: 'Maximum', period: MINUTE }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: minutes,
      datapointsToAlarm: Math.ceil(minutes / 2),
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const tasksStops = [dashboard, `${ecsService} > Events and Deployments`, faults];
    if (props.containerInsights ?? true) {
      const countOf = (metricName: TaskCountMetric) => taskCount(props.service, metricName);
      // While no task of the service runs, Container Insights publishes no RunningTaskCount (REFERENCE.md 9, issue
      // 21), and a service with no task may publish neither count: the expression is then missing, not a number.
      // Missing minutes count as breaching, so "nothing runs" pages like "one task short" whichever count is missing.
      // Not FILL(running, 0): in a minute where desired is missing too, it would make a real 0 - 0 = 0 and the alarm
      // OK. Not an INSUFFICIENT_DATA action: the state would not be ALARM (grey on the dashboard, no "fewer tasks"
      // page). CloudWatch fills missing minutes only when too few real ones are in the evaluation range (CloudWatch
      // user guide, "How alarm state is evaluated when data is missing"), so a minute that is merely late does not page.
      this.tasksBelowDesired = new cloudwatch.Alarm(this, 'TasksBelowDesired', {
        alarmName: `${props.alarmNamePrefix}-tasks-below-desired`,
        alarmDescription: describe(
          `Fewer tasks ran than the service wants, or none (no running count reported), for ${minutes} minutes.`,
          tasksStops,
        ),
        metric: new cloudwatch.MathExpression({
          expression: 'desired - running',
          usingMetrics: { desired: countOf('DesiredTaskCount'), running: countOf('RunningTaskCount') },
          period: MINUTE,
          label: 'Tasks missing',
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: minutes,
        datapointsToAlarm: minutes,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    } else {
      // Without Container Insights no metric gives the desired count; fewer healthy targets than the scaling floor
      // means tasks are missing whatever autoscaling wants. A gap in this every-minute metric means the target
      // group is gone, which is an outage.
      this.tasksBelowDesired = new cloudwatch.Alarm(this, 'TasksBelowDesired', {
        alarmName: `${props.alarmNamePrefix}-tasks-below-desired`,
        alarmDescription: describe(
          `Fewer than ${minTasks} healthy targets (the scaling floor) for ${minutes} minutes; Container Insights is off, so this counts healthy targets, not running tasks.`,
          tasksStops,
        ),
        metric: tg.healthyHostCount({ statistic: 'Minimum', period: MINUTE }),
        threshold: minTasks,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: minutes,
        datapointsToAlarm: minutes,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }

    // The filter publishes only in minutes with an error line: a gap is a minute without errors.
    this.errorLogLines = new cloudwatch.Alarm(this, 'ErrorLogLines', {
      alarmName: `${props.alarmNamePrefix}-error-log-lines`,
      alarmDescription: describe(
        `The service wrote ${maxErrorLines} or more lines at error or fatal level within ${minutes} minutes.`,
        [queryErrors, faults, dashboard],
      ),
      metric: props.logMetrics.serviceErrorLines.with({ statistic: 'Sum', period: Duration.minutes(minutes) }),
      threshold: maxErrorLines,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // Each process in an export outage writes its failing line at least every 30 s, so every minute of an outage
    // counts at least one line, and a minute without one has no process failing (a process that recovered, stopped
    // or never failed writes none): N straight minutes with lines fire the alarm, one quiet minute clears it.
    this.spanExportFailing = new cloudwatch.Alarm(this, 'SpanExportFailing', {
      alarmName: `${props.alarmNamePrefix}-span-export-failing`,
      alarmDescription: describe(
        `The service has been failing to export spans to its collector sidecar for ${spanExportMinutes} minutes or more: traces are being lost.`,
        [
          `the collector's log group ${stops.collectorLogGroupName} for its errors`,
          dashboard,
          savedQuery(
            '"span export failing" for the trace ID, and `| fields endpoint, detail, @logStream` added: where and why',
          ),
        ],
      ),
      metric: props.logMetrics.spanExportFailingLines.with({ statistic: 'Sum', period: MINUTE }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: spanExportMinutes,
      datapointsToAlarm: spanExportMinutes,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    // The second hop: the collector takes the service's spans (so the service's export succeeds) and its awsxray
    // exporter, which has no queue or retry, drops a batch X-Ray refuses or cannot be reached for, with one error line
    // ("Exporting failed. Rejecting data.", rejected_items), as tools/collector/test/health-and-stop.test.ts shows on
    // the real collector. Each minute of such an outage with traffic has lines; a quiet minute is no outage.
    this.collectorErrors = new cloudwatch.Alarm(this, 'CollectorErrors', {
      alarmName: `${props.alarmNamePrefix}-collector-errors`,
      alarmDescription: describe(
        `The collector sidecar has logged errors in each of ${spanExportMinutes} minutes: most often X-Ray refusing or unreachable (PutTraceSegments: AccessDeniedException, ThrottlingException, no route), and the spans of those batches are dropped.`,
        [
          `the collector's log group ${stops.collectorLogGroupName}: the error lines' msg, error and rejected_items`,
          dashboard,
        ],
      ),
      metric: props.logMetrics.collectorErrors.with({ statistic: 'Sum', period: MINUTE }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: spanExportMinutes,
      datapointsToAlarm: spanExportMinutes,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    this.all = [
      this.serverErrorRate,
      this.p99Latency,
      this.unhealthyTargets,
      this.tasksBelowDesired,
      this.errorLogLines,
      this.spanExportFailing,
      this.collectorErrors,
    ];
    const action = new actions.SnsAction(props.topic);
    for (const alarm of this.all) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}

export type TaskCountMetric = 'RunningTaskCount' | 'DesiredTaskCount' | 'PendingTaskCount';

/** A service's task count from Container Insights (ECS/ContainerInsights, dimensions ClusterName and ServiceName). */
export function taskCount(service: ecs.BaseService, metricName: TaskCountMetric, label?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'ECS/ContainerInsights',
    metricName,
    dimensionsMap: { ClusterName: service.cluster.clusterName, ServiceName: service.serviceName },
    statistic: 'Average',
    period: MINUTE,
    label,
  });
}

/**
 * The share of requests answered 5xx, in percent, per minute: the service's (HTTPCode_Target_5XX_Count, target group)
 * and the load balancer's own (HTTPCode_ELB_5XX_Count, load balancer: 502 when a target resets the connection, 503
 * when no target is healthy, 504 when one is too slow). RequestCount counts the requests a target answered, so the
 * load balancer's own answers may be outside it; the divisor is the larger of the two, so that a load balancer
 * answering everything itself is 100%, never a division by zero (a dropped point, which would read as no traffic).
 * Metric math treats a missing value as 0 in arithmetic and comparisons, drops a division by zero, and IF takes the
 * second or third argument per minute (CloudWatch user guide, "Using metric math").
 */
export function serverErrorRate(
  targetGroup: elbv2.ApplicationTargetGroup,
  loadBalancer: elbv2.ApplicationLoadBalancer,
  label: string,
): cloudwatch.MathExpression {
  const sum = { statistic: 'Sum', period: MINUTE };
  const errors = new cloudwatch.MathExpression({
    expression: 'FILL(service5xx, 0) + FILL(lb5xx, 0)',
    usingMetrics: {
      service5xx: targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, sum),
      lb5xx: loadBalancer.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, sum),
    },
    period: MINUTE,
    label: '5xx, service and load balancer',
  });
  return new cloudwatch.MathExpression({
    expression: '100 * errors / IF(requests > errors, requests, errors)',
    usingMetrics: { errors, requests: targetGroup.metrics.requestCount(sum) },
    period: MINUTE,
    label,
  });
}

/** The bounds CloudWatch and common sense put on each threshold: whole numbers except the percentage. */
const LIMITS: Record<string, { min: number; max: number; whole: boolean }> = {
  evaluationMinutes: { min: 1, max: 60, whole: true },
  max5xxPercent: { min: 0.01, max: 100, whole: false },
  maxP99LatencyMs: { min: 1, max: 60_000, whole: true },
  maxErrorLines: { min: 1, max: 100_000, whole: true },
  spanExportFailingMinutes: { min: 1, max: 60, whole: true },
  minTasks: { min: 1, max: 100, whole: true },
};

function validate(values: Record<string, number>): void {
  for (const [name, value] of Object.entries(values)) {
    if (Token.isUnresolved(value)) continue;
    const { min, max, whole } = LIMITS[name];
    if (!Number.isFinite(value) || value < min || value > max || (whole && !Number.isInteger(value))) {
      throw new Error(`${name} must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max}, got ${value}`);
    }
  }
}
