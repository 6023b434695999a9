// The orders table (lib/orders-table.ts) in the stack: what it is, who may use it and how, how the tasks reach it,
// what cdk destroy does with it, and what cdk-nag and the Control Tower controls say about it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONTROL_TOWER_PLUGIN, controlTowerChecks } from '../lib/control-tower';
import { OrdersTable } from '../lib/orders-table';
import { OtelFargateStackProps } from '../lib/otel-fargate-stack';
import { TEST_REGION, buildStack, container, environmentOf, newApp, sharedTemplate } from './helpers';

// cfn-guard runs once per synth: a few seconds each, more on a loaded machine.
jest.setTimeout(180_000);

const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
const GOVERNED: OtelFargateStackProps = { profile: 'governed', certificateArn: CERTIFICATE };
const TABLE_ARN = { 'Fn::GetAtt': ['OrdersTable', 'Arn'] };

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

/** Every statement of every IAM policy in the template, with the policy's logical ID. */
function statements(template: Template): { policy: string; statement: Statement }[] {
  return Object.entries(template.findResources('AWS::IAM::Policy')).flatMap(([policy, resource]) =>
    (resource.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement.map(
      (statement) => ({ policy, statement }),
    ),
  );
}
const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('the orders table', () => {
  const template = sharedTemplate();

  test('is one DynamoDB table, keyed by the order ID (a string), with no sort key and no index', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const table = Object.values(template.findResources('AWS::DynamoDB::Table'))[0].Properties as Record<
      string,
      unknown
    >;
    expect(table.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(table.AttributeDefinitions).toEqual([{ AttributeName: 'id', AttributeType: 'S' }]);
    expect(table.GlobalSecondaryIndexes).toBeUndefined();
    expect(table.LocalSecondaryIndexes).toBeUndefined();
  });

  test('is on demand, with point-in-time recovery, encrypted at rest with the AWS managed key', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      // SSEEnabled without a KMSMasterKeyId is the AWS managed key aws/dynamodb (the default, SSEEnabled false or
      // absent, is an AWS owned key, which CT.DYNAMODB.PR.2 refuses).
      SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
      ProvisionedThroughput: Match.absent(),
    });
  });

  test('keeps its logical ID, OrdersTable: a new one would make CloudFormation create a new, empty table', () => {
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual(['OrdersTable']);
  });

  test('has no fixed name, so a table kept by an earlier cdk destroy never blocks a new deploy', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', { TableName: Match.absent() });
  });

  test('is named in the OrdersTableName output, which says that cdk destroy keeps it', () => {
    template.hasOutput('OrdersTableName', {
      Value: { Ref: 'OrdersTable' },
      Description: Match.stringLikeRegexp('kept'),
    });
  });
});

describe('what cdk destroy does with the orders table', () => {
  test('by default it is kept, on deletion and on replacement', () => {
    sharedTemplate().hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  test('with ordersTableRemovalPolicy DESTROY it is deleted, and the output says so', () => {
    const template = sharedTemplate({ ordersTableRemovalPolicy: RemovalPolicy.DESTROY });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    template.hasOutput('OrdersTableName', { Description: Match.stringLikeRegexp('deleted with its orders') });
  });

  test('a snapshot is refused, with what to use: CloudFormation snapshots no DynamoDB table', () => {
    expect(() => buildStack({ ordersTableRemovalPolicy: RemovalPolicy.SNAPSHOT })).toThrow(
      /removalPolicy must be RemovalPolicy.RETAIN or RemovalPolicy.DESTROY/,
    );
  });

  test('deletion protection follows deletionProtection: off by default, on with it and with profile=governed', () => {
    sharedTemplate().hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: false });
    sharedTemplate({ deletionProtection: true }).hasResourceProperties('AWS::DynamoDB::Table', {
      DeletionProtectionEnabled: true,
    });
    sharedTemplate(GOVERNED).hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
  });
});

