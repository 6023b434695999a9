import * as fs from 'node:fs';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as YAML from 'yaml';
import { groupNameBase, MAX_GROUP_NAME_LENGTH } from '../lib/operations/xray-groups';
import {
  COLLECTOR_ERRORS,
  LOG_ROUTER_ERRORS,
  SERVICE_ERROR_LINES,
  SPAN_EXPORT_FAILING,
} from '../lib/operations/log-patterns';
import { COLLECTOR_CONFIG_PATH, ObservedTaskDefinition } from '../lib/observed-task-definition';
import { Operations } from '../lib/operations';
import { PublicLoadBalancedService } from '../lib/public-load-balanced-service';
import { TEST_REGION, buildStack, synthTemplate } from './helpers';

const STACK = 'TestStack';
const CONSOLE = `https://${TEST_REGION}.console.aws.amazon.com/cloudwatch/home?region=${TEST_REGION}`;
const DASHBOARD_URL = `${CONSOLE}#dashboards/dashboard/${STACK}-${TEST_REGION}`;

// A template's properties are untyped JSON, read here by path.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Properties = Record<string, any>;

function resourcesOf(template: Template, type: string): [string, Properties][] {
  return Object.entries(template.findResources(type)).map(([id, r]) => [id, r.Properties as Properties]);
}

function alarm(template: Template, suffix: string): Properties {
  const found = resourcesOf(template, 'AWS::CloudWatch::Alarm').filter(([, p]) => p.AlarmName === `${STACK}-${suffix}`);
  expect(found).toHaveLength(1);
  return found[0][1];
}

function logicalId(template: Template, type: string, pattern: RegExp): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => pattern.test(id));
  expect(ids).toHaveLength(1);
  return ids[0];
}

/** The metric stat of a math alarm's input with this ID. */
function input(properties: Properties, id: string): Properties {
  const metric = (properties.Metrics as Properties[]).find((m) => m.Id === id);
  expect(metric).toBeDefined();
  return metric!.MetricStat as Properties;
}

function expression(properties: Properties): string {
  const returned = (properties.Metrics as Properties[]).filter((m) => m.ReturnData !== false);
  expect(returned).toHaveLength(1);
  return returned[0].Expression as string;
}

function dimensionNames(stat: Properties): string[] {
  return (stat.Metric.Dimensions as { Name: string }[]).map((d) => d.Name).sort();
}

