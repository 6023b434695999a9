// The settings profiles. `default` is the quick start; `governed` is for accounts under AWS Control Tower, whose
// proactive controls refuse non-compliant resources at deploy time: it turns on what those controls require (a KMS
// key for the log groups, a year of retention, a versioned, logged and locked access-log bucket, HTTPS only,
// deletion protection, the CDK's own Lambda inside the VPC) and refuses the settings that would break one.
import * as logs from 'aws-cdk-lib/aws-logs';

export type Profile = 'default' | 'governed';

export const PROFILES: readonly Profile[] = ['default', 'governed'];

/** CT.CLOUDWATCH.PR.2: a log group keeps its events at least a year, or forever. */
export const GOVERNED_MIN_RETENTION_DAYS = 365;

/** The deployer's choices the governed profile constrains, under their context key names. */
export interface GovernedChoices {
  readonly certificateArn?: string;
  readonly natGateways?: number;
  readonly logRetentionDays?: number;
  readonly containerInsights?: string;
  readonly deletionProtection?: boolean;
}

/** Each choice that the governed profile cannot deploy, with the context key and the control that refuses it. */
export function governedProblems(choices: GovernedChoices): { key: keyof GovernedChoices; problem: string }[] {
  const problems: { key: keyof GovernedChoices; problem: string }[] = [];
  if (choices.certificateArn === undefined) {
    problems.push({
      key: 'certificateArn',
      problem:
        'is required with profile=governed: CT.ELASTICLOADBALANCING.PR.1 accepts an HTTP listener only when it ' +
        'redirects to HTTPS, which needs an ACM certificate for the load balancer',
    });
  }
  if (choices.natGateways === 0) {
    problems.push({
      key: 'natGateways',
      problem:
        'is 0, which runs the tasks in public subnets with public IPs; profile=governed needs at least 1 ' +
        '(CT.ECS.PR.9: no public IPs on ECS services)',
    });
  }
  const days = choices.logRetentionDays;
  if (days !== undefined && days !== Number(logs.RetentionDays.INFINITE) && days < GOVERNED_MIN_RETENTION_DAYS) {
    problems.push({
      key: 'logRetentionDays',
      problem: `is ${days}; profile=governed needs at least ${GOVERNED_MIN_RETENTION_DAYS} (CT.CLOUDWATCH.PR.2)`,
    });
  }
  if (choices.containerInsights !== undefined && choices.containerInsights !== 'enabled') {
    problems.push({
      key: 'containerInsights',
      problem:
        `is '${choices.containerInsights}'; profile=governed needs 'enabled': CT.ECS.PR.2 accepts the cluster ` +
        "setting containerInsights only with the value 'enabled'",
    });
  }
  if (choices.deletionProtection === false) {
    problems.push({
      key: 'deletionProtection',
      problem: 'is false; profile=governed needs true (CT.ELASTICLOADBALANCING.PR.5)',
    });
  }
  return problems;
}
