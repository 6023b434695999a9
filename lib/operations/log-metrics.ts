// Metric filters that turn log lines into metrics: the service's error lines and its span export failing lines,
// and the errors of the two sidecars (collector, log router). Each metric has no dimensions, so each is one custom
// metric, and each is published only in minutes with a matching line (no default value): no lines, no cost.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { COLLECTOR_ERRORS, LOG_ROUTER_ERRORS, SERVICE_ERROR_LINES, SPAN_EXPORT_FAILING } from './log-patterns';

export interface LogMetricsProps {
  /** The namespace of the metrics. */
  readonly namespace: string;

  /** The service's JSON lines. */
  readonly serviceLogGroup: logs.ILogGroup;

  /** The collector sidecar's own log (zap JSON lines). */
  readonly collectorLogGroup: logs.ILogGroup;

  /** The log router sidecar's own log (Fluent Bit's text lines). */
  readonly logRouterLogGroup: logs.ILogGroup;
}

export class LogMetrics extends Construct {
  /** Service lines at error or fatal level; Sum is the count. */
  readonly serviceErrorLines: cloudwatch.Metric;
  /** The service's "span export failing" lines, each process's every 30 s while its export fails; Sum is the count. */
  readonly spanExportFailingLines: cloudwatch.Metric;
  /** Collector lines at error level or worse; Sum is the count. */
  readonly collectorErrors: cloudwatch.Metric;
  /** Fluent Bit `[error]` lines; Sum is the count. */
  readonly logRouterErrors: cloudwatch.Metric;

  constructor(scope: Construct, id: string, props: LogMetricsProps) {
    super(scope, id);
    const { namespace } = props;
    const filter = (filterId: string, logGroup: logs.ILogGroup, pattern: string, metricName: string, value = '1') =>
      new logs.MetricFilter(this, filterId, {
        logGroup,
        filterPattern: logs.FilterPattern.literal(pattern),
        metricNamespace: namespace,
        metricName,
        metricValue: value,
      });

    this.serviceErrorLines = filter(
      'ServiceErrorLines',
      props.serviceLogGroup,
      SERVICE_ERROR_LINES,
      'ErrorLogLines',
    ).metric({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(1) });

    this.spanExportFailingLines = filter(
      'SpanExportFailing',
      props.serviceLogGroup,
      SPAN_EXPORT_FAILING,
      'SpanExportFailingLines',
    ).metric({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(1) });

    this.collectorErrors = filter(
      'CollectorErrors',
      props.collectorLogGroup,
      COLLECTOR_ERRORS,
      'CollectorErrorLines',
    ).metric({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(1) });
    this.logRouterErrors = filter(
      'LogRouterErrors',
      props.logRouterLogGroup,
      LOG_ROUTER_ERRORS,
      'LogRouterErrorLines',
    ).metric({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(1) });
  }
}
