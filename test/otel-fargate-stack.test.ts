import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { OtelFargateStack, OtelFargateStackProps } from '../lib/otel-fargate-stack';
import { MIN_SERVICE_HEAP_MIB, serviceNodeOptions } from '../lib/settings';
import { TRACE_ID_PLACEHOLDER } from '../lib/trace-logs-query';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  TEST_IMAGE,
  TEST_REGION,
  acknowledgePlainHttp,
  container,
  environmentOf,
  newApp,
  sharedTemplate,
  synthTemplate,
} from './helpers';

const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

/** The inline ingress rules of the load balancer's security group. */
function loadBalancerIngress(template: Template): Record<string, unknown>[] {
  const groups = template.findResources('AWS::EC2::SecurityGroup');
  const ids = Object.keys(groups).filter((id) => /LoadBalancerSecurityGroup/.test(id));
  expect(ids).toHaveLength(1);
  return groups[ids[0]].Properties.SecurityGroupIngress as Record<string, unknown>[];
}

describe('the otel-test log group', () => {
  const template = sharedTemplate();

  test('is named otel-test and keeps lines for a month', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: 'otel-test', RetentionInDays: 30 });
  });

  test('keeps its logical ID, since a new one would replace the group and lose its lines', () => {
    expect(template.toJSON().Resources.ServiceLogGroup).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { LogGroupName: 'otel-test' },
    });
  });

  test('is retained when the stack is deleted', () => {
    expect(template.toJSON().Resources.ServiceLogGroup).toMatchObject({
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('refuses a name CloudWatch Logs would refuse', () => {
    expect(() => synthTemplate({ logGroupName: 'otel test' })).toThrow(
      /logGroupName must be a CloudWatch Logs group name/,
    );
  });

  test('takes its name and retention from props', () => {
    sharedTemplate({ logGroupName: '/demo/service', logRetention: logs.RetentionDays.ONE_WEEK }).hasResourceProperties(
      'AWS::Logs::LogGroup',
      { LogGroupName: '/demo/service', RetentionInDays: 7 },
    );
  });
});

describe('adopting an existing log group (adoptLogGroup), for a deploy after `cdk destroy` kept it', () => {
  const template = sharedTemplate({ adoptLogGroup: true });
  const taskRoleId = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => /TaskRole/.test(id));
  const groupArn = {
    'Fn::Join': ['', [`arn:aws:logs:${TEST_REGION}:`, { Ref: 'AWS::AccountId' }, ':log-group:otel-test:*']],
  };

  test('creates no service log group, so nothing is left to collide with the kept one, and sets no retention', () => {
    const groups = template.findResources('AWS::Logs::LogGroup');
    expect(Object.values(groups).filter((g) => g.Properties.LogGroupName !== undefined)).toEqual([]);
    expect(template.toJSON().Resources.ServiceLogGroup).toBeUndefined();
    template.resourceCountIs('Custom::LogRetention', 0);
  });

  test('still sends the service’s lines to that group by name, which the router must not create', () => {
    expect((container(template, 'app').LogConfiguration as { Options: unknown }).Options).toMatchObject({
      log_group_name: 'otel-test',
      auto_create_group: 'false',
    });
  });

  test('grants writes to that group only', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === taskRoleId),
    );
    const logStatements = policies
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string[]; Resource: unknown }[])
      .filter((s) => [s.Action].flat().some((a) => a.startsWith('logs:')));
    expect(logStatements).toEqual([
      expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: groupArn }),
    ]);
  });

  test('queries, outputs and links the adopted group', () => {
    template.hasResourceProperties('AWS::Logs::QueryDefinition', { LogGroupNames: ['otel-test'] });
    expect(template.findOutputs('LogGroupName').LogGroupName.Value).toBe('otel-test');
  });

  test('warns that a retention given with it is not applied', () => {
    const app = newApp();
    const stack = new OtelFargateStack(app, 'AdoptStack', {
      env: { region: TEST_REGION },
      image: TEST_IMAGE,
      adoptLogGroup: true,
      logRetention: logs.RetentionDays.ONE_WEEK,
    });
    // Read from the stack's metadata: synthesizing would print the warning in the test output.
    const warnings = stack.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
    expect(warnings).toEqual([expect.stringMatching(/retention of 'otel-test' is left as it is/)]);
  });

  test('passes the cdk-nag checks, each finding acknowledged with its reason', () => {
    const app = newApp();
    new OtelFargateStack(app, 'AdoptNagStack', {
      env: { region: TEST_REGION },
      image: TEST_IMAGE,
      adoptLogGroup: true,
    });
    expect(new AwsSolutionsChecks(app).validateScope(app).violations).toEqual([]);
  });
});

