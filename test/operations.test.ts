import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { App, Stack } from 'aws-cdk-lib';
import { stackPropsFromContext } from '../bin/context';
import { addOtelFargateStack } from '../bin/otel-fargate';
import { OtelFargateStack } from '../lib/otel-fargate-stack';
import * as YAML from 'yaml';
import { MAX_GROUP_NAME_LENGTH, XRayGroups, xrayGroupNames } from '../lib/operations/xray-groups';
import {
  COLLECTOR_ERRORS,
  LOG_ROUTER_ERRORS,
  SERVICE_ERROR_LINES,
  SPAN_EXPORT_FAILING,
} from '../lib/operations/log-patterns';
import { COLLECTOR_CONFIG_PATH, ObservedTaskDefinition } from '../lib/observed-task-definition';
import { Operations } from '../lib/operations';
import { PublicLoadBalancedService } from '../lib/public-load-balanced-service';
import { alarmState, every, noData, type Series } from './support/cloudwatch-alarm';
import {
  TEST_IMAGE,
  TEST_REGION,
  acknowledgePlainHttp,
  buildStack,
  newApp,
  sharedTemplate,
  synthTemplate,
} from './helpers';

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

/** The X-Ray groups' names: all the service's traces, and those with faults. */
function groupNames(template: Template): { traces: string; faults: string } {
  const groups = resourcesOf(template, 'AWS::XRay::Group').map(([, p]) => p);
  const name = (faultsOnly: boolean) =>
    groups.find((g) => String(g.FilterExpression).includes('fault = true') === faultsOnly)!.GroupName as string;
  return { traces: name(false), faults: name(true) };
}

/** The Markdown files under `dir`, if it exists (the README is being split into docs/ pages). */
function markdownUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .map((file) => path.join(dir, file));
}

/** A resource's name property and the longest name its service accepts. */
const NAMES: Record<string, { property: string; maxLength: number }> = {
  'AWS::Logs::LogGroup': { property: 'LogGroupName', maxLength: 512 },
  'AWS::ECS::Cluster': { property: 'ClusterName', maxLength: 255 },
  'AWS::ECS::Service': { property: 'ServiceName', maxLength: 255 },
};

/**
 * The most characters a template value can have once deployed. A resource's name is its name property or, without
 * one, the name CloudFormation generates: the stack's name, the logical ID and a random suffix ("CloudFormation
 * resource custom naming": `MyStack-MyBucket-abcdefghijk1`; suffixes of 12 and 13 characters are seen), cut to what
 * the service accepts. A value this does not know fails the test, so that nothing is counted short.
 */
function longestDeployed(value: unknown, template: Template, stackName: string): number {
  if (typeof value === 'string') return value.length;
  const v = value as Properties;
  if (v['Fn::Join']) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    const sum = parts.reduce<number>((total, part) => total + longestDeployed(part, template, stackName), 0);
    return sum + separator.length * (parts.length - 1);
  }
  const logicalId = (v.Ref ?? (v['Fn::GetAtt']?.[1] === 'Name' ? v['Fn::GetAtt'][0] : undefined)) as string | undefined;
  if (logicalId === 'AWS::AccountId') return 12;
  const resource = logicalId === undefined ? undefined : template.toJSON().Resources[logicalId];
  const names = resource && NAMES[resource.Type as string];
  if (!names) throw new Error(`no longest length known for ${JSON.stringify(value)}`);
  const given = resource.Properties?.[names.property];
  if (typeof given === 'string') return given.length;
  return Math.min(names.maxLength, `${stackName}-${logicalId!}-`.length + 13);
}

