// The optional AWS WAF web ACL (context switch `waf`): rate limit, AWS managed rules, metrics, logging.
// Property names: AWS::WAFv2::WebACL and AWS::WAFv2::LoggingConfiguration as typed in aws-cdk-lib (pinned 2.276.0)
// aws-wafv2/lib/wafv2.generated.d.ts; the logging check is cdk-nag 3.0.2's rules/waf/WAFv2LoggingEnabled.js.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { NagRuleCompliance, rules } from 'cdk-nag';
import { MANAGED_RULE_GROUPS, WebFirewall } from '../lib/web-firewall';
import { TEST_REGION, buildStack, newApp, sharedTemplate } from './helpers';

type Rule = {
  Name: string;
  Priority: number;
  Statement: Record<string, unknown>;
  Action?: unknown;
  OverrideAction?: unknown;
  VisibilityConfig: { CloudWatchMetricsEnabled: boolean; SampledRequestsEnabled: boolean; MetricName: string };
};

function webAclOf(template: Template): { logicalId: string; properties: Record<string, unknown> } {
  const acls = template.findResources('AWS::WAFv2::WebACL');
  const [logicalId] = Object.keys(acls);
  return { logicalId, properties: acls[logicalId].Properties as Record<string, unknown> };
}

describe('by default', () => {
  test('the stack has no web ACL (it costs $5 a month and more)', () => {
    const template = sharedTemplate();
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    template.resourceCountIs('AWS::WAFv2::LoggingConfiguration', 0);
    expect(template.findOutputs('WebAclArn')).toEqual({});
  });
});

describe('with webFirewall on', () => {
  const template = sharedTemplate({ webFirewall: true });
  const { logicalId, properties } = webAclOf(template);
  const aclRules = properties.Rules as Rule[];

  test('one regional web ACL allows what no rule blocks, with metrics and sampled requests', () => {
    template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    expect(properties).toMatchObject({
      Name: 'TestStack',
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: 'TestStack' },
    });
  });

  test('is attached to the service’s load balancer', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: { Ref: Match.stringLikeRegexp('WebLoadBalancer') },
      WebACLArn: { 'Fn::GetAtt': [logicalId, 'Arn'] },
    });
  });

  test('evaluates the rate limit first, then known bad inputs, then the common rule set', () => {
    expect(aclRules.map((rule) => [rule.Priority, rule.Name])).toEqual([
      [0, 'RateLimitPerClientAddress'],
      [1, 'AWSManagedRulesKnownBadInputsRuleSet'],
      [2, 'AWSManagedRulesCommonRuleSet'],
    ]);
  });

  test('answers 429 to an address over 1000 requests in 5 minutes, counted by the connection’s source address', () => {
    expect(aclRules[0]).toMatchObject({
      Statement: { RateBasedStatement: { Limit: 1000, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
      Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
    });
  });

  test('uses the AWS managed groups with their own actions, SizeRestrictions_BODY included (WAF sees 8 KB)', () => {
    for (const [index, name] of MANAGED_RULE_GROUPS.entries()) {
      const rule = aclRules[index + 1];
      expect(rule.Statement).toEqual({ ManagedRuleGroupStatement: { VendorName: 'AWS', Name: name } });
      expect(rule.OverrideAction).toEqual({ None: {} });
      expect(rule.Action).toBeUndefined();
    }
    expect(JSON.stringify(aclRules)).not.toMatch(/RuleActionOverrides|ExcludedRules|SizeRestrictions/);
  });

  test('publishes a metric and sampled requests for every rule, each under its own name', () => {
    expect(aclRules.map((rule) => rule.VisibilityConfig)).toEqual([
      { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: 'TestStack-rate-limit' },
      {
        CloudWatchMetricsEnabled: true,
        SampledRequestsEnabled: true,
        MetricName: 'TestStack-AWSManagedRulesKnownBadInputsRuleSet',
      },
      {
        CloudWatchMetricsEnabled: true,
        SampledRequestsEnabled: true,
        MetricName: 'TestStack-AWSManagedRulesCommonRuleSet',
      },
    ]);
  });

  test('logs only blocked and counted requests, to an aws-waf-logs- group by its ARN without `:*`', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: 'aws-waf-logs-TestStack',
      RetentionInDays: 30,
    });
    template.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
      ResourceArn: { 'Fn::GetAtt': [logicalId, 'Arn'] },
      LogDestinationConfigs: [
        {
          'Fn::Join': [
            '',
            [
              `arn:aws:logs:${TEST_REGION}:`,
              { Ref: 'AWS::AccountId' },
              ':log-group:',
              { Ref: Match.stringLikeRegexp('WebFirewallLogs') },
            ],
          ],
        },
      ],
      LoggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [
          {
            Behavior: 'KEEP',
            Requirement: 'MEETS_ANY',
            Conditions: [{ ActionCondition: { Action: 'BLOCK' } }, { ActionCondition: { Action: 'COUNT' } }],
          },
        ],
      },
    });
  });

  test('outputs the web ACL’s ARN', () => {
    expect(template.findOutputs('WebAclArn').WebAclArn.Value).toEqual({ 'Fn::GetAtt': [logicalId, 'Arn'] });
  });

  test('takes another rate limit', () => {
    const limited = sharedTemplate({ webFirewall: true, webFirewallRateLimit: 300 });
    const [rateRule] = webAclOf(limited).properties.Rules as Rule[];
    expect(rateRule.Statement).toMatchObject({ RateBasedStatement: { Limit: 300 } });
  });
});

describe('cdk-nag’s WAFv2 logging rule (in its HIPAA, NIST and PCI packs, not AwsSolutions)', () => {
  test('finds the web ACL’s logging', () => {
    const { stack } = buildStack({ webFirewall: true });
    const acl = stack.node.findAll().find((c): c is wafv2.CfnWebACL => c instanceof wafv2.CfnWebACL);
    expect(acl).toBeDefined();
    expect(rules.waf.WAFv2LoggingEnabled(acl!)).toBe(NagRuleCompliance.COMPLIANT);
  });

  test('flags a web ACL without logging, so the check above can fail', () => {
    const stack = new Stack(newApp(), 'Bare', { env: { region: TEST_REGION } });
    const acl = new wafv2.CfnWebACL(stack, 'Acl', {
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: 'bare' },
    });
    expect(rules.waf.WAFv2LoggingEnabled(acl)).toBe(NagRuleCompliance.NON_COMPLIANT);
  });
});

describe('bad props fail with what to do', () => {
  function firewall(rateLimit: number) {
    const stack = new Stack(newApp(), 'S', { env: { region: TEST_REGION } });
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
    const loadBalancer = new elbv2.ApplicationLoadBalancer(stack, 'Lb', { vpc });
    return () => new WebFirewall(stack, 'Waf', { loadBalancer, rateLimit });
  }

  test.each([9, 2_000_000_001, 10.5])('a rate limit of %p', (rateLimit) => {
    expect(firewall(rateLimit)).toThrow(/rateLimit must be a whole number of requests from 10 to 2000000000/);
  });

  test('a rate limit at WAF’s bounds is taken', () => {
    expect(firewall(10)).not.toThrow();
  });

  test('a rate limit without the firewall', () => {
    expect(() => buildStack({ webFirewallRateLimit: 500 })).toThrow(
      /webFirewallRateLimit applies only with webFirewall/,
    );
  });
});