describe('the alarms', () => {
  const template = synthTemplate();
  const topic = { Ref: logicalId(template, 'AWS::SNS::Topic', /AlarmTopic/) };

  test('are six, each notifying the topic when it fires and when it recovers', () => {
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').filter(([, p]) =>
      String(p.AlarmName).startsWith(`${STACK}-`),
    );
    expect(alarms.map(([, p]) => p.AlarmName).sort()).toEqual(
      [
        '5xx-rate',
        'error-log-lines',
        'p99-latency',
        'span-export-failing',
        'tasks-below-desired',
        'unhealthy-targets',
      ].map((s) => `${STACK}-${s}`),
    );
    for (const [, p] of alarms) {
      expect(p.AlarmActions).toEqual([topic]);
      expect(p.OKActions).toEqual([topic]);
      expect(p.ActionsEnabled ?? true).toBe(true);
    }
  });

  test('5xx rate: target 5xx over requests per minute, over 5% for 5 straight minutes; no traffic does not page', () => {
    const p = alarm(template, '5xx-rate');
    expect(expression(p)).toBe('100 * FILL(errors, 0) / requests');
    const errors = input(p, 'errors');
    const requests = input(p, 'requests');
    expect(errors).toMatchObject({
      Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count' },
      Stat: 'Sum',
      Period: 60,
    });
    expect(requests).toMatchObject({
      Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'RequestCount' },
      Stat: 'Sum',
      Period: 60,
    });
    expect(dimensionNames(errors)).toEqual(['LoadBalancer', 'TargetGroup']);
    expect(dimensionNames(requests)).toEqual(['LoadBalancer', 'TargetGroup']);
    expect(p).toMatchObject({
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'notBreaching',
    });
  });

  test('p99 latency: target response time p99 per minute over 1 s for 5 straight minutes, low samples evaluated', () => {
    expect(alarm(template, 'p99-latency')).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'TargetResponseTime',
      ExtendedStatistic: 'p99',
      Period: 60,
      Dimensions: expect.arrayContaining([expect.objectContaining({ Name: 'TargetGroup' })]),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'notBreaching',
      EvaluateLowSampleCountPercentile: 'evaluate',
    });
  });

  test('unhealthy targets: any unhealthy target in 3 of 5 minutes', () => {
    expect(alarm(template, 'unhealthy-targets')).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'UnHealthyHostCount',
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
  });

  test('tasks below desired: Container Insights desired minus running at 1 or more for 5 straight minutes', () => {
    const p = alarm(template, 'tasks-below-desired');
    expect(expression(p)).toBe('desired - running');
    for (const [id, name] of [
      ['desired', 'DesiredTaskCount'],
      ['running', 'RunningTaskCount'],
    ]) {
      const stat = input(p, id);
      expect(stat).toMatchObject({
        Metric: { Namespace: 'ECS/ContainerInsights', MetricName: name },
        Stat: 'Average',
        Period: 60,
      });
      expect(dimensionNames(stat)).toEqual(['ClusterName', 'ServiceName']);
    }
    expect(p).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'missing',
    });
  });

  test('error log lines: 5 or more in 5 minutes, from the service log group’s filter', () => {
    expect(alarm(template, 'error-log-lines')).toMatchObject({
      Namespace: `OtelFargate/${STACK}`,
      MetricName: 'ErrorLogLines',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 5,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  test('span export failing: failing lines in 5 straight minutes, a quiet minute is no outage', () => {
    expect(alarm(template, 'span-export-failing')).toMatchObject({
      Namespace: `OtelFargate/${STACK}`,
      MetricName: 'SpanExportFailingLines',
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'notBreaching',
    });
  });

  test('descriptions say what to open first, with the fault group, the saved query and the dashboard by name and URL', () => {
    for (const suffix of ['5xx-rate', 'error-log-lines', 'tasks-below-desired']) {
      const description = JSON.stringify(alarm(template, suffix).AlarmDescription);
      expect(description).toContain('Open first: (1)');
      expect(description).toContain('group otel-fargate-service-faults');
      expect(description).toContain(`${CONSOLE}#xray:traces/query`);
      expect(description).toContain(DASHBOARD_URL);
    }
    for (const suffix of ['5xx-rate', 'p99-latency', 'error-log-lines', 'unhealthy-targets']) {
      const description = JSON.stringify(alarm(template, suffix).AlarmDescription);
      expect(description).toContain('saved Logs Insights query otel-fargate-service/log-lines-of-one-trace');
      expect(description).toContain(`${CONSOLE}#logsV2:logs-insights`);
    }
    expect(alarm(template, 'p99-latency').AlarmDescription).toContain('group otel-fargate-service, sorted by response');
    // The two log groups by name (resolved at deploy).
    const parts = alarm(template, 'span-export-failing').AlarmDescription['Fn::Join'][1] as unknown[];
    expect(parts).toEqual(
      expect.arrayContaining([
        { Ref: 'ServiceLogGroup' },
        { Ref: logicalId(template, 'AWS::Logs::LogGroup', /CollectorLogs/) },
      ]),
    );
  });

  test('descriptions fit CloudWatch’s 1024 characters', () => {
    for (const [, p] of resourcesOf(template, 'AWS::CloudWatch::Alarm')) {
      // Names CloudFormation generates (cluster, service, sidecar log group) are the stack name (128 characters at
      // most), the logical ID and a random suffix: 200 characters is above any of them.
      const text = JSON.stringify(p.AlarmDescription).replace(/\{"(Ref|Fn::GetAtt)":[^}]*\}/g, 'x'.repeat(200));
      expect(text.length).toBeLessThanOrEqual(1024);
    }
  });

  test('take their thresholds and evaluation periods from props', () => {
    const custom = synthTemplate({
      alarmEvaluationMinutes: 3,
      alarm5xxPercent: 2,
      alarmP99LatencyMs: 250,
      alarmErrorLines: 1,
      alarmSpanExportMinutes: 10,
    });
    expect(alarm(custom, '5xx-rate')).toMatchObject({ Threshold: 2, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    expect(alarm(custom, 'p99-latency')).toMatchObject({ Threshold: 0.25, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    expect(alarm(custom, 'unhealthy-targets')).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    expect(alarm(custom, 'tasks-below-desired')).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    expect(alarm(custom, 'error-log-lines')).toMatchObject({ Threshold: 1, Period: 180 });
    expect(alarm(custom, 'span-export-failing')).toMatchObject({ EvaluationPeriods: 10, DatapointsToAlarm: 10 });
  });

  test('refuse thresholds CloudWatch or the service cannot honour', () => {
    expect(() => synthTemplate({ alarmEvaluationMinutes: 0 })).toThrow(/evaluationMinutes must be a whole number/);
    expect(() => synthTemplate({ alarm5xxPercent: 101 })).toThrow(/max5xxPercent must be a number from/);
    expect(() => synthTemplate({ alarmP99LatencyMs: 60_001 })).toThrow(/maxP99LatencyMs/);
    expect(() => synthTemplate({ alarmSpanExportMinutes: 1.5 })).toThrow(/spanExportFailingMinutes/);
  });
});

describe('the task alarm without Container Insights', () => {
  const template = synthTemplate({ containerInsights: ecs.ContainerInsights.DISABLED, desiredCount: 3, minTasks: 2 });

  test('turns Container Insights off on the cluster', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'disabled' }],
    });
  });

  test('counts healthy targets below the scaling floor; a gap in that every-minute metric pages', () => {
    expect(alarm(template, 'tasks-below-desired')).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'HealthyHostCount',
      Statistic: 'Minimum',
      Period: 60,
      Threshold: 2,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'breaching',
    });
  });

  test('the dashboard draws no Container Insights metric', () => {
    expect(JSON.stringify(resourcesOf(template, 'AWS::CloudWatch::Dashboard'))).not.toContain('ECS/ContainerInsights');
  });
});