describe('the service and the orders table', () => {
  const template = sharedTemplate();

  test('the service container gets the table name and the stack region, as the service reads them', () => {
    const env = environmentOf(container(template, 'app'));
    expect(env.ORDERS_TABLE_NAME).toEqual({ Ref: 'OrdersTable' });
    expect(env.AWS_REGION).toBe(TEST_REGION);
    // The SDK's own variable is for local runs against dynalite; the stack never points the SDK elsewhere.
    expect(env.AWS_ENDPOINT_URL_DYNAMODB).toBeUndefined();
  });

  test('the task role may put and get items in the table, exactly, in the default policy the service waits for', () => {
    const dynamo = statements(template).filter(({ statement }) =>
      actionsOf(statement).some((a) => a.startsWith('dynamodb:')),
    );
    expect(dynamo).toEqual([
      {
        policy: expect.stringMatching(/^ObservedTaskTaskDefinitionTaskRoleDefaultPolicy/),
        statement: { Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Effect: 'Allow', Resource: TABLE_ARN },
      },
    ]);
  });

  test('no role gets a KMS permission for the table: the AWS managed key needs none', () => {
    const kms = statements(template).filter(({ statement }) => actionsOf(statement).some((a) => a.startsWith('kms:')));
    expect(kms).toEqual([]);
  });

  test('nothing else in the stack may touch the table', () => {
    const onTable = statements(template).filter(({ statement }) =>
      JSON.stringify(statement.Resource).includes('OrdersTable'),
    );
    expect(onTable.map(({ policy }) => policy)).toEqual([
      expect.stringMatching(/^ObservedTaskTaskDefinitionTaskRoleDefaultPolicy/),
    ]);
  });
});

describe('how the tasks reach DynamoDB: a gateway VPC endpoint', () => {
  /** The route table IDs (Refs) of the subnets of one type. */
  const routeTablesOf = (template: Template, subnetType: 'Private' | 'Public') =>
    Object.keys(template.findResources('AWS::EC2::RouteTable'))
      .filter((id) => id.includes(`${subnetType}Subnet`))
      .map((id) => ({ Ref: id }))
      .sort((a, b) => a.Ref.localeCompare(b.Ref));

  test('routes the private subnets, where the tasks run, to DynamoDB inside the VPC, off the NAT gateway', () => {
    const template = sharedTemplate();
    const endpoints = template.findResources('AWS::EC2::VPCEndpoint');
    expect(Object.values(endpoints)).toHaveLength(1);
    const endpoint = Object.values(endpoints)[0].Properties as Record<string, unknown>;
    expect(endpoint.VpcEndpointType).toBe('Gateway');
    expect(JSON.stringify(endpoint.ServiceName)).toContain('.dynamodb');
    const routeTables = endpoint.RouteTableIds as { Ref: string }[];
    expect([...routeTables].sort((a, b) => a.Ref.localeCompare(b.Ref))).toEqual(routeTablesOf(template, 'Private'));
  });

  test('with natGateways=0 the tasks run in the public subnets, and those get the route', () => {
    const template = sharedTemplate({ natGateways: 0 });
    const endpoint = Object.values(template.findResources('AWS::EC2::VPCEndpoint'))[0].Properties as {
      RouteTableIds: { Ref: string }[];
    };
    expect([...endpoint.RouteTableIds].sort((a, b) => a.Ref.localeCompare(b.Ref))).toEqual(
      routeTablesOf(template, 'Public'),
    );
  });

  test('admits only the two item actions on the orders table, so no data leaves for another table', () => {
    sharedTemplate().hasResourceProperties('AWS::EC2::VPCEndpoint', {
      PolicyDocument: {
        Statement: [
          {
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Resource: TABLE_ARN,
          },
        ],
      },
    });
  });
});

