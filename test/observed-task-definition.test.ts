import * as fs from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { parse } from 'yaml';
import {
  COLLECTOR_CONFIG_PATH,
  LOG_ROUTER_CONFIG_FILE,
  RESERVED_ENVIRONMENT,
  LOG_ROUTER_FLUSH_GRACE,
  ObservedTaskDefinition,
  ObservedTaskDefinitionProps,
} from '../lib/observed-task-definition';
import {
  TEST_IMAGE,
  TEST_REGION,
  container,
  containers,
  environmentOf,
  newApp,
  sharedTemplate,
  synthTemplate,
} from './helpers';
import {
  COLLECTOR_MEMORY_LIMIT_MIB,
  LOG_ROUTER_MEMORY_LIMIT_MIB,
  LOG_ROUTER_MEMORY_RESERVATION_MIB,
} from '../lib/settings';

/** The part of lib/config/collector.yaml these tests read. */
interface CollectorConfig {
  processors: { memory_limiter: { limit_percentage: number; spike_limit_percentage: number } };
}

/** The logical ID of the group a container's awslogs driver writes to. */
function awslogsGroupOf(definition: Record<string, unknown>): string {
  return (definition.LogConfiguration as { Options: { 'awslogs-group': { Ref: string } } }).Options['awslogs-group']
    .Ref;
}

describe('the service container', () => {
  const template = sharedTemplate();
  const app = container(template, 'app');

  test('is the first container, so the load balancer targets it', () => {
    expect(containers(template)[0].Name).toBe('app');
    template.hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [Match.objectLike({ ContainerName: 'app', ContainerPort: 8080 })],
    });
  });

  test('is essential and listens on 8080', () => {
    expect(app.Essential).toBe(true);
    expect(app.PortMappings).toEqual([{ ContainerPort: 8080, Name: 'http', Protocol: 'tcp' }]);
  });

  test('runs as a non-root user on a read-only root file system', () => {
    expect(app.User).toBe('1000:1000');
    expect(app.ReadonlyRootFilesystem).toBe(true);
  });

  test('can still write to /tmp, on the task’s ephemeral storage', () => {
    expect(app.MountPoints).toEqual([{ ContainerPath: '/tmp', SourceVolume: 'app-tmp', ReadOnly: false }]);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Volumes: [{ Name: 'app-tmp' }] });
  });

  test('is health-checked on /healthz with the image’s own node', () => {
    expect(app.HealthCheck).toMatchObject({
      Command: ['CMD', 'node', '-e', expect.stringContaining("fetch('http://127.0.0.1:8080/healthz')")],
    });
  });

  test('gets the contract’s environment: port, service name and the collector on localhost gRPC', () => {
    expect(environmentOf(app)).toMatchObject({
      PORT: '8080',
      OTEL_SERVICE_NAME: 'otel-fargate-service',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4317',
    });
  });

  test('gets the log group’s name and its ARN without `:*` as resource attributes, which link its traces to its logs', () => {
    // CloudFormation's Arn attribute of a log group ends in `:*`; StartQuery refuses `*` in logGroupIdentifiers, and
    // the ECS resource detector writes the ARN without it. So the ARN is built from partition, region, account and name.
    expect(environmentOf(app).OTEL_RESOURCE_ATTRIBUTES).toEqual({
      'Fn::Join': [
        '',
        [
          'aws.log.group.names=',
          { Ref: 'ServiceLogGroup' },
          `,aws.log.group.arns=arn:aws:logs:${TEST_REGION}:`,
          { Ref: 'AWS::AccountId' },
          ':log-group:',
          { Ref: 'ServiceLogGroup' },
        ],
      ],
    });
    expect(JSON.stringify(environmentOf(app).OTEL_RESOURCE_ATTRIBUTES)).not.toContain('Fn::GetAtt');
  });

  test('gets the ARN without `:*` for a log group imported by name too, in the region’s partition', () => {
    const stack = new Stack(newApp(), 'Stack', { env: { region: 'cn-north-1', account: '123456789012' } });
    const logGroup = logs.LogGroup.fromLogGroupName(stack, 'Existing', 'existing-group');
    expect(logGroup.logGroupArn).toMatch(/:\*$/);
    const task = new ObservedTaskDefinition(stack, 'Task', { image: TEST_IMAGE, serviceName: 'svc', logGroup });
    const arn = 'arn:aws-cn:logs:cn-north-1:123456789012:log-group:existing-group';
    expect(task.logGroupArn).toBe(arn);
    expect(environmentOf(container(Template.fromStack(stack), 'app')).OTEL_RESOURCE_ATTRIBUTES).toBe(
      `aws.log.group.names=existing-group,aws.log.group.arns=${arn}`,
    );
  });

  test('samples by X-Ray’s rules, read through the collector every 60 s (the sampling contract)', () => {
    expect(environmentOf(app)).toMatchObject({
      OTEL_TRACES_SAMPLER: 'xray',
      OTEL_TRACES_SAMPLER_ARG: 'endpoint=http://localhost:2000,polling_interval=60',
    });
  });

  test('logs through FireLens to the service log group with the cloudwatch_logs output', () => {
    expect(app.LogConfiguration).toEqual({
      LogDriver: 'awsfirelens',
      Options: {
        Name: 'cloudwatch_logs',
        region: TEST_REGION,
        log_group_name: { Ref: 'ServiceLogGroup' },
        log_stream_prefix: 'otel-fargate-service/',
        auto_create_group: 'false',
        retry_limit: '5',
      },
    });
  });

  test('takes the service name from props into traces and log streams', () => {
    const named = container(sharedTemplate({ serviceName: 'checkout' }), 'app');
    expect(environmentOf(named).OTEL_SERVICE_NAME).toBe('checkout');
    expect((named.LogConfiguration as { Options: object }).Options).toMatchObject({ log_stream_prefix: 'checkout/' });
  });
});