describe('the alarms', () => {
  const template = sharedTemplate();
  const topic = { Ref: logicalId(template, 'AWS::SNS::Topic', /AlarmTopic/) };

  test('are seven, each notifying the topic when it fires and when it recovers', () => {
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm').filter(([, p]) =>
      String(p.AlarmName).startsWith(`${STACK}-`),
    );
    expect(alarms.map(([, p]) => p.AlarmName).sort()).toEqual(
      [
        '5xx-rate',
        'collector-errors',
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

  test('5xx rate: the service’s and the load balancer’s own 5xx per minute, over 5% for 5 straight minutes', () => {
    const p = alarm(template, '5xx-rate');
    expect(expression(p)).toBe('100 * errors / IF(requests > errors, requests, errors)');
    const errors = (p.Metrics as Properties[]).find((m) => m.Id === 'errors');
    expect(errors).toMatchObject({ Expression: 'FILL(service5xx, 0) + FILL(lb5xx, 0)', ReturnData: false });
    expect(input(p, 'service5xx')).toMatchObject({
      Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count' },
      Stat: 'Sum',
      Period: 60,
    });
    // The load balancer's own codes have no TargetGroup dimension (aws-cdk-lib ApplicationELBMetrics.httpCodeElb5XxCountSum).
    expect(input(p, 'lb5xx')).toMatchObject({
      Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_ELB_5XX_Count' },
      Stat: 'Sum',
      Period: 60,
    });
    expect(input(p, 'requests')).toMatchObject({
      Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'RequestCount' },
      Stat: 'Sum',
      Period: 60,
    });
    expect(dimensionNames(input(p, 'service5xx'))).toEqual(['LoadBalancer', 'TargetGroup']);
    expect(dimensionNames(input(p, 'lb5xx'))).toEqual(['LoadBalancer']);
    expect(dimensionNames(input(p, 'requests'))).toEqual(['LoadBalancer', 'TargetGroup']);
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

  test('tasks below desired: Container Insights desired minus running at 1 or more for 5 straight minutes, a gap breaching', () => {
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
      TreatMissingData: 'breaching',
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

  describe('on sample minutes, evaluated as CloudWatch documents (test/support/cloudwatch-alarm.ts)', () => {
    const MINUTES = 15;
    const none = noData(MINUTES);
    const per = (value: number) => every(MINUTES, value);
    /** `before` for the first minutes, then `after` for the last `minutes` of the sample. */
    const lastMinutes = (minutes: number, before: Series, after: Series): Series => [
      ...before.slice(0, MINUTES - minutes),
      ...after.slice(MINUTES - minutes),
    ];

    describe('tasks below desired (Container Insights)', () => {
      const state = (desired: Series, running: Series) =>
        alarmState(
          alarm(template, 'tasks-below-desired'),
          { DesiredTaskCount: desired, RunningTaskCount: running },
          MINUTES,
        );

      test('stays OK while the running tasks match the desired ones', () => {
        expect(state(per(2), per(2))).toBe('OK');
      });

      test('fires when one task is missing for 5 minutes', () => {
        expect(state(per(2), per(1))).toBe('ALARM');
      });

      test('fires when nothing runs and Container Insights reports no running count, only the desired one', () => {
        expect(state(per(2), lastMinutes(10, per(2), none))).toBe('ALARM');
      });

      test('fires when nothing runs and Container Insights reports neither count for the service', () => {
        expect(state(lastMinutes(10, per(2), none), lastMinutes(10, per(2), none))).toBe('ALARM');
      });

      test('does not fire for a newest minute not yet reported, nor for a 2-minute gap', () => {
        const late = lastMinutes(1, per(2), none);
        expect(state(late, late)).toBe('OK');
        const gap = per(2).map((v, i) => (i === 10 || i === 11 ? undefined : v));
        expect(state(gap, gap)).toBe('OK');
      });
    });

    describe('5xx rate', () => {
      const state = (requests: Series, service5xx: Series, lb5xx: Series) =>
        alarmState(
          alarm(template, '5xx-rate'),
          { RequestCount: requests, HTTPCode_Target_5XX_Count: service5xx, HTTPCode_ELB_5XX_Count: lb5xx },
          MINUTES,
        );

      test('stays OK with a few service 5xx, and with no traffic at all', () => {
        expect(state(per(1000), per(20), none)).toBe('OK');
        expect(state(none, none, none)).toBe('OK');
      });

      test('fires when the service answers more than 5% with a 5xx', () => {
        expect(state(per(1000), per(60), none)).toBe('ALARM');
      });

      test('fires when the load balancer answers more than 5% with its own 502s or 504s', () => {
        expect(state(per(1000), none, per(60))).toBe('ALARM');
      });

      test('fires when the load balancer answers every request itself (503: no healthy target), RequestCount 0 or none', () => {
        expect(state(per(0), none, per(40))).toBe('ALARM');
        expect(state(none, none, per(40))).toBe('ALARM');
      });
    });
  });

  test('descriptions say what to open first, with the fault group, the saved query and the dashboard by name and URL', () => {
    const { traces, faults } = groupNames(template);
    for (const suffix of ['5xx-rate', 'error-log-lines', 'tasks-below-desired']) {
      const description = JSON.stringify(alarm(template, suffix).AlarmDescription);
      expect(description).toContain('Open first: (1)');
      expect(description).toContain(`group ${faults}:`);
      expect(description).toContain(`${CONSOLE}#xray:traces/query`);
      expect(description).toContain(DASHBOARD_URL);
    }
    for (const suffix of ['5xx-rate', 'p99-latency', 'error-log-lines', 'unhealthy-targets', 'span-export-failing']) {
      const description = JSON.stringify(alarm(template, suffix).AlarmDescription);
      expect(description).toContain('saved Logs Insights query otel-fargate-service/log-lines-of-one-trace');
      expect(description).toContain(`${CONSOLE}#logsV2:logs-insights`);
    }
    expect(alarm(template, 'p99-latency').AlarmDescription).toContain(`group ${traces}, sorted by response`);
    // The collector's log group by name (resolved at deploy); the service's lines through the saved query.
    const parts = alarm(template, 'span-export-failing').AlarmDescription['Fn::Join'][1] as unknown[];
    expect(parts).toContainEqual({ Ref: logicalId(template, 'AWS::Logs::LogGroup', /CollectorLogs/) });
    expect(JSON.stringify(parts)).toContain('with \\"span export failing\\" for the trace ID');
  });

  test('collector errors: error lines in 5 straight minutes (X-Ray refusing the collector’s batches), a quiet minute is none', () => {
    expect(alarm(template, 'collector-errors')).toMatchObject({
      Namespace: `OtelFargate/${STACK}`,
      MetricName: 'CollectorErrorLines',
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'notBreaching',
    });
    const parts = alarm(template, 'collector-errors').AlarmDescription['Fn::Join'][1] as unknown[];
    expect(parts).toContainEqual({ Ref: logicalId(template, 'AWS::Logs::LogGroup', /CollectorLogs/) });
    expect(JSON.stringify(parts)).toContain('PutTraceSegments');
  });

  test('take their thresholds and evaluation periods from props', () => {
    const custom = sharedTemplate({
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
    expect(alarm(custom, 'collector-errors')).toMatchObject({ EvaluationPeriods: 10, DatapointsToAlarm: 10 });
  });

  test('refuse thresholds CloudWatch or the service cannot honour', () => {
    expect(() => synthTemplate({ alarmEvaluationMinutes: 0 })).toThrow(/evaluationMinutes must be a whole number/);
    expect(() => synthTemplate({ alarm5xxPercent: 101 })).toThrow(/max5xxPercent must be a number from/);
    expect(() => synthTemplate({ alarmP99LatencyMs: 60_001 })).toThrow(/maxP99LatencyMs/);
    expect(() => synthTemplate({ alarmSpanExportMinutes: 1.5 })).toThrow(/spanExportFailingMinutes/);
  });
});

describe('alarm descriptions, at the longest values the context keys accept', () => {
  // AWS::CloudWatch::Alarm AlarmDescription holds at most 1,024 characters (CloudFormation resource reference); a
  // longer one fails the deploy. These are the keys whose values reach a description, each at its longest.
  const LONGEST: Record<string, string> = {
    serviceName: `s${'e'.repeat(62)}`,
    logGroupName: 'g'.repeat(512),
    region: `aa-${'b'.repeat(15)}-1`,
    alarmEvaluationMinutes: '60',
    alarm5xxPercent: '100',
    alarmP99LatencyMs: '60000',
    alarmErrorLines: '100000',
    alarmSpanExportMinutes: '60',
  };
  const ONE_MORE: Record<string, string> = {
    serviceName: `${LONGEST.serviceName}x`,
    logGroupName: `${LONGEST.logGroupName}x`,
    region: `aa-${'b'.repeat(16)}-1`,
    alarmEvaluationMinutes: '61',
    alarm5xxPercent: '101',
    alarmP99LatencyMs: '60001',
    alarmErrorLines: '100001',
    alarmSpanExportMinutes: '61',
  };
  const VARIANTS: Record<string, Record<string, string>> = {
    'Container Insights on, the log group created': LONGEST,
    'Container Insights off, a scaling floor of 100, the log group adopted': {
      ...LONGEST,
      containerInsights: 'disabled',
      desiredCount: '100',
      minTasks: '100',
      maxTasks: '100',
      adoptLogGroup: 'true',
    },
  };
  /** The stack bin/otel-fargate.ts deploys, named as it names it, from these context values. */
  const STACK_NAME = 'OtelFargateStack';
  const templates: Record<string, Template> = {};

  beforeAll(() => {
    for (const [variant, context] of Object.entries(VARIANTS)) {
      const { region, ...props } = stackPropsFromContext((key) => context[key]);
      const app = acknowledgePlainHttp(newApp());
      templates[variant] = Template.fromStack(
        new OtelFargateStack(app, STACK_NAME, { env: { region }, image: TEST_IMAGE, ...props }),
      );
    }
  });

  test('are the longest each key accepts: one character or one unit more is refused, naming the key', () => {
    for (const key of Object.keys(LONGEST)) {
      expect(() => stackPropsFromContext((k) => (k === key ? LONGEST[key] : undefined))).not.toThrow();
      expect(() => stackPropsFromContext((k) => (k === key ? ONE_MORE[key] : undefined))).toThrow(
        new RegExp(`context key '${key}'`),
      );
    }
  });

  test.each(Object.keys(VARIANTS))('%s: every description fits, with deploy-time names at their longest', (variant) => {
    const template = templates[variant];
    const lengths = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(
      ([, p]) => [p.AlarmName, longestDeployed(p.AlarmDescription, template, STACK_NAME)] as const,
    );
    expect(lengths).toHaveLength(7);
    expect(lengths.filter(([, length]) => length > 1024)).toEqual([]);
  });
});

describe('the task alarm without Container Insights', () => {
  const template = sharedTemplate({ containerInsights: ecs.ContainerInsights.DISABLED, desiredCount: 3, minTasks: 2 });

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
    sharedTemplate().hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enhanced' }],
    });
  });

  test('can be the standard kind', () => {
    sharedTemplate({ containerInsights: ecs.ContainerInsights.ENABLED }).hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });
});

describe('the alarm topic', () => {
  const template = sharedTemplate();
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

  test('lets CloudWatch publish to the topic, only for this account’s alarms of this stack, and so every alarm', () => {
    // enforceSSL gives the topic a policy (aws-cdk-lib 2.276 aws-sns topic-base: addSSLPolicy), which replaces SNS's
    // default one, and SnsAction grants nothing (aws-cloudwatch-actions sns: bind returns the topic ARN only).
    const topicId = logicalId(template, 'AWS::SNS::Topic', /AlarmTopic/);
    const [policy] = resourcesOf(template, 'AWS::SNS::TopicPolicy').map(([, p]) => p);
    expect(policy.Topics).toEqual([{ Ref: topicId }]);
    const allow = (policy.PolicyDocument.Statement as Properties[]).filter((s) => s.Effect === 'Allow');
    expect(allow).toEqual([
      {
        Sid: 'AllowCloudWatchAlarmsToPublish',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: {
            'aws:SourceArn': {
              'Fn::Join': ['', [`arn:aws:cloudwatch:${TEST_REGION}:`, { Ref: 'AWS::AccountId' }, `:alarm:${STACK}-*`]],
            },
          },
        },
      },
    ]);
    // ArnLike's `*` matches any characters: every alarm of the stack is covered, and an alarm of another stack is not.
    const account = '123456789012';
    const joined = (allow[0].Condition.ArnLike['aws:SourceArn']['Fn::Join'][1] as unknown[])
      .map((part) => (typeof part === 'string' ? part : account))
      .join('');
    const glob = new RegExp(
      `^${joined
        .split('*')
        .map((part) => part.replace(/[.?+^$()[\]{}|\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    const matches = (arn: string) => glob.test(arn);
    const alarmArns = resourcesOf(template, 'AWS::CloudWatch::Alarm').map(
      ([, p]) => `arn:aws:cloudwatch:${TEST_REGION}:${account}:alarm:${p.AlarmName as string}`,
    );
    expect(alarmArns).toHaveLength(7);
    expect(alarmArns.filter((arn) => !matches(arn))).toEqual([]);
    expect(matches(`arn:aws:cloudwatch:${TEST_REGION}:${account}:alarm:OtherStack-5xx-rate`)).toBe(false);
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
    sharedTemplate({ alarmEmail: 'ops@example.com' }).hasResourceProperties('AWS::SNS::Subscription', {
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
  const template = sharedTemplate();
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
  const template = sharedTemplate();
  const { traces, faults } = groupNames(template);

  test('hold the service’s traces, with Insights on, notifications left to EventBridge rules of the user’s own', () => {
    template.hasResourceProperties('AWS::XRay::Group', {
      GroupName: traces,
      FilterExpression: 'service("otel-fargate-service")',
      InsightsConfiguration: { InsightsEnabled: true, NotificationsEnabled: false },
    });
  });

  test('hold the service’s traces with faults', () => {
    template.hasResourceProperties('AWS::XRay::Group', {
      GroupName: faults,
      FilterExpression: 'service("otel-fargate-service") { fault = true }',
      InsightsConfiguration: { InsightsEnabled: false, NotificationsEnabled: false },
    });
  });

  test('are named after the service, cut, and a hash of the stack and path, within X-Ray’s 32 characters', () => {
    // AWS::XRay::Group GroupName: 1 to 32 characters, unique per account and region (CloudFormation resource reference).
    expect(traces).toMatch(/^otel-fargate-ser-[0-9a-f]{8}$/);
    expect(faults).toBe(`${traces}-faults`);
    for (const name of ['a-very-long-service-name-for-the-checkout-team', 'orders.v2', 'Default']) {
      const names = xrayGroupNames(name, 'Stack/Stack/Operations/XRayGroups');
      expect(names.faults.length).toBeLessThanOrEqual(MAX_GROUP_NAME_LENGTH);
      expect(names.faults).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(xrayGroupNames('orders.v2', 'seed').traces).toMatch(/^orders-v2-[0-9a-f]{8}$/);
    expect(xrayGroupNames('Default', 'seed').traces).not.toBe('Default');
  });

  test('are named in the docs as the deployed stack (bin/otel-fargate.ts) names them', () => {
    const stack = addOtelFargateStack(new App(), {});
    const groups = (stack.node.findChild('Operations') as Operations).xrayGroups;
    const docs = [path.join(__dirname, '..', 'README.md'), ...markdownUnder(path.join(__dirname, '..', 'docs'))];
    const text = docs.map((file) => fs.readFileSync(file, 'utf8')).join('\n');
    const named = new Set(text.match(/\botel-fargate-ser-[0-9a-f]{8}(-faults)?\b/g));
    expect(named).toEqual(new Set([groups.tracesGroupName, groups.faultsGroupName]));
    expect(text).not.toMatch(/otel-fargate-service-faults/);
  });

  test('differ between two stacks in one region with the default service name, and between two copies in a stack', () => {
    const app = newApp();
    const names = ['StackA', 'StackB'].flatMap((stackName) => {
      const stack = new Stack(app, stackName, { env: { region: TEST_REGION } });
      return ['Operations', 'Again'].map((id) => {
        const groups = new XRayGroups(stack, id, { serviceName: 'otel-fargate-service' });
        return [groups.tracesGroupName, groups.faultsGroupName];
      });
    });
    expect(new Set(names.flat()).size).toBe(8);
  });
});

describe('the dashboard', () => {
  const template = sharedTemplate();
  const { faults } = groupNames(template);
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
    expect(metrics).toContain(`"${faults}"`);
    for (const p of ['p50', 'p90', 'p99']) expect(metrics).toContain(`"stat":"${p}"`);
  });

  test('draws the 5xx rate the alarm reads, from the service’s and the load balancer’s 5xx, and both counts', () => {
    const graphs = body().widgets.filter((w) => w.type === 'metric');
    const titled = (start: string) => graphs.find((g) => String(g.properties.title).startsWith(start))!;
    const rate = JSON.stringify(titled('4xx and 5xx, % of requests').properties.metrics);
    expect(rate).toContain(`"expression":"${expression(alarm(template, '5xx-rate'))}"`);
    expect(rate).toContain('"expression":"FILL(service5xx, 0) + FILL(lb5xx, 0)"');
    for (const name of ['HTTPCode_Target_5XX_Count', 'HTTPCode_ELB_5XX_Count', 'RequestCount']) {
      expect(rate).toContain(`"${name}"`);
    }
    const counts = JSON.stringify(titled('4xx and 5xx per minute').properties.metrics);
    expect(counts).toContain('"HTTPCode_Target_5XX_Count"');
    expect(counts).toContain('"HTTPCode_ELB_5XX_Count"');
  });

  test('links to the fault traces, Insights and the saved query, and shows every alarm', () => {
    const widgets = body().widgets;
    const text = widgets.find((w) => w.type === 'text')!.properties.markdown as string;
    expect(text).toContain(`[X-Ray traces](${CONSOLE}#xray:traces/query), group **${faults}**`);
    expect(text).toContain(`(${CONSOLE}#xray:insights)`);
    expect(text).toContain('**otel-fargate-service/log-lines-of-one-trace**');
    expect(widgets.find((w) => w.type === 'alarm')!.properties.alarms).toHaveLength(7);
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
  const template = sharedTemplate();

  test('give the dashboard URL and the alarm topic ARN', () => {
    template.hasOutput('DashboardUrl', { Value: DASHBOARD_URL });
    template.hasOutput('AlarmTopicArn', { Value: { Ref: logicalId(template, 'AWS::SNS::Topic', /AlarmTopic/) } });
  });
});
