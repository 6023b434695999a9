// The VPC: two AZs, public subnets for the load balancer, private subnets behind NAT for the tasks (or, with
// no NAT gateway, tasks in the public subnets), and flow logs to CloudWatch Logs. No subnet assigns public IPs on
// its own: the load balancer and the NAT gateway get theirs from AWS, and tasks get one only when the service
// asks for it (natGateways=0).
import { CfnResource, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { waiveControl, waiveDefaultProfileLogGroup } from './control-tower';
import { DEFAULTS } from './settings';

/** The CDK's singleton provider behind `restrictDefaultSecurityGroup` (aws-cdk-lib aws-ec2 vpc.ts). */
const DEFAULT_SG_PROVIDER_ID = 'Custom::VpcRestrictDefaultSGCustomResourceProvider';

export interface NetworkProps {
  /** NAT gateways for the private subnets; 0 puts the tasks in public subnets with public IPs. @default 1 */
  readonly natGateways?: number;

  /** How long flow log records are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly flowLogRetention?: logs.RetentionDays;

  /** The KMS key that encrypts the flow log group. @default - CloudWatch Logs' own encryption */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * Run the CDK's handler that removes the default security group's rules inside the VPC's private subnets
   * (CT.LAMBDA.PR.3), reaching the EC2 API through NAT; needs natGateways of 1 or more. @default false
   */
  readonly defaultSecurityGroupHandlerInVpc?: boolean;
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
    if (props.defaultSecurityGroupHandlerInVpc && this.tasksNeedPublicIp) {
      throw new Error(
        'defaultSecurityGroupHandlerInVpc needs natGateways of 1 or more: the handler calls the EC2 API from a ' +
          'private subnet, through NAT',
      );
    }

    const subnetConfiguration: ec2.SubnetConfiguration[] = [
      { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
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

    const flowLogRetention = props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH;
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: flowLogRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    waiveDefaultProfileLogGroup(flowLogGroup, flowLogRetention, props.logEncryptionKey !== undefined);
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    const provider = Stack.of(this).node.tryFindChild(DEFAULT_SG_PROVIDER_ID);
    if (provider === undefined) return;
    if (props.defaultSecurityGroupHandlerInVpc) {
      this.placeInPrivateSubnets(provider);
    } else {
      waiveControl(
        provider,
        'CT.LAMBDA.PR.3',
        "This is the CDK's own custom resource handler that removes the rules of the VPC's default security group " +
          '(feature flag @aws-cdk/aws-ec2:restrictDefaultSecurityGroup). It runs only while CloudFormation creates ' +
          'or deletes the VPC, calls nothing but the EC2 API, holds no data and accepts no traffic. Inside the VPC it ' +
          'would need a NAT path and would slow stack deletion by its network interfaces; profile=governed puts it there.',
      );
    }
  }

  /**
   * Puts the CDK's default-security-group handler in the private subnets with a security group of its own (HTTPS out
   * only), and lets its role manage the network interfaces Lambda creates there. Its custom resource waits for the
   * NAT routes, so the handler can reach the EC2 API when it runs at creation and again at deletion.
   */
  private placeInPrivateSubnets(provider: Construct): void {
    const handler = provider.node.findChild('Handler') as CfnResource;
    const role = provider.node.findChild('Role') as CfnResource;
    const securityGroup = new ec2.SecurityGroup(this, 'DefaultSecurityGroupHandlerSecurityGroup', {
      vpc: this.vpc,
      allowAllOutbound: false,
      description: 'The CDK handler that strips the default security group: HTTPS to the EC2 API only',
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the EC2 API, through NAT');
    const privateSubnets = this.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    handler.addPropertyOverride('VpcConfig', {
      SubnetIds: privateSubnets.subnetIds,
      SecurityGroupIds: [securityGroup.securityGroupId],
    });
    role.addPropertyOverride(
      'ManagedPolicyArns',
      [
        'AWSLambdaBasicExecutionRole',
        // Create, describe and delete the function's network interfaces in the VPC (Lambda developer guide).
        'AWSLambdaVPCAccessExecutionRole',
      ].map((name) => Fn.sub(`arn:\${AWS::Partition}:iam::aws:policy/service-role/${name}`)),
    );
    const customResource = this.vpc.node.findChild('RestrictDefaultSecurityGroupCustomResource');
    customResource.node.addDependency(privateSubnets.internetConnectivityEstablished, securityGroup);
  }
}