describe('the collector sidecar', () => {
  const template = sharedTemplate();
  const collector = container(template, 'aws-otel-collector');

  test('runs the ADOT collector pinned to a release tag', () => {
    expect(collector.Image).toBe('public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0');
  });

  test('runs another release when told to', () => {
    const other = container(sharedTemplate({ collectorVersion: 'v0.48.1' }), 'aws-otel-collector');
    expect(other.Image).toBe('public.ecr.aws/aws-observability/aws-otel-collector:v0.48.1');
  });

  test('receives the repo’s configuration file verbatim in AOT_CONFIG_CONTENT', () => {
    expect(environmentOf(collector).AOT_CONFIG_CONTENT).toBe(fs.readFileSync(COLLECTOR_CONFIG_PATH, 'utf8'));
  });

  test('is given the stack’s region, which its awsxray exporter reads', () => {
    expect(environmentOf(collector).AWS_REGION).toBe(TEST_REGION);
  });

  test('runs Go with GOGC 400 and GOMEMLIMIT under its memory_limiter’s soft limit (lib/settings.ts says why)', () => {
    const environment = environmentOf(collector);
    expect(environment).toMatchObject({ GOGC: '400', GOMEMLIMIT: '128MiB' });
    // The limiter refuses data once the heap, garbage included, reaches limit − spike (memorylimiter.go, v0.143.0):
    // the runtime must collect before that, or a heap of garbage is refused spans.
    const limiter = (parse(fs.readFileSync(COLLECTOR_CONFIG_PATH, 'utf8')) as CollectorConfig).processors
      .memory_limiter;
    const softLimitMiB = (Number(collector.Memory) * (limiter.limit_percentage - limiter.spike_limit_percentage)) / 100;
    expect(Number.parseInt(environment.GOMEMLIMIT as string, 10)).toBeLessThan(softLimitMiB);
  });

  test('is health-checked in exec form, since its image has no shell', () => {
    expect(collector.HealthCheck).toMatchObject({ Command: ['CMD', '/healthcheck'] });
  });

  test('maps no ports: the service reaches it over the task’s localhost', () => {
    expect(collector.PortMappings).toBeUndefined();
  });

  test('is essential', () => {
    expect(collector.Essential).toBe(true);
  });

  test('logs to a group of its own, not the service’s and not the log router’s', () => {
    expect(collector.LogConfiguration).toMatchObject({
      LogDriver: 'awslogs',
      Options: {
        'awslogs-stream-prefix': 'collector',
        'awslogs-group': { Ref: expect.stringMatching(/CollectorLogs/) },
      },
    });
    const routerGroup = awslogsGroupOf(container(template, 'log-router'));
    expect(awslogsGroupOf(collector)).not.toEqual(routerGroup);
    expect(awslogsGroupOf(collector)).not.toEqual('ServiceLogGroup');
  });

  test('has a hard memory limit, which its memory_limiter takes its percentage of', () => {
    expect(collector.Memory).toBe(COLLECTOR_MEMORY_LIMIT_MIB);
    expect(collector.MemoryReservation).toBeLessThan(COLLECTOR_MEMORY_LIMIT_MIB);
  });

  // aws-observability/aws-otel-collector v0.49.0 cmd/awscollector/Dockerfile: `adduser -u 4317 aoc`, `USER aoc`,
  // `ENV RUN_IN_CONTAINER="True"`, which pkg/logger/logger.go reads to log to stderr instead of a file under /opt.
  test('runs as the image’s own non-root user (aoc, 4317) on a read-only root file system', () => {
    expect(collector.User).toBe('4317:4317');
    expect(collector.ReadonlyRootFilesystem).toBe(true);
    expect(collector.MountPoints).toBeUndefined();
  });
});

