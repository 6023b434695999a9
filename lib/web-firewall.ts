// An AWS WAF web ACL on the load balancer, against floods that would turn into a bill (every request the service
// answers writes log lines and may record a trace) and against common exploits: a per-address rate limit, then
// AWS's known-bad-inputs and common rule sets. Metrics for every rule; the requests WAF blocks or counts are logged
// to a CloudWatch Logs group of its own (the allowed ones are already in the load balancer's access logs).
import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { waiveDefaultProfileLogGroup } from './control-tower';
import { DEFAULTS } from './settings';

/** WAF's own bounds for a rate-based rule's limit (AWS::WAFv2::WebACL RateBasedStatement.Limit). */
export const WAF_RATE_LIMIT_RANGE = { min: 10, max: 2_000_000_000 } as const;

/** The window WAF counts each address's requests over (WAF's default; 60, 120, 300 or 600 are allowed). */
export const RATE_LIMIT_WINDOW = Duration.minutes(5);

/**
 * The AWS managed rule groups, in the order WAF evaluates them. Known bad inputs first: it is cheaper (200 WCU) and
 * blocks exploit payloads (Log4j, Java deserialization, `localhost` Host headers) outright. The common rule set
 * (700 WCU) keeps its SizeRestrictions_BODY rule, which blocks bodies over 8 KB: WAF sees only the first 8 KB of a
 * body on a load balancer (a fixed limit), so a larger body could hide a payload past that point. The service's
 * orders are a few dozen bytes; its own 16 KB limit matters only when WAF is off.
 */
export const MANAGED_RULE_GROUPS = ['AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesCommonRuleSet'] as const;

export interface WebFirewallProps {
  /** The load balancer the web ACL protects. */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;

  /**
   * Requests one client address may send within RATE_LIMIT_WINDOW (5 minutes); beyond it WAF answers 429 until the
   * address's rate falls below the limit again. @default 1000
   */
  readonly rateLimit?: number;

  /** How long the log lines of blocked and counted requests are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;

  /** The KMS key that encrypts the log group (profile=governed). @default - CloudWatch Logs' own encryption */
  readonly logEncryptionKey?: kms.IKey;

  /** The start of the web ACL's, metrics' and log group's names, unique in the region. @default - the stack's name */
  readonly namePrefix?: string;
}

export class WebFirewall extends Construct {
  /**
   * About 3 requests a second from one address, sustained for 5 minutes: far above a person with a browser or
   * `npm run verify` (a few dozen requests), and far below what one task serves, so no single address drives the
   * autoscaling (1000 requests per target per minute) or the per-request log and trace bill.
   */
  static readonly DEFAULT_RATE_LIMIT: number = DEFAULTS.webFirewallRateLimit;

  readonly webAcl: wafv2.CfnWebACL;
  readonly logGroup: logs.LogGroup;
  readonly rateLimit: number;

  constructor(scope: Construct, id: string, props: WebFirewallProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const prefix = props.namePrefix ?? stack.stackName;
    this.rateLimit = props.rateLimit ?? WebFirewall.DEFAULT_RATE_LIMIT;
    validate(prefix, this.rateLimit);

    const visibility = (metricName: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: prefix,
      description: `Rate limit and AWS managed rules for the load balancer of ${prefix}`,
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(prefix),
      rules: [
        {
          name: 'RateLimitPerClientAddress',
          priority: 0,
          // The load balancer faces the internet, so the connection's source address is the client's. Behind
          // CloudFront it would be an edge's: aggregate on FORWARDED_IP (X-Forwarded-For) there instead.
          statement: {
            rateBasedStatement: {
              limit: this.rateLimit,
              aggregateKeyType: 'IP',
              evaluationWindowSec: RATE_LIMIT_WINDOW.toSeconds(),
            },
          },
          action: { block: { customResponse: { responseCode: 429 } } },
          visibilityConfig: visibility(`${prefix}-rate-limit`),
        },
        ...MANAGED_RULE_GROUPS.map((name, index) => ({
          name,
          priority: index + 1,
          statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
          // The groups' own actions (block), none overridden.
          overrideAction: { none: {} },
          visibilityConfig: visibility(`${prefix}-${name}`),
        })),
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'LoadBalancerAssociation', {
      resourceArn: props.loadBalancer.loadBalancerArn,
      webAclArn: this.webAcl.attrArn,
    });

    // WAF writes only to groups whose names start with `aws-waf-logs-`, and takes the group's ARN without the `:*`
    // that CDK's logGroupArn ends with.
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `aws-waf-logs-${prefix}`,
      retention: logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    waiveDefaultProfileLogGroup(this.logGroup, logRetention, props.logEncryptionKey !== undefined);
    const logGroupArn = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: this.logGroup.logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const logging = new wafv2.CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAcl.attrArn,
      logDestinationConfigs: [logGroupArn],
      // Only what WAF stopped or counted: under a flood that is still one line per blocked request, but allowed
      // traffic (the load balancer's access logs have it) costs nothing here.
      loggingFilter: {
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
    logging.node.addDependency(this.logGroup);
  }
}

function validate(prefix: string, rateLimit: number): void {
  if (!Token.isUnresolved(prefix) && !/^[A-Za-z0-9_-]{1,100}$/.test(prefix)) {
    throw new Error(`namePrefix must be 1 to 100 letters, digits, '-' or '_', got '${prefix}'`);
  }
  if (
    !Token.isUnresolved(rateLimit) &&
    (!Number.isSafeInteger(rateLimit) || rateLimit < WAF_RATE_LIMIT_RANGE.min || rateLimit > WAF_RATE_LIMIT_RANGE.max)
  ) {
    throw new Error(
      `rateLimit must be a whole number of requests from ${WAF_RATE_LIMIT_RANGE.min} to ` +
        `${WAF_RATE_LIMIT_RANGE.max} (WAF's bounds), got ${rateLimit}`,
    );
  }
}