describe('Container Insights', () => {
  test('is enhanced by default', () => {
    synthTemplate().hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enhanced' }],
    });
  });

  test('can be the standard kind', () => {
    synthTemplate({ containerInsights: ecs.ContainerInsights.ENABLED }).hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });
});

describe('the alarm topic', () => {
  const template = synthTemplate();
  const keyId = logicalId(template, 'AWS::KMS::Key', /AlarmTopic/);

  test('is encrypted with a key of its own that rotates, and that goes with the stack', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    expect(template.toJSON().Resources[keyId]).toMatchObject({
      Properties: { EnableKeyRotation: true, PendingWindowInDays: 7 },
      DeletionPolicy: 'Delete',
    });
  });

  test("lets CloudWatch use the key, only for this account's alarms of this stack", () => {
    const key = template.toJSON().Resources[keyId].Properties as Properties;
    const statement = (key.KeyPolicy.Statement as Properties[]).find((s) => s.Sid === 'AllowCloudWatchAlarmsToPublish');
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    });
    expect(statement!.Condition.ArnLike['aws:SourceArn']).toEqual({
      'Fn::Join': ['', [`arn:aws:cloudwatch:${TEST_REGION}:`, { Ref: 'AWS::AccountId' }, `:alarm:${STACK}-*`]],
    });
  });

  test('refuses publishes without TLS', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Principal: '*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('has no subscription unless an address is given', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  test('emails the given address', () => {
    synthTemplate({ alarmEmail: 'ops@example.com' }).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: logicalId(template, 'AWS::SNS::Topic', /AlarmTopic/) },
    });
  });

  test('refuses an address SNS would refuse', () => {
    expect(() => synthTemplate({ alarmEmail: 'ops at example.com' })).toThrow(/alarmEmail must be one email address/);
  });
});