describe('the FireLens log router', () => {
  const template = sharedTemplate();
  const router = container(template, 'log-router');

  test('runs AWS for Fluent Bit pinned to an immutable tag', () => {
    expect(router.Image).toBe('public.ecr.aws/aws-observability/aws-for-fluent-bit:3.4.16');
  });

  test('parses each JSON line into fields with the image’s built-in configuration', () => {
    expect(router.FirelensConfiguration).toEqual({
      Type: 'fluentbit',
      Options: {
        'enable-ecs-log-metadata': 'true',
        'config-file-type': 'file',
        'config-file-value': LOG_ROUTER_CONFIG_FILE,
      },
    });
  });

  test('has a stop timeout longer than the 30 s flush Grace of parse-json.conf, so the last lines are shipped', () => {
    // aws/aws-for-fluent-bit configs/parse-json.conf: `Flush 1`, `Grace 30`.
    expect(LOG_ROUTER_FLUSH_GRACE.toSeconds()).toBe(30);
    expect(router.StopTimeout).toBeGreaterThan(30);
    expect(router.StopTimeout).toBeLessThanOrEqual(120);
  });

  test('is essential and logs to a group of its own', () => {
    expect(router.Essential).toBe(true);
    expect(router.LogConfiguration).toMatchObject({
      LogDriver: 'awslogs',
      Options: {
        'awslogs-stream-prefix': 'log-router',
        'awslogs-group': { Ref: expect.stringMatching(/LogRouterLogs/) },
      },
    });
  });

  test('has a hard memory limit above its reservation', () => {
    expect(router.Memory).toBe(LOG_ROUTER_MEMORY_LIMIT_MIB);
    expect(router.MemoryReservation).toBe(LOG_ROUTER_MEMORY_RESERVATION_MIB);
    expect(LOG_ROUTER_MEMORY_LIMIT_MIB).toBeGreaterThan(LOG_ROUTER_MEMORY_RESERVATION_MIB);
  });

  // aws/aws-for-fluent-bit troubleshooting/debugging.md, "Amazon ECS FireLens: root is required": ECS refuses a
  // FireLens container whose user is not uid 0. entrypoint.sh only execs fluent-bit; parse-json.conf sets no
  // storage.path; the socket (/var/run) and the generated configuration (/fluent-bit/etc) are ECS's bind mounts.
  test('runs as root, explicitly, which ECS requires of FireLens, on a read-only root file system', () => {
    expect(router.User).toBe('0');
    expect(router.ReadonlyRootFilesystem).toBe(true);
  });

  test('keeps ECS’s FireLens ordering: the service does not override it with a dependency on the router', () => {
    const dependencies = (container(template, 'app').DependsOn ?? []) as { ContainerName: string }[];
    expect(dependencies.map((d) => d.ContainerName)).not.toContain('log-router');
  });
});

describe('start and stop order', () => {
  const template = sharedTemplate();

  test('the service starts only after the collector is HEALTHY', () => {
    expect(container(template, 'app').DependsOn).toEqual([
      { ContainerName: 'aws-otel-collector', Condition: 'HEALTHY' },
    ]);
  });

  test('the service has 30 seconds after SIGTERM to finish requests and flush its spans', () => {
    expect(container(template, 'app').StopTimeout).toBe(30);
  });

  test.each(['aws-otel-collector', 'log-router'])(
    'the %s’s logs are kept for a month and removed with the stack',
    (name) => {
      const group = template.toJSON().Resources[awslogsGroupOf(container(template, name))];
      expect(group).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
        DeletionPolicy: 'Delete',
        UpdateReplacePolicy: 'Delete',
      });
    },
  );
});