describe('checks on the orders table', () => {
  test('cdk-nag finds nothing on the table or the endpoint, with no acknowledgement there', () => {
    const { app, stack } = buildStack();
    const violations = new AwsSolutionsChecks(app).validateScope(app).violations;
    const ours = (p: string) => p.startsWith(`${stack.node.path}/Orders`);
    expect(violations.filter((v) => v.violatingResources.some((r) => ours(r.constructPath ?? '')))).toEqual([]);
    const acknowledged = app.node
      .findAll()
      .filter((c) => ours(c.node.path))
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY));
    expect(acknowledged).toEqual([]);
  });

  /** The Control Tower findings, open and waived, on DynamoDB tables in a synth of `build`. */
  function dynamoDbFindings(build: (app: App) => void): { open: string[]; waived: string[] } {
    const app = newApp();
    build(app);
    Validations.of(app).addPlugins(controlTowerChecks());
    try {
      app.synth();
    } catch {
      // An open finding fails the synth; the report says which.
    }
    const report = JSON.parse(fs.readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        pluginName: string;
        violations?: { description: string }[];
        suppressedViolations?: { description: string }[];
      }[];
    };
    const plugin = report.pluginReports.find((p) => p.pluginName === CONTROL_TOWER_PLUGIN);
    const dynamo = (list: { description: string }[] = []) =>
      list
        .map((v) => /^\[(CT\.[A-Z0-9.]+)\]/.exec(v.description)?.[1] ?? '')
        .filter((c) => c.startsWith('CT.DYNAMODB'));
    return { open: dynamo(plugin?.violations).sort(), waived: dynamo(plugin?.suppressedViolations).sort() };
  }

  test('Control Tower: a table without PITR and the AWS managed key fails CT.DYNAMODB.PR.1 and PR.2', () => {
    // The control's rules are live in the pinned plugin (rules/control-tower/cfn-guard/dynamodb/ct-dynamodb-pr-1.guard
    // and ct-dynamodb-pr-2.guard): the passing cases below are not vacuous.
    const findings = dynamoDbFindings((app) => {
      const stack = new Stack(app, 'Bare', { env: { region: TEST_REGION } });
      new dynamodb.Table(stack, 'Bare', { partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING } });
    });
    expect(findings.open).toEqual(['CT.DYNAMODB.PR.1', 'CT.DYNAMODB.PR.2']);
  });

  test('Control Tower: OrdersTable meets CT.DYNAMODB.PR.1 and PR.2, waiving nothing', () => {
    const findings = dynamoDbFindings((app) => {
      const stack = new Stack(app, 'Orders', { env: { region: TEST_REGION } });
      new OrdersTable(stack, 'Orders', { vpc: new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 }) });
    });
    expect(findings).toEqual({ open: [], waived: [] });
  });
});

describe('the dashboard and the orders table', () => {
  test('graphs its throttles, DynamoDB errors, refused writes and each operation’s p99 latency', () => {
    const template = sharedTemplate();
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties as {
      DashboardBody: { 'Fn::Join': [string, unknown[]] };
    };
    const parts = dashboard.DashboardBody['Fn::Join'][1].map((part) =>
      typeof part === 'string' ? part : JSON.stringify(part) === '{"Ref":"OrdersTable"}' ? 'ORDERS' : 'X',
    );
    const widgets = (JSON.parse(parts.join('')) as { widgets: { properties: { title?: string; metrics?: unknown } }[] })
      .widgets;
    const ofTable = widgets.filter((w) => w.properties.title?.startsWith('Orders table'));
    expect(ofTable.map((w) => w.properties.title)).toEqual([
      'Orders table: throttled requests per minute (good: 0; the service answers 503)',
      'Orders table: errors per minute (good: 0; DynamoDB errors make the service answer 503)',
      'Orders table: latency, p99 ms (good: a few ms)',
    ]);
    const [throttles, errors, latency] = ofTable.map((w) => JSON.stringify(w.properties.metrics));
    // A metric of the table for one operation, its dimensions in either order.
    const metric = (name: string, operation: string) =>
      new RegExp(
        `"AWS/DynamoDB","${name}",("Operation","${operation}","TableName","ORDERS"|"TableName","ORDERS","Operation","${operation}")`,
      );
    for (const operation of ['PutItem', 'GetItem']) {
      expect(throttles).toMatch(metric('ThrottledRequests', operation));
      expect(errors).toMatch(metric('SystemErrors', operation));
      expect(latency).toMatch(metric('SuccessfulRequestLatency', operation));
    }
    expect(errors).toContain('"AWS/DynamoDB","ConditionalCheckFailedRequests","TableName","ORDERS"');
  });
});