describe('the network', () => {
  test('spans two AZs with public subnets and private subnets behind one NAT gateway', () => {
    const template = sharedTemplate();
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    const subnets = Object.values(template.findResources('AWS::EC2::Subnet'));
    expect(subnets).toHaveLength(4);
    const azIndexes = new Set(subnets.map((s) => JSON.stringify(s.Properties.AvailabilityZone)));
    expect(azIndexes.size).toBe(2);
  });

  test('runs the tasks in the private subnets without public IPs', () => {
    sharedTemplate().hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    });
  });

  test('with no NAT gateway, has public subnets only and gives the tasks public IPs', () => {
    const template = sharedTemplate({ natGateways: 0 });
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED' }) },
    });
  });

  test('records all traffic in VPC flow logs to a log group with a retention', () => {
    const template = sharedTemplate();
    const flowLogs = Object.values(template.findResources('AWS::EC2::FlowLog'));
    expect(flowLogs).toHaveLength(1);
    expect(flowLogs[0].Properties).toMatchObject({
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
    });
    const groupId = (flowLogs[0].Properties.LogGroupName as { Ref: string }).Ref;
    expect(template.toJSON().Resources[groupId]).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
    });
  });

  test('refuses more NAT gateways than AZs', () => {
    expect(() => synthTemplate({ natGateways: 3 })).toThrow(/natGateways must be 0, 1 or 2/);
  });

  // The load balancer and the NAT gateway get their public addresses from AWS, and Fargate gives a task one only
  // when the service asks (AssignPublicIp): no subnet needs to hand them out (CT.EC2.PR.11).
  test.each([1, 0])('with %i NAT gateways, no subnet assigns public IPs on its own', (natGateways) => {
    const subnets = Object.values(sharedTemplate({ natGateways }).findResources('AWS::EC2::Subnet'));
    expect(subnets.length).toBeGreaterThan(0);
    for (const subnet of subnets) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
  });
});

describe('the cluster', () => {
  test('has Container Insights on, with enhanced observability', () => {
    sharedTemplate().hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enhanced' }],
    });
  });
});

describe('the load balancer', () => {
  const template = sharedTemplate();

  test('is public and drops invalid header fields', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
      ]),
    });
  });

  test('writes access logs to the access log bucket', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { Ref: Match.stringLikeRegexp('AccessLogs') } },
      ]),
    });
  });

  test('the access log bucket is encrypted, private, and expires logs after 90 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 90, Status: 'Enabled' })] },
    });
  });

  test('the access log bucket refuses requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('listens on HTTP 80 when no certificate is given', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
  });

  test('admits anyone on the internet to its listener', () => {
    expect(loadBalancerIngress(template)).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 80, ToPort: 80, IpProtocol: 'tcp' }),
    ]);
  });

  test('with a certificate, admits anyone to 443 and to the redirect on 80', () => {
    const withTls = sharedTemplate({ certificateArn: CERTIFICATE_ARN });
    expect(loadBalancerIngress(withTls)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 }),
        expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 80, ToPort: 80 }),
      ]),
    );
  });

  test('refuses a certificate from another region than the stack’s', () => {
    expect(() =>
      synthTemplate({
        certificateArn: 'arn:aws:acm:us-west-2:123456789012:certificate/11111111-2222-3333-4444-555555555555',
      }),
    ).toThrow(/certificateArn must be a certificate in the stack's region \(eu-west-1\).*got one in us-west-2/);
  });

  test('with a certificate, serves HTTPS on 443 and redirects HTTP to it', () => {
    const withTls = sharedTemplate({ certificateArn: CERTIFICATE_ARN });
    withTls.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
      SslPolicy: Match.stringLikeRegexp('ELBSecurityPolicy-TLS13'),
    });
    withTls.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS' }) })],
    });
    expect(withTls.toJSON().Outputs.ServiceUrl.Value['Fn::Join'][1][0]).toBe('https://');
    expect(outputsNamingTheLoadBalancer(withTls.toJSON().Outputs)).toEqual(['ServiceUrl']);
  });

  test('checks target health on /healthz and drains deregistering tasks for 15 seconds', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckPath: '/healthz',
      Matcher: { HttpCode: '200' },
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '15' }]),
    });
  });

  // Security groups do not filter DNS to the VPC resolver or the task metadata and credentials endpoints, so HTTPS
  // is the one rule the tasks need: ECR and S3 for the image, X-Ray, CloudWatch Logs (all public AWS endpoints).
  test.each([1, 0])('with %i NAT gateways, lets the tasks out to HTTPS only', (natGateways) => {
    const template = sharedTemplate({ natGateways });
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    const [taskGroupId] = Object.keys(groups).filter((id) => /TaskSecurityGroup/.test(id));
    expect(groups[taskGroupId].Properties.SecurityGroupEgress).toEqual([
      {
        CidrIp: '0.0.0.0/0',
        Description: 'HTTPS to AWS endpoints: ECR, S3, X-Ray, CloudWatch Logs',
        FromPort: 443,
        IpProtocol: 'tcp',
        ToPort: 443,
      },
    ]);
    const taskEgress = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).filter(
      (rule) => JSON.stringify(rule.Properties.GroupId) === JSON.stringify({ 'Fn::GetAtt': [taskGroupId, 'GroupId'] }),
    );
    expect(taskEgress).toEqual([]);
    template.hasResourceProperties('AWS::ECS::Service', {
      NetworkConfiguration: {
        AwsvpcConfiguration: Match.objectLike({ SecurityGroups: [{ 'Fn::GetAtt': [taskGroupId, 'GroupId'] }] }),
      },
    });
  });

  test('is the only source the tasks accept traffic from', () => {
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'));
    expect(ingress).toHaveLength(1);
    expect(ingress[0].Properties).toMatchObject({
      FromPort: 8080,
      ToPort: 8080,
      SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/LoadBalancerSecurityGroup/), 'GroupId'] },
    });
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    const serviceGroupIds = Object.keys(groups).filter((id) => /TaskSecurityGroup/.test(id));
    expect(serviceGroupIds).toHaveLength(1);
    expect(groups[serviceGroupIds[0]].Properties.SecurityGroupIngress).toBeUndefined();
    expect(ingress[0].Properties.GroupId).toEqual({ 'Fn::GetAtt': [serviceGroupIds[0], 'GroupId'] });
  });
});