describe('the task', () => {
  test('defaults to ARM64 with 512 CPU units and 1024 MiB', () => {
    sharedTemplate().hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '512',
      Memory: '1024',
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
    });
  });

  test('gives every container a hard memory limit, the service what the sidecars leave: together the task', () => {
    for (const [cpu, task, service] of [
      [512, 1024, 640],
      [1024, 4096, 3712],
    ]) {
      const limits = containers(sharedTemplate({ cpu, memoryLimitMiB: task })).map((c) => [c.Name, c.Memory]);
      expect(limits).toEqual([
        ['app', service],
        ['aws-otel-collector', COLLECTOR_MEMORY_LIMIT_MIB],
        ['log-router', LOG_ROUTER_MEMORY_LIMIT_MIB],
      ]);
      expect(service + COLLECTOR_MEMORY_LIMIT_MIB + LOG_ROUTER_MEMORY_LIMIT_MIB).toBe(task);
    }
  });

  test('refuses a task whose memory leaves the service less than its smallest heap and 64 MiB', () => {
    expect(() => synthTemplate({ cpu: 256, memoryLimitMiB: 512 })).toThrow(
      /memoryLimitMiB 512 leaves the service 128 MiB after the sidecars' hard limits \(collector 256, log router 128\); the service needs at least 192 MiB/,
    );
  });

  test('takes its size and architecture from props', () => {
    sharedTemplate({
      cpu: 1024,
      memoryLimitMiB: 2048,
      cpuArchitecture: ecs.CpuArchitecture.X86_64,
    }).hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '1024',
      Memory: '2048',
      RuntimePlatform: Match.objectLike({ CpuArchitecture: 'X86_64' }),
    });
  });
});

describe('least-privilege IAM', () => {
  const template = sharedTemplate();
  const taskRoleId = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => /TaskRole/.test(id));
  const executionRoleId = Object.keys(template.findResources('AWS::IAM::Role')).find((id) => /ExecutionRole/.test(id));

  function statementsOf(roleId: string | undefined): { Action: string | string[]; Resource: unknown }[] {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId),
    );
    return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
  }

  test('the task role may write to X-Ray and read sampling rules, on * because X-Ray takes nothing else', () => {
    const xray = statementsOf(taskRoleId).filter((s) => [s.Action].flat().some((a) => a.startsWith('xray:')));
    expect(xray).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Resource: '*',
        Action: expect.arrayContaining([
          'xray:PutTraceSegments',
          'xray:PutTelemetryRecords',
          'xray:GetSamplingRules',
          'xray:GetSamplingTargets',
        ]),
      }),
    ]);
    expect([xray[0].Action].flat()).toHaveLength(4);
  });

  test('the ECS service waits for the policy that lets the collector write to X-Ray', () => {
    // A policy the service does not depend on can arrive after the first tasks start: AccessDenied on
    // PutTraceSegments until it does. CDK makes the service depend on the task role's default policy.
    const policies = template.findResources('AWS::IAM::Policy');
    const xrayPolicyIds = Object.keys(policies).filter((id) =>
      (policies[id].Properties.PolicyDocument.Statement as { Action: string | string[] }[]).some((s) =>
        [s.Action].flat().includes('xray:PutTraceSegments'),
      ),
    );
    expect(xrayPolicyIds).toHaveLength(1);
    const services = Object.values(template.findResources('AWS::ECS::Service'));
    expect(services).toHaveLength(1);
    expect(services[0].DependsOn).toContain(xrayPolicyIds[0]);
    expect(policies[xrayPolicyIds[0]].Properties.Roles).toEqual([{ Ref: taskRoleId }]);
  });

  test('the task role may write log events to the service log group only, and not create groups', () => {
    const logStatements = statementsOf(taskRoleId).filter((s) => [s.Action].flat().some((a) => a.startsWith('logs:')));
    expect(logStatements).toEqual([
      expect.objectContaining({
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': ['ServiceLogGroup', 'Arn'] },
      }),
    ]);
  });

  test('the task role has nothing beyond X-Ray, the log group and the orders table (test/orders-table.test.ts)', () => {
    const actions = statementsOf(taskRoleId).flatMap((s) => [s.Action].flat());
    const ordersTable = ['dynamodb:GetItem', 'dynamodb:PutItem'];
    expect(actions.filter((a) => !a.startsWith('xray:') && !a.startsWith('logs:') && !ordersTable.includes(a))).toEqual(
      [],
    );
  });

  test('the execution role may only write the sidecars’ diagnostic logs (public images need no pull rights)', () => {
    const statements = statementsOf(executionRoleId);
    expect(new Set(statements.flatMap((s) => [s.Action].flat()))).toEqual(
      new Set(['logs:CreateLogStream', 'logs:PutLogEvents']),
    );
    const resources = statements.flatMap((s) => [s.Resource].flat());
    expect(resources).toHaveLength(2);
    expect(resources).toEqual(
      expect.arrayContaining([
        { 'Fn::GetAtt': [expect.stringMatching(/CollectorLogs/), 'Arn'] },
        { 'Fn::GetAtt': [expect.stringMatching(/LogRouterLogs/), 'Arn'] },
      ]),
    );
  });

  test('no role of the service carries a managed policy, and no access key exists', () => {
    const roles = template.findResources('AWS::IAM::Role');
    const withManagedPolicies = Object.keys(roles).filter((id) => roles[id].Properties.ManagedPolicyArns);
    // The one exception: CDK's own handler that strips the VPC default security group's rules.
    expect(withManagedPolicies).toEqual([
      expect.stringMatching(/^CustomVpcRestrictDefaultSGCustomResourceProviderRole/),
    ]);
    expect(roles[withManagedPolicies[0]].Properties.ManagedPolicyArns).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole' },
    ]);
    expect(template.findResources('AWS::IAM::AccessKey')).toEqual({});
    expect(template.findResources('AWS::IAM::User')).toEqual({});
  });
});

