// AWS Control Tower's proactive controls, checked at every synth: the CDK policy-validation plugin from
// @cdklabs/cdk-validator-cfnguard runs cfn-guard (a binary shipped inside the npm package) with the Control Tower
// rules it bundles over each synthesized template. A finding fails the synth unless it is waived at its resource,
// with a reason, through the same acknowledgement mechanism cdk-nag uses (`Validations.of(construct).acknowledge`).
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import {
  IPolicyValidationContext,
  IPolicyValidationPlugin,
  PolicyValidationPluginReport,
  Validations,
} from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** The plugin's name: aws-cdk-lib prefixes its rule IDs with it (`cdk-validator-cfnguard::<guard rule>`). */
export const CONTROL_TOWER_PLUGIN = 'cdk-validator-cfnguard';

/**
 * The controls this app waives somewhere, by Control Tower control ID, with the name of the cfn-guard rule that
 * checks each (the `rule … when` name in the package's rules/control-tower/cfn-guard/<service>/ct-*.guard file).
 */
export const CONTROL_RULES = {
  'CT.CLOUDWATCH.PR.2': 'cloudwatch_log_group_retention_period_check',
  'CT.CLOUDWATCH.PR.3': 'cloudwatch_log_group_encrypted_check',
  'CT.EC2.PR.11': 'subnet_auto_assign_public_ip_disabled_check',
  'CT.ECS.PR.2': 'ecs_container_insights_enabled_check',
  'CT.ECS.PR.3': 'ecs_task_definition_nonroot_user_check',
  'CT.ECS.PR.9': 'ecs_service_assign_public_ip_disabled_check',
  'CT.ELASTICLOADBALANCING.PR.1': 'alb_http_to_https_redirection_check',
  'CT.ELASTICLOADBALANCING.PR.5': 'elbv2_deletion_protection_enabled_check',
  'CT.LAMBDA.PR.3': 'lambda_inside_vpc_check',
  'CT.S3.PR.2': 's3_bucket_logging_enabled_check',
  'CT.S3.PR.4': 's3_event_notifications_enabled_check',
  'CT.S3.PR.9': 's3_bucket_object_lock_enabled_check',
  'CT.S3.PR.10': 's3_bucket_default_encryption_kms_check',
  'CT.S3.PR.11': 's3_bucket_versioning_enabled_check',
} as const;

export type ControlId = keyof typeof CONTROL_RULES;

/**
 * The cfn-guard plugin with every bundled Control Tower rule on (nothing is disabled globally), reporting each
 * finding as an error. The plugin leaves `severity` unset, and aws-cdk-lib (2.276), once it has waived any finding of
 * a plugin, recomputes that plugin's success as "no violation of severity error or fatal": without a severity, the
 * findings nobody waived would then pass the synth.
 */
export class ControlTowerChecks implements IPolicyValidationPlugin {
  readonly name: string;
  readonly version?: string;
  readonly ruleIds?: string[];
  private readonly guard = new CfnGuardValidator({ controlTowerRulesEnabled: true, disabledRules: [] });

  constructor() {
    this.name = this.guard.name;
    this.version = this.guard.version;
    this.ruleIds = this.guard.ruleIds;
  }

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const report = this.guard.validate(context);
    return { ...report, violations: report.violations.map((v) => ({ ...v, severity: v.severity ?? 'error' })) };
  }
}

export function controlTowerChecks(): ControlTowerChecks {
  return new ControlTowerChecks();
}

/**
 * Waives one control for `scope` and everything under it. The reason is recorded as `<control>: <reason>`, so the
 * synth's validation report and `cdk-validator-cfnguard::<rule>` metadata both say which control it is and why.
 */
export function waiveControl(scope: IConstruct, control: ControlId, reason: string): void {
  Validations.of(scope).acknowledge({
    id: `${CONTROL_TOWER_PLUGIN}::${CONTROL_RULES[control]}`,
    reason: `${control}: ${reason}`,
  });
}

/**
 * Waives, on a log group of the default profile, the two log-group controls it does not meet: a year of retention
 * (CT.CLOUDWATCH.PR.2) and a customer managed KMS key (CT.CLOUDWATCH.PR.3). Waives nothing that the group meets.
 */
export function waiveDefaultProfileLogGroup(logGroup: IConstruct, retentionDays: number, encrypted: boolean): void {
  if (retentionDays < 365) {
    waiveControl(
      logGroup,
      'CT.CLOUDWATCH.PR.2',
      `Events are kept ${retentionDays} days, the default profile's choice to keep a trial deployment's stored logs ` +
        'small (the service log group follows the context key logRetentionDays); profile=governed keeps every group a year.',
    );
  }
  if (!encrypted) {
    waiveControl(
      logGroup,
      'CT.CLOUDWATCH.PR.3',
      "Events are encrypted at rest with CloudWatch Logs' own key. A customer managed key costs $1 a month plus " +
        'requests and must outlive the retained service log group; profile=governed adds one for every group.',
    );
  }
}
