// The service's X-Ray sampling rule: how many of its requests are recorded. The task's sampler fetches the rules
// through the collector's awsproxy extension (every 60 s), so an operator can change the rate in the console without
// a deploy; the next `cdk deploy` sets the rule back to what the stack says.
import { Token } from 'aws-cdk-lib';
import * as xray from 'aws-cdk-lib/aws-xray';
import { Construct } from 'constructs';
import { DEFAULTS } from './settings';
import { nameUniqueToStack, stackUniqueSeed } from './unique-name';

/** X-Ray's own default rule has priority 10000, the lowest; custom rules take 1 to 9999, lower first. */
export const DEFAULT_RULE_PRIORITY = 10_000;

/** X-Ray's limit on a rule's name. */
export const MAX_RULE_NAME_LENGTH = 32;

/** The ServiceType the X-Ray sampler gives a task whose resource says `cloud.platform` = `aws_ecs`. */
export const ECS_SERVICE_TYPE = 'AWS::ECS::Container';

export interface ServiceSamplingRuleProps {
  /** The service the rule matches: its `service.name` (OTEL_SERVICE_NAME), the name of its segments. */
  readonly serviceName: string;

  /** Share of the requests beyond the reservoir that are recorded, from 0 to 1. @default 0.05 */
  readonly fixedRate?: number;

  /** Requests recorded each second before the fixed rate applies (a whole number). @default 1 */
  readonly reservoirPerSecond?: number;

  /**
   * Where the rule stands among the account's rules, 1 (first) to 9999. Below X-Ray's default rule (10000), so it
   * wins for this service; high enough that a narrower rule an operator adds (and `npm run verify`'s, at 1) wins
   * over it. @default 9000
   */
  readonly priority?: number;
}

/**
 * An `AWS::XRay::SamplingRule` for one service on ECS: every request of the service (any host, method and path) is
 * sampled at `reservoirPerSecond` plus `fixedRate` of the rest.
 */
export class ServiceSamplingRule extends Construct {
  /** The rule's name: at most 32 characters, unique per stack and construct path. */
  readonly ruleName: string;
  readonly ruleArn: string;
  readonly fixedRate: number;
  readonly reservoirPerSecond: number;
  readonly priority: number;

  constructor(scope: Construct, id: string, props: ServiceSamplingRuleProps) {
    super(scope, id);
    this.fixedRate = props.fixedRate ?? DEFAULTS.samplingRate;
    this.reservoirPerSecond = props.reservoirPerSecond ?? DEFAULTS.samplingReservoirPerSecond;
    this.priority = props.priority ?? 9000;
    validate(this.fixedRate, this.reservoirPerSecond, this.priority);

    this.ruleName = samplingRuleName(props.serviceName, stackUniqueSeed(this));
    const rule = new xray.CfnSamplingRule(this, 'Resource', {
      samplingRule: {
        ruleName: this.ruleName,
        priority: this.priority,
        fixedRate: this.fixedRate,
        reservoirSize: this.reservoirPerSecond,
        serviceName: props.serviceName,
        serviceType: ECS_SERVICE_TYPE,
        host: '*',
        httpMethod: '*',
        urlPath: '*',
        resourceArn: '*',
        version: 1,
      },
    });
    this.ruleArn = rule.attrRuleArn;
  }
}

/**
 * `<service name, cut>-<8 hex of a hash of the stack and construct path>`: readable in the console, at most 32
 * characters, and different for every stack (rule names are unique per account and region).
 */
export function samplingRuleName(serviceName: string, uniqueSeed: string): string {
  return nameUniqueToStack(serviceName, uniqueSeed, MAX_RULE_NAME_LENGTH);
}

function validate(fixedRate: number, reservoirPerSecond: number, priority: number): void {
  if (!Token.isUnresolved(fixedRate) && !(Number.isFinite(fixedRate) && fixedRate >= 0 && fixedRate <= 1)) {
    throw new Error(`fixedRate must be a number from 0 to 1 (0.05 records 5% of requests), got ${fixedRate}`);
  }
  if (
    !Token.isUnresolved(reservoirPerSecond) &&
    !(Number.isSafeInteger(reservoirPerSecond) && reservoirPerSecond >= 0)
  ) {
    throw new Error(
      `reservoirPerSecond must be a whole number of requests per second, 0 or more, got ${reservoirPerSecond}`,
    );
  }
  if (
    !Token.isUnresolved(priority) &&
    !(Number.isInteger(priority) && priority >= 1 && priority < DEFAULT_RULE_PRIORITY)
  ) {
    throw new Error(`priority must be a whole number from 1 to 9999 (X-Ray's default rule is 10000), got ${priority}`);
  }
}
