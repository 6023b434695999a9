// The VPC: two AZs, public subnets for the load balancer, private subnets behind NAT for the tasks (or, with
// no NAT gateway, tasks in the public subnets), and flow logs to CloudWatch Logs.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULTS } from './settings';

export interface NetworkProps {
  /** NAT gateways for the private subnets; 0 puts the tasks in public subnets with public IPs. @default 1 */
  readonly natGateways?: number;

  /** How long flow log records are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly flowLogRetention?: logs.RetentionDays;
}

export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where the tasks run: private subnets behind NAT, or public subnets when there is no NAT gateway. */
  readonly taskSubnets: ec2.SubnetSelection;
  /** True when the tasks need public IPs to reach ECR, X-Ray and CloudWatch Logs. */
  readonly tasksNeedPublicIp: boolean;

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    const natGateways = props.natGateways ?? DEFAULTS.natGateways;
    if (!Number.isInteger(natGateways) || natGateways < 0 || natGateways > 2) {
      throw new Error(`natGateways must be 0, 1 or 2 (one per AZ at most), got ${natGateways}`);
    }
    this.tasksNeedPublicIp = natGateways === 0;

    const subnetConfiguration: ec2.SubnetConfiguration[] = [
      { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
    ];
    if (!this.tasksNeedPublicIp) {
      subnetConfiguration.push({ name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 });
    }
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways,
      subnetConfiguration,
    });
    this.taskSubnets = {
      subnetType: this.tasksNeedPublicIp ? ec2.SubnetType.PUBLIC : ec2.SubnetType.PRIVATE_WITH_EGRESS,
    };

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
  }
}