describe('the service', () => {
  const template = sharedTemplate();

  test('runs two tasks by default on Fargate', () => {
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2, LaunchType: 'FARGATE' });
  });

  test('rolls back a failing deployment with the circuit breaker, keeping full capacity meanwhile', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DeploymentConfiguration: {
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
        MaximumPercent: 200,
      },
    });
  });

  test('scales between desiredCount and 6 tasks by default', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6 });
  });

  test('scales on CPU and on requests per target', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        TargetValue: 60,
      }),
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }),
        TargetValue: 1000,
      }),
    });
  });

  test('takes its count and scaling bounds from props', () => {
    const scaled = sharedTemplate({ desiredCount: 3, minTasks: 2, maxTasks: 10 });
    scaled.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 3 });
    scaled.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 10 });
  });

  test("sizes the V8 heap of the service built from app/ to half of what the sidecars leave of the task's memory", () => {
    const heapOf = (props: OtelFargateStackProps) =>
      environmentOf(container(sharedTemplate({ ...props, image: undefined }), 'app')).NODE_OPTIONS;
    // 1024 MiB task - 256 collector limit - 50 router reservation = 718 MiB for the service; half of it.
    expect(heapOf({})).toBe('--max-old-space-size=359');
    expect(heapOf({ cpu: 1024, memoryLimitMiB: 4096 })).toBe('--max-old-space-size=1895');
    // Half of 206 MiB would be 103; the floor covers the old space of a full span queue.
    expect(serviceNodeOptions(512)).toBe(`--max-old-space-size=${MIN_SERVICE_HEAP_MIB}`);
    // No such task is built, though: the sidecars' hard limits would leave the service 128 MiB.
    expect(() => heapOf({ cpu: 256, memoryLimitMiB: 512 })).toThrow(/leaves the service 128 MiB/);
  });

  test("leaves NODE_OPTIONS to an image of the user's own", () => {
    expect(environmentOf(container(template, 'app'))).not.toHaveProperty('NODE_OPTIONS');
  });

  test('refuses scaling bounds that exclude the desired count', () => {
    expect(() => synthTemplate({ desiredCount: 0 })).toThrow(/desiredCount must be a whole number of at least 1/);
    expect(() => synthTemplate({ desiredCount: 2, minTasks: 3 })).toThrow(/minTasks must be/);
    expect(() => synthTemplate({ desiredCount: 4, maxTasks: 3 })).toThrow(/maxTasks must be/);
  });
});

