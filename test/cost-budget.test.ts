// The cost-allocation tag on every resource, and the optional AWS Budgets budget that filters on it.
// Property names: AWS::Budgets::Budget as typed in aws-cdk-lib (pinned 2.276.0) aws-budgets/lib/budgets.generated.d.ts.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { BUDGET_THRESHOLDS, COST_TAG_KEY, CostBudget } from '../lib/cost-budget';
import { TEST_REGION, buildStack, newApp, sharedTemplate } from './helpers';

describe('the cost-allocation tag', () => {
  const template = sharedTemplate();

  test.each([
    'AWS::ElasticLoadBalancingV2::LoadBalancer',
    'AWS::ECS::Service',
    'AWS::ECS::Cluster',
    'AWS::EC2::NatGateway',
    'AWS::Logs::LogGroup',
    'AWS::S3::Bucket',
  ])('is on the %s resources, valued with the stack’s name', (type) => {
    const resources = Object.values(template.findResources(type));
    expect(resources.length).toBeGreaterThan(0);
    for (const resource of resources) {
      expect(resource.Properties.Tags).toEqual(expect.arrayContaining([{ Key: COST_TAG_KEY, Value: 'TestStack' }]));
    }
  });

  test('reaches the tasks (the largest cost) through the service, with ECS’s managed tags', () => {
    template.hasResourceProperties('AWS::ECS::Service', { PropagateTags: 'SERVICE', EnableECSManagedTags: true });
  });
});

describe('by default', () => {
  test('there is no budget', () => {
    const template = sharedTemplate();
    template.resourceCountIs('AWS::Budgets::Budget', 0);
    expect(template.findOutputs('BudgetName')).toEqual({});
  });
});

describe('with monthlyBudgetUsd', () => {
  const template = sharedTemplate({ monthlyBudgetUsd: 150, budgetEmail: 'finance@example.com' });

  test('a monthly cost budget of that many US dollars covers the resources with the stack’s tag', () => {
    template.resourceCountIs('AWS::Budgets::Budget', 1);
    template.hasResourceProperties('AWS::Budgets::Budget', {
      Budget: {
        BudgetName: `TestStack-${TEST_REGION}-monthly`,
        BudgetType: 'COST',
        TimeUnit: 'MONTHLY',
        BudgetLimit: { Amount: 150, Unit: 'USD' },
        CostFilters: { TagKeyValue: [`user:${COST_TAG_KEY}$TestStack`] },
      },
    });
  });

  test('emails at 80% of the amount spent and at a forecast over 100%', () => {
    const subscribers = [{ SubscriptionType: 'EMAIL', Address: 'finance@example.com' }];
    template.hasResourceProperties('AWS::Budgets::Budget', {
      NotificationsWithSubscribers: [
        {
          Notification: {
            NotificationType: 'ACTUAL',
            ComparisonOperator: 'GREATER_THAN',
            Threshold: BUDGET_THRESHOLDS.actualPercent,
            ThresholdType: 'PERCENTAGE',
          },
          Subscribers: subscribers,
        },
        {
          Notification: {
            NotificationType: 'FORECASTED',
            ComparisonOperator: 'GREATER_THAN',
            Threshold: BUDGET_THRESHOLDS.forecastedPercent,
            ThresholdType: 'PERCENTAGE',
          },
          Subscribers: subscribers,
        },
      ],
    });
    expect(BUDGET_THRESHOLDS).toEqual({ actualPercent: 80, forecastedPercent: 100 });
  });

  test('outputs the budget’s name', () => {
    expect(template.findOutputs('BudgetName').BudgetName.Value).toBe(`TestStack-${TEST_REGION}-monthly`);
  });

  test('emails alarmEmail when no budgetEmail is given', () => {
    sharedTemplate({ monthlyBudgetUsd: 40, alarmEmail: 'ops@example.com' }).hasResourceProperties(
      'AWS::Budgets::Budget',
      {
        NotificationsWithSubscribers: Match.arrayWith([
          Match.objectLike({ Subscribers: [{ SubscriptionType: 'EMAIL', Address: 'ops@example.com' }] }),
        ]),
      },
    );
  });
});

describe('bad props fail with what to do', () => {
  test('a budget with nobody to email', () => {
    expect(() => buildStack({ monthlyBudgetUsd: 100 })).toThrow(/monthlyBudgetUsd needs budgetEmail \(or alarmEmail\)/);
  });

  test('an email without a budget', () => {
    expect(() => buildStack({ budgetEmail: 'a@example.com' })).toThrow(
      /budgetEmail applies only with monthlyBudgetUsd/,
    );
  });

  test.each([0, 1.5, 1_000_001])('an amount of %p', (monthlyLimitUsd) => {
    const stack = new Stack(newApp(), 'S', { env: { region: TEST_REGION } });
    expect(() => new CostBudget(stack, 'B', { monthlyLimitUsd, email: 'a@example.com' })).toThrow(
      /monthlyLimitUsd must be a whole number of US dollars from 1 to 1000000/,
    );
  });

  test('an address that is not one', () => {
    const stack = new Stack(newApp(), 'S', { env: { region: TEST_REGION } });
    expect(() => new CostBudget(stack, 'B', { monthlyLimitUsd: 10, email: 'nobody' })).toThrow(
      /email must be one email address/,
    );
  });
});

test('the budget resource itself validates against CloudFormation’s schema at synth', () => {
  // CDK's synth-time CloudFormation validation (cdk.json) checks the template; a bad property would throw here.
  const stack = new Stack(newApp({}, { builtinValidation: true }), 'S', { env: { region: TEST_REGION } });
  new CostBudget(stack, 'B', { monthlyLimitUsd: 10, email: 'a@example.com' });
  expect(() => Template.fromStack(stack)).not.toThrow();
});