describe('invalid props', () => {
  function build(overrides: Partial<ObservedTaskDefinitionProps>): () => ObservedTaskDefinition {
    const stack = new Stack(newApp(), 'Stack');
    const logGroup = new logs.LogGroup(stack, 'Logs');
    return () =>
      new ObservedTaskDefinition(stack, 'Task', { image: TEST_IMAGE, serviceName: 'svc', logGroup, ...overrides });
  }

  test('a port outside 1-65535 is refused', () => {
    expect(build({ containerPort: 0 })).toThrow(/containerPort must be an integer from 1 to 65535/);
    expect(build({ containerPort: 70000 })).toThrow(/containerPort/);
  });

  test('a health check path without a leading slash is refused', () => {
    expect(build({ healthCheckPath: 'healthz' })).toThrow(/healthCheckPath must start with '\/'/);
  });

  test('a service name that cannot be a log stream prefix is refused', () => {
    expect(build({ serviceName: 'my service' })).toThrow(/serviceName must be/);
  });

  test('a task size Fargate does not offer is refused', () => {
    expect(build({ cpu: 256, memoryLimitMiB: 4096 })).toThrow(/memory 4096 MiB is not offered with cpu 256/);
    expect(build({ cpu: 300 })).toThrow(/cpu 300 is not a Fargate CPU size/);
  });

  test('moving image tags are refused', () => {
    expect(build({ collectorVersion: 'latest' })).toThrow(/collectorVersion must be an ADOT collector release tag/);
    expect(build({ fluentBitVersion: 'stable' })).toThrow(/fluentBitVersion must be an immutable/);
  });

  test('environment that would override the contract is refused', () => {
    expect(build({ environment: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://elsewhere:4317' } })).toThrow(
      /environment must not set OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(RESERVED_ENVIRONMENT).toEqual(expect.arrayContaining(['OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG']));
    expect(build({ environment: { OTEL_TRACES_SAMPLER: 'always_on' } })).toThrow(
      /environment must not set OTEL_TRACES_SAMPLER: ObservedTaskDefinition sets them/,
    );
    expect(build({ environment: { OTEL_TRACES_SAMPLER_ARG: 'endpoint=http://0.0.0.0:2000' } })).toThrow(
      /environment must not set OTEL_TRACES_SAMPLER_ARG/,
    );
  });

  test('extra environment reaches the service', () => {
    const stack = new Stack(newApp(), 'Stack');
    new ObservedTaskDefinition(stack, 'Task', {
      image: TEST_IMAGE,
      serviceName: 'svc',
      logGroup: new logs.LogGroup(stack, 'Logs'),
      environment: { LOG_LEVEL: 'debug' },
    });
    expect(environmentOf(container(Template.fromStack(stack), 'app')).LOG_LEVEL).toBe('debug');
  });
});
