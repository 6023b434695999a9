// A monthly AWS Budgets cost budget over the resources that carry the stack's cost-allocation tag, emailing when the
// month's actual cost passes 80% of it and when the forecast passes 100%. Budgets sees a tag only after it has been
// activated as a cost-allocation tag in the Billing console, and only for costs from then on; in a member account of
// an organization (any AWS Control Tower account) only the management account can activate it. `npm run preflight`
// reports the tag's state (tools/preflight/account.ts).
import { Stack, Tags, Token } from 'aws-cdk-lib';
import * as budgets from 'aws-cdk-lib/aws-budgets';
import { Construct, type IConstruct } from 'constructs';
import { RULES } from './settings';

/** The tag key the stack puts on every resource that takes tags; its value is the stack's name. */
export const COST_TAG_KEY = 'otel-fargate-stack';

/** Thresholds in percent of the monthly amount: ACTUAL spend so far, and FORECASTED spend at the month's end. */
export const BUDGET_THRESHOLDS = { actualPercent: 80, forecastedPercent: 100 } as const;

export interface CostBudgetProps {
  /** The month's amount, in whole US dollars. */
  readonly monthlyLimitUsd: number;

  /** Who is emailed when a threshold is crossed (no confirmation needed, unlike SNS). */
  readonly email: string;

  /** The cost-allocation tag's value the budget filters on. @default - the stack's name */
  readonly tagValue?: string;
}

/** Puts the cost-allocation tag on every taggable resource under `scope`, so a budget (or Cost Explorer) can find it. */
export function tagForCostAllocation(scope: IConstruct, value: string): void {
  Tags.of(scope).add(COST_TAG_KEY, value);
}

export class CostBudget extends Construct {
  /** The budget's name: unique in the account, which Budgets is global to, hence the region in it. */
  readonly budgetName: string;

  constructor(scope: Construct, id: string, props: CostBudgetProps) {
    super(scope, id);
    const stack = Stack.of(this);
    validate(props);
    const tagValue = props.tagValue ?? stack.stackName;
    this.budgetName = `${stack.stackName}-${stack.region}-monthly`;
    const subscribers = [{ subscriptionType: 'EMAIL', address: props.email }];

    new budgets.CfnBudget(this, 'Budget', {
      budget: {
        budgetName: this.budgetName,
        budgetType: 'COST',
        timeUnit: 'MONTHLY',
        budgetLimit: { amount: props.monthlyLimitUsd, unit: 'USD' },
        // Budgets' tag filter form: `user:<key>$<value>` for a user-defined tag.
        costFilters: { TagKeyValue: [`user:${COST_TAG_KEY}$${tagValue}`] },
      },
      notificationsWithSubscribers: [
        {
          notification: {
            notificationType: 'ACTUAL',
            comparisonOperator: 'GREATER_THAN',
            threshold: BUDGET_THRESHOLDS.actualPercent,
            thresholdType: 'PERCENTAGE',
          },
          subscribers,
        },
        {
          notification: {
            notificationType: 'FORECASTED',
            comparisonOperator: 'GREATER_THAN',
            threshold: BUDGET_THRESHOLDS.forecastedPercent,
            thresholdType: 'PERCENTAGE',
          },
          subscribers,
        },
      ],
    });
  }
}

function validate(props: CostBudgetProps): void {
  const amount = props.monthlyLimitUsd;
  if (!Token.isUnresolved(amount) && (!Number.isSafeInteger(amount) || amount < 1 || amount > 1_000_000)) {
    throw new Error(`monthlyLimitUsd must be a whole number of US dollars from 1 to 1000000, got ${amount}`);
  }
  if (!Token.isUnresolved(props.email) && !RULES.alarmEmail.pattern.test(props.email)) {
    throw new Error(`email must be ${RULES.alarmEmail.accepts}, got '${props.email}'`);
  }
}
