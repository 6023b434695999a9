// The orders table: DynamoDB, on demand, point-in-time recovery, encrypted at rest with the AWS managed key, kept
// when the stack is deleted unless the deployer says otherwise; the exact item actions the service uses; and a
// gateway VPC endpoint so the tasks reach DynamoDB inside the VPC, off the NAT gateway, for this table only.
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * The item actions the service calls (app/src: PutItem with `attribute_not_exists(id)`, GetItem with ConsistentRead),
 * and so all that the task role and the endpoint allow.
 */
export const ORDERS_TABLE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:GetItem'] as const;

/** The table's partition key: the order's UUID, a string. No sort key, no index. */
export const ORDERS_TABLE_PARTITION_KEY = 'id';

/** The removal policies the table takes: CloudFormation's Snapshot deletion policy does not apply to DynamoDB. */
export const ORDERS_TABLE_REMOVAL_POLICIES = [RemovalPolicy.RETAIN, RemovalPolicy.DESTROY] as const;

export interface OrdersTableProps {
  /** What `cdk destroy` does with the table and its orders. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;

  /** DynamoDB refuses to delete the table while this is on (the stack's deletionProtection). @default false */
  readonly deletionProtection?: boolean;

  /** The VPC whose task subnets get a DynamoDB gateway endpoint. @default - none: the tasks reach DynamoDB by NAT */
  readonly vpc?: ec2.IVpc;

  /** The subnets whose route tables get the endpoint's route: where the tasks run. @default - every subnet of vpc */
  readonly endpointSubnets?: ec2.SubnetSelection;
}

export class OrdersTable extends Construct {
  readonly table: dynamodb.Table;
  /** What `cdk destroy` does with the table. */
  readonly removalPolicy: RemovalPolicy;
  /** The gateway endpoint, when a VPC was given. */
  readonly endpoint?: ec2.GatewayVpcEndpoint;

  constructor(scope: Construct, id: string, props: OrdersTableProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.removalPolicy = removalPolicy;
    if (!(ORDERS_TABLE_REMOVAL_POLICIES as readonly RemovalPolicy[]).includes(removalPolicy)) {
      throw new Error(
        `removalPolicy must be RemovalPolicy.RETAIN or RemovalPolicy.DESTROY, got ${removalPolicy}: ` +
          'CloudFormation takes no snapshot of a DynamoDB table',
      );
    }

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: ORDERS_TABLE_PARTITION_KEY, type: dynamodb.AttributeType.STRING },
      // On demand: no capacity to size or pay for while idle, and no throttling below the table's default limits.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // SSEEnabled with the AWS managed key aws/dynamodb: what Control Tower's CT.DYNAMODB.PR.2 checks
      // (ct-dynamodb-pr-2.guard: SSESpecification.SSEEnabled == true), at no monthly key fee, and the task role
      // needs no KMS permission for it.
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: props.deletionProtection ?? false,
      removalPolicy,
    });
    // Pinned: a new logical ID would make CloudFormation create a new, empty table (and delete or orphan the old one).
    (this.table.node.defaultChild as dynamodb.CfnTable).overrideLogicalId('OrdersTable');

    if (props.vpc) {
      this.endpoint = new ec2.GatewayVpcEndpoint(this, 'DynamoDbEndpoint', {
        vpc: props.vpc,
        service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
        subnets: props.endpointSubnets ? [props.endpointSubnets] : undefined,
      });
      // Every DynamoDB request from these subnets takes the endpoint's route (its prefix list is the region's
      // DynamoDB), so this policy is also what stops data leaving for any other table, in any account.
      this.endpoint.addToPolicy(
        new iam.PolicyStatement({
          principals: [new iam.AnyPrincipal()],
          actions: [...ORDERS_TABLE_ACTIONS],
          resources: [this.table.tableArn],
        }),
      );
    }
  }

  /** The service's environment: the table, and the region its SDK client calls (the stack's). */
  get serviceEnvironment(): Record<string, string> {
    return { ORDERS_TABLE_NAME: this.table.tableName, AWS_REGION: Stack.of(this).region };
  }

  /** Lets `grantee` put and get items in the table, and nothing else. */
  grantItemReadWrite(grantee: iam.IGrantable): iam.Grant {
    return this.table.grant(grantee, ...ORDERS_TABLE_ACTIONS);
  }
}