describe('the service image', () => {
  function assetImage(cpuArchitecture?: ecs.CpuArchitecture): { template: Template; manifest: string } {
    const app = acknowledgePlainHttp(newApp());
    const stack = new OtelFargateStack(app, 'ImageStack', { env: { region: TEST_REGION }, cpuArchitecture });
    const assembly = app.synth();
    const manifest = fs.readFileSync(path.join(assembly.directory, 'ImageStack.assets.json'), 'utf8');
    return { template: Template.fromStack(stack), manifest: JSON.stringify(JSON.parse(manifest)) };
  }

  test('is built from app/ for linux/arm64 by default', () => {
    const { template, manifest } = assetImage();
    expect(JSON.stringify(container(template, 'app').Image)).toMatch(/cdk-hnb659fds-container-assets/);
    expect(manifest).toContain('"platform":"linux/arm64"');
  });

  test('is built for linux/amd64 when the task is X86_64', () => {
    expect(assetImage(ecs.CpuArchitecture.X86_64).manifest).toContain('"platform":"linux/amd64"');
  });
});

describe('the saved trace query', () => {
  test('searches the service log group for one trace ID in either form, oldest line first', () => {
    sharedTemplate().hasResourceProperties('AWS::Logs::QueryDefinition', {
      Name: 'otel-fargate-service/log-lines-of-one-trace',
      LogGroupNames: [{ Ref: 'ServiceLogGroup' }],
      QueryString: Match.stringLikeRegexp(`filter @message like "${TRACE_ID_PLACEHOLDER}"[\\s\\S]*sort @timestamp asc`),
    });
  });
});

describe('the outputs', () => {
  const outputs = sharedTemplate().toJSON().Outputs;

  test('give the load balancer URL', () => {
    expect(outputs.ServiceUrl.Value).toEqual({
      'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [expect.stringMatching(/LoadBalancer/), 'DNSName'] }]],
    });
  });

  test('give the load balancer URL once: the DNS name and URL outputs the ECS pattern adds are removed', () => {
    expect(outputsNamingTheLoadBalancer(outputs)).toEqual(['ServiceUrl']);
  });

  test('give the log group’s name, and its ARN as the spans carry it, without `:*`', () => {
    expect(outputs.LogGroupName.Value).toEqual({ Ref: 'ServiceLogGroup' });
    expect(outputs.LogGroupArn.Value).toEqual({
      'Fn::Join': [
        '',
        [`arn:aws:logs:${TEST_REGION}:`, { Ref: 'AWS::AccountId' }, ':log-group:', { Ref: 'ServiceLogGroup' }],
      ],
    });
  });

  test('link to the X-Ray traces and the log group in the console of the stack’s region', () => {
    expect(outputs.XRayTracesConsoleUrl.Value).toBe(
      `https://${TEST_REGION}.console.aws.amazon.com/cloudwatch/home?region=${TEST_REGION}#xray:traces/query`,
    );
    expect(outputs.LogGroupConsoleUrl.Value).toBe(
      `https://${TEST_REGION}.console.aws.amazon.com/cloudwatch/home?region=${TEST_REGION}#logsV2:log-groups/log-group/otel-test`,
    );
  });

  test('escape a log group name with slashes the way the console does', () => {
    const named = sharedTemplate({ logGroupName: '/demo/service' }).toJSON().Outputs;
    expect(named.LogGroupConsoleUrl.Value).toMatch(/#logsV2:log-groups\/log-group\/\$252Fdemo\$252Fservice$/);
  });

  test('name the saved query', () => {
    expect(outputs.TraceLogsQueryName.Value).toBe('otel-fargate-service/log-lines-of-one-trace');
  });

  test('name the access log bucket, which the load balancer logs to and cdk destroy keeps', () => {
    const template = sharedTemplate().toJSON() as {
      Resources: Record<string, { Type: string; DeletionPolicy?: string; Properties: Record<string, unknown> }>;
    };
    const { Ref: bucket } = outputs.AccessLogBucketName.Value as { Ref: string };
    expect(template.Resources[bucket]).toMatchObject({ Type: 'AWS::S3::Bucket', DeletionPolicy: 'Retain' });
    const loadBalancer = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer',
    )!;
    expect(loadBalancer.Properties.LoadBalancerAttributes).toContainEqual({
      Key: 'access_logs.s3.bucket',
      Value: { Ref: bucket },
    });
  });
});

/** The outputs whose value is built from the load balancer's DNS name. */
function outputsNamingTheLoadBalancer(outputs: Record<string, { Value: unknown }>): string[] {
  return Object.keys(outputs).filter((name) => JSON.stringify(outputs[name].Value).includes('"DNSName"'));
}
