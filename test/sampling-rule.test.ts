// The service's X-Ray sampling rule, as the template states it, and as the X-Ray sampler matches it: a rule's
// ServiceName against the resource's service.name, its ServiceType against CLOUD_PLATFORM_MAPPING[cloud.platform]
// (open-telemetry/opentelemetry-js-contrib: packages/sampler-aws-xray/src/sampling-rule-applier.ts, `matches`).
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  DEFAULT_RULE_PRIORITY,
  ECS_SERVICE_TYPE,
  MAX_RULE_NAME_LENGTH,
  ServiceSamplingRule,
  type ServiceSamplingRuleProps,
} from '../lib/sampling-rule';
import { TEST_REGION, buildStack, newApp, sharedTemplate, synthTemplate } from './helpers';

interface RuleProperties {
  SamplingRule: Record<string, unknown> & { RuleName: string };
}

function ruleOf(template: Template): RuleProperties['SamplingRule'] {
  const rules = Object.values(template.findResources('AWS::XRay::SamplingRule'));
  expect(rules).toHaveLength(1);
  return (rules[0].Properties as RuleProperties).SamplingRule;
}

describe('the sampling rule of the default deployment', () => {
  const template = sharedTemplate();
  const rule = ruleOf(template);

  test("records 1 request a second and 5% of the rest: X-Ray's own default, for this service only", () => {
    expect(rule).toMatchObject({ ReservoirSize: 1, FixedRate: 0.05, Version: 1 });
  });

  test('matches the service by its name and its ECS service type, on any host, method and path', () => {
    expect(rule).toMatchObject({
      ServiceName: 'otel-fargate-service',
      ServiceType: 'AWS::ECS::Container',
      Host: '*',
      HTTPMethod: '*',
      URLPath: '*',
      ResourceARN: '*',
    });
    expect(ECS_SERVICE_TYPE).toBe('AWS::ECS::Container');
    expect(rule.Attributes).toBeUndefined();
  });

  test("comes before X-Ray's default rule, and leaves room for narrower rules before it", () => {
    expect(rule.Priority).toBe(9000);
    expect(rule.Priority as number).toBeLessThan(DEFAULT_RULE_PRIORITY);
  });

  test('has a name of at most 32 characters that starts with the service name', () => {
    expect(rule.RuleName.length).toBeLessThanOrEqual(MAX_RULE_NAME_LENGTH);
    expect(rule.RuleName).toMatch(/^otel-fargate-service-[0-9a-f]{8}$/);
  });

  test('is named in the outputs, with a link to the sampling rules in the console of the stack’s region', () => {
    const outputs = template.toJSON().Outputs;
    expect(outputs.SamplingRuleName.Value).toBe(rule.RuleName);
    expect(outputs.SamplingRuleConsoleUrl.Value).toBe(
      `https://${TEST_REGION}.console.aws.amazon.com/cloudwatch/home?region=${TEST_REGION}#xray:settings/sampling-rules`,
    );
  });
});

describe('the rule’s name', () => {
  test('differs between two stacks of the same service, since rule names are unique per account and region', () => {
    const app = newApp();
    const names = ['StackA', 'StackB'].map((id) => {
      const stack = new Stack(app, id, { env: { region: TEST_REGION } });
      return new ServiceSamplingRule(stack, 'SamplingRule', { serviceName: 'otel-fargate-service' }).ruleName;
    });
    expect(names[0]).not.toBe(names[1]);
  });

  test('is cut to 32 characters for a long service name, and keeps only the characters X-Ray names take', () => {
    const name = ruleOf(sharedTemplate({ serviceName: 'a.very-long-service-name.for-the-checkout-team' })).RuleName;
    expect(name).toHaveLength(MAX_RULE_NAME_LENGTH);
    expect(name).toMatch(/^a-very-long-service-nam-[0-9a-f]{8}$/);
  });

  test('stays the same from one synth to the next (a new name would replace the rule)', () => {
    expect(ruleOf(synthTemplate()).RuleName).toBe(ruleOf(synthTemplate()).RuleName);
  });
});

describe('the rate and the reservoir', () => {
  test('come from the stack’s props', () => {
    expect(ruleOf(sharedTemplate({ samplingRate: 0.2, samplingReservoirPerSecond: 3 }))).toMatchObject({
      FixedRate: 0.2,
      ReservoirSize: 3,
    });
  });

  test('recordEveryRequest records every request: a fixed rate of 1', () => {
    expect(ruleOf(sharedTemplate({ recordEveryRequest: true })).FixedRate).toBe(1);
  });

  test.each<[Partial<ServiceSamplingRuleProps>, RegExp]>([
    [{ fixedRate: 1.5 }, /fixedRate must be a number from 0 to 1/],
    [{ fixedRate: -0.1 }, /fixedRate must be a number from 0 to 1/],
    [{ reservoirPerSecond: 0.5 }, /reservoirPerSecond must be a whole number/],
    [{ priority: DEFAULT_RULE_PRIORITY }, /priority must be a whole number from 1 to 9999/],
  ])('refuse %p', (props, message) => {
    const { stack } = buildStack();
    expect(() => new ServiceSamplingRule(stack, 'Other', { serviceName: 'svc', ...props })).toThrow(message);
  });
});