describe('the metric filters', () => {
  const template = synthTemplate();
  const filters = resourcesOf(template, 'AWS::Logs::MetricFilter').map(([, p]) => ({
    pattern: p.FilterPattern as string,
    group: p.LogGroupName as { Ref: string },
    metric: p.MetricTransformations[0] as Properties,
  }));
  const collectorGroup = { Ref: logicalId(template, 'AWS::Logs::LogGroup', /CollectorLogs/) };
  const routerGroup = { Ref: logicalId(template, 'AWS::Logs::LogGroup', /LogRouterLogs/) };
  const namespace = `OtelFargate/${STACK}`;

  test('count the service’s error lines, its span export failing lines, and the sidecars’ errors, each on its own log group', () => {
    expect(filters).toEqual(
      expect.arrayContaining([
        {
          pattern: SERVICE_ERROR_LINES,
          group: { Ref: 'ServiceLogGroup' },
          metric: { MetricNamespace: namespace, MetricName: 'ErrorLogLines', MetricValue: '1' },
        },
        {
          pattern: SPAN_EXPORT_FAILING,
          group: { Ref: 'ServiceLogGroup' },
          metric: { MetricNamespace: namespace, MetricName: 'SpanExportFailingLines', MetricValue: '1' },
        },
        {
          pattern: COLLECTOR_ERRORS,
          group: collectorGroup,
          metric: { MetricNamespace: namespace, MetricName: 'CollectorErrorLines', MetricValue: '1' },
        },
        {
          pattern: LOG_ROUTER_ERRORS,
          group: routerGroup,
          metric: { MetricNamespace: namespace, MetricName: 'LogRouterErrorLines', MetricValue: '1' },
        },
      ]),
    );
    expect(filters).toHaveLength(4);
  });

  test('publish nothing in minutes without a match (no default value): each is one custom metric, dimensionless', () => {
    for (const { metric } of filters) {
      expect(metric).not.toHaveProperty('DefaultValue');
      expect(metric).not.toHaveProperty('Dimensions');
    }
  });

  test('the collector writes JSON lines, which its filter needs', () => {
    const config = YAML.parse(fs.readFileSync(COLLECTOR_CONFIG_PATH, 'utf8')) as {
      service: { telemetry: { logs: { encoding?: string } } };
    };
    expect(config.service.telemetry.logs.encoding).toBe('json');
  });
});

describe('the X-Ray groups', () => {
  const template = synthTemplate();

  test('hold the service’s traces, with Insights on, notifications left to EventBridge rules of the user’s own', () => {
    template.hasResourceProperties('AWS::XRay::Group', {
      GroupName: 'otel-fargate-service',
      FilterExpression: 'service("otel-fargate-service")',
      InsightsConfiguration: { InsightsEnabled: true, NotificationsEnabled: false },
    });
  });

  test('hold the service’s traces with faults', () => {
    template.hasResourceProperties('AWS::XRay::Group', {
      GroupName: 'otel-fargate-service-faults',
      FilterExpression: 'service("otel-fargate-service") { fault = true }',
      InsightsConfiguration: { InsightsEnabled: false, NotificationsEnabled: false },
    });
  });

  test('are named within X-Ray’s 32 characters, distinctly, whatever the service name', () => {
    const a = groupNameBase('a-very-long-service-name-for-the-checkout-team', MAX_GROUP_NAME_LENGTH - 7);
    const b = groupNameBase('a-very-long-service-name-for-the-checkout-team-2', MAX_GROUP_NAME_LENGTH - 7);
    expect(`${a}-faults`.length).toBeLessThanOrEqual(MAX_GROUP_NAME_LENGTH);
    expect(a).not.toBe(b);
    expect(groupNameBase('orders.v2', 25)).toBe('orders-v2');
    expect(groupNameBase('Default', 25)).toBe('Default-service');
    synthTemplate({ serviceName: 'checkout.v2' }).hasResourceProperties('AWS::XRay::Group', {
      GroupName: 'checkout-v2-faults',
      FilterExpression: 'service("checkout.v2") { fault = true }',
    });
  });
});

