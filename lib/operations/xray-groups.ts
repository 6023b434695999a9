// X-Ray groups for one service: its traces, with X-Ray Insights on, and its traces with faults (5xx), the list to
// open first when an alarm fires. X-Ray publishes each group's trace count every minute as the CloudWatch metric
// AWS/X-Ray ApproximateTraceCount (dimension GroupName), which the dashboard graphs. Insights notifications go
// through EventBridge and are left to the user (docs/operations.md). Group names are unique per account and region,
// so each name carries a hash of the stack and the construct's path: a second copy in the same region gets its own.
import { Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as xray from 'aws-cdk-lib/aws-xray';
import { Construct } from 'constructs';
import { nameUniqueToStack, stackUniqueSeed } from '../unique-name';

/** X-Ray's limit on a group name's length (AWS::XRay::Group GroupName, 1 to 32 characters). */
export const MAX_GROUP_NAME_LENGTH = 32;

const FAULTS_SUFFIX = '-faults';

export interface XRayGroupsProps {
  /** The service name its traces carry (X-Ray's `service("…")`). */
  readonly serviceName: string;

  /** Turn X-Ray Insights on for the service's traces group. @default true */
  readonly insights?: boolean;
}

export class XRayGroups extends Construct {
  /** Every trace that passes through the service. */
  readonly tracesGroup: xray.CfnGroup;
  /** The service's traces with a fault (a 5xx somewhere in the service). */
  readonly faultsGroup: xray.CfnGroup;
  readonly tracesGroupName: string;
  readonly faultsGroupName: string;

  constructor(scope: Construct, id: string, props: XRayGroupsProps) {
    super(scope, id);
    if (Token.isUnresolved(props.serviceName)) throw new Error('serviceName must be known at synth for X-Ray groups');
    const names = xrayGroupNames(props.serviceName, stackUniqueSeed(this));
    this.tracesGroupName = names.traces;
    this.faultsGroupName = names.faults;
    const service = `service(${JSON.stringify(props.serviceName)})`;

    this.tracesGroup = new xray.CfnGroup(this, 'Traces', {
      groupName: this.tracesGroupName,
      filterExpression: service,
      // Insights learns the service's usual fault rate from all its traces and reports when it departs from it.
      insightsConfiguration: { insightsEnabled: props.insights ?? true, notificationsEnabled: false },
    });
    this.faultsGroup = new xray.CfnGroup(this, 'Faults', {
      groupName: this.faultsGroupName,
      filterExpression: `${service} { fault = true }`,
      // Every trace here is a fault, so there is no fault rate for Insights to watch: it would only add cost.
      insightsConfiguration: { insightsEnabled: false, notificationsEnabled: false },
    });
  }

  /** Traces recorded per minute in a group (sampled traces only). */
  traceCount(group: 'traces' | 'faults', label: string): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/X-Ray',
      metricName: 'ApproximateTraceCount',
      dimensionsMap: { GroupName: group === 'traces' ? this.tracesGroupName : this.faultsGroupName },
      statistic: cloudwatch.Stats.SUM,
      label,
    });
  }
}

/**
 * The two groups' names: `<service name, cut>-<8 hex of a hash of the seed>` and the same with `-faults`, each
 * within X-Ray's 32 characters (see nameUniqueToStack for the characters kept).
 */
export function xrayGroupNames(serviceName: string, uniqueSeed: string): { traces: string; faults: string } {
  const traces = nameUniqueToStack(serviceName, uniqueSeed, MAX_GROUP_NAME_LENGTH - FAULTS_SUFFIX.length);
  return { traces, faults: `${traces}${FAULTS_SUFFIX}` };
}