describe('the dashboard', () => {
  const template = synthTemplate();
  const body = () => {
    const [[, p]] = resourcesOf(template, 'AWS::CloudWatch::Dashboard');
    expect(p.DashboardName).toBe(`${STACK}-${TEST_REGION}`);
    // The body is a JSON string with the alarms' ARNs and dimensions spliced in: keep the literal parts.
    const parts = (p.DashboardBody['Fn::Join'][1] as unknown[]).map((part) => (typeof part === 'string' ? part : 'X'));
    return JSON.parse(parts.join('')) as { widgets: { type: string; properties: Properties }[] };
  };

  test('is one per stack, named after the stack and region', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    body();
  });

  test('says what good looks like in every graph’s title', () => {
    const graphs = body().widgets.filter((w) => w.type === 'metric');
    expect(graphs.length).toBeGreaterThanOrEqual(10);
    for (const graph of graphs) expect(graph.properties.title).toMatch(/\(good: .+\)/);
  });

  test('graphs the load balancer, the tasks, the log metrics and the X-Ray groups', () => {
    const metrics = JSON.stringify(body().widgets.map((w) => w.properties.metrics ?? []));
    for (const name of [
      'RequestCount',
      'HTTPCode_Target_4XX_Count',
      'HTTPCode_Target_5XX_Count',
      'HTTPCode_ELB_5XX_Count',
      'TargetResponseTime',
      'HealthyHostCount',
      'UnHealthyHostCount',
      'RunningTaskCount',
      'DesiredTaskCount',
      'CPUUtilization',
      'MemoryUtilization',
      'ErrorLogLines',
      'SpanExportFailingLines',
      'CollectorErrorLines',
      'LogRouterErrorLines',
      'ApproximateTraceCount',
    ]) {
      expect(metrics).toContain(`"${name}"`);
    }
    expect(metrics).toContain('"otel-fargate-service-faults"');
    for (const p of ['p50', 'p90', 'p99']) expect(metrics).toContain(`"stat":"${p}"`);
  });

  test('links to the fault traces, Insights and the saved query, and shows every alarm', () => {
    const widgets = body().widgets;
    const text = widgets.find((w) => w.type === 'text')!.properties.markdown as string;
    expect(text).toContain(`[X-Ray traces](${CONSOLE}#xray:traces/query), group **otel-fargate-service-faults**`);
    expect(text).toContain(`(${CONSOLE}#xray:insights)`);
    expect(text).toContain('**otel-fargate-service/log-lines-of-one-trace**');
    expect(widgets.find((w) => w.type === 'alarm')!.properties.alarms).toHaveLength(6);
  });
});

describe('the Operations construct', () => {
  test('refuses a name prefix that alarm and dashboard names cannot hold', () => {
    const { stack } = buildStack();
    const web = stack.node.findChild('Web') as PublicLoadBalancedService;
    const observed = stack.node.findChild('ObservedTask') as ObservedTaskDefinition;
    expect(
      () =>
        new Operations(stack, 'Again', {
          serviceName: 'again',
          service: web.service.service,
          loadBalancer: web.loadBalancer,
          targetGroup: web.service.targetGroup,
          serviceLogGroup: observed.collectorLogGroup,
          collectorLogGroup: observed.collectorLogGroup,
          logRouterLogGroup: observed.logRouterLogGroup,
          traceLogsQueryName: 'again/query',
          namePrefix: 'my stack',
        }),
    ).toThrow(/namePrefix must be 1 to 200 letters, digits, '-' or '_', got 'my stack'/);
  });
});

describe('the outputs', () => {
  const template = synthTemplate();

  test('give the dashboard URL and the alarm topic ARN', () => {
    template.hasOutput('DashboardUrl', { Value: DASHBOARD_URL });
    template.hasOutput('AlarmTopicArn', { Value: { Ref: logicalId(template, 'AWS::SNS::Topic', /AlarmTopic/) } });
  });
});
