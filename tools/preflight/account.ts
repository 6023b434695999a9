// The checks that need the target account: the CDK bootstrap stack, the log group the stack would create, where
// X-Ray puts trace segments, and whether the stack's cost-allocation tag is active (without it a budget sees nothing).
// Credentials come from the AWS SDK's default chain; with none, the checks are skipped with a note, never failed.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, DescribeLogGroupsCommand, type LogGroup } from '@aws-sdk/client-cloudwatch-logs';
import {
  CostExplorerClient,
  ListCostAllocationTagsCommand,
  type CostAllocationTag,
} from '@aws-sdk/client-cost-explorer';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GetTraceSegmentDestinationCommand, XRayClient } from '@aws-sdk/client-xray';
import { fail, pass, skip, type CheckResult } from './report';

export interface AccountClients {
  readonly sts: STSClient;
  readonly cfn: CloudFormationClient;
  readonly logs: CloudWatchLogsClient;
  readonly xray: XRayClient;
  /** Cost Explorer: one endpoint per partition (us-east-1 for aws), which the SDK picks from any region. */
  readonly ce: CostExplorerClient;
}

export interface AccountExpectations {
  readonly region: string;
  /** The bootstrap stack `cdk deploy` uses, and the least version the template asks for. */
  readonly bootstrap: { readonly stackName: string; readonly minVersion: number };
  /** The service log group, and whether the stack creates it (else it adopts an existing one). */
  readonly logGroup?: { readonly name: string; readonly created: boolean };
  /** The switch that adopts an existing group, for the message. */
  readonly adoptSwitch: string;
  /** The cost-allocation tag on the stack's resources, and the budget that filters on it, if any. */
  readonly costAllocation?: { readonly tagKey: string; readonly budgetName?: string };
}

/** Where the stack's collector sends segments and where `npm run verify` reads them. */
export const EXPECTED_SEGMENT_DESTINATION = 'XRay';

const CALL_TIMEOUT_MS = 15_000;

export async function checkAccount(expect: AccountExpectations, clients: AccountClients): Promise<CheckResult[]> {
  let account: string;
  try {
    const identity = await clients.sts.send(new GetCallerIdentityCommand({}), opts());
    account = identity.Account ?? 'unknown';
  } catch (err) {
    if (errorName(err) === 'CredentialsProviderError') {
      return [
        skip(
          'AWS account checks',
          'no AWS credentials found (environment, AWS_PROFILE, SSO, …): bootstrap, log group, X-Ray and the ' +
            'cost-allocation tag were not checked',
          'run again with the credentials you will deploy with, before `npx cdk deploy`',
        ),
      ];
    }
    return [fail('AWS credentials', errorText(err), 'refresh them (`aws sso login`, or new keys) and run again')];
  }
  const where = `account ${account}, ${expect.region}`;
  return [
    pass('AWS credentials', `${where}`),
    await bootstrap(expect, clients.cfn, account),
    ...(expect.logGroup ? [await logGroup(expect.logGroup, expect, clients.logs)] : []),
    await segmentDestination(expect, clients.xray),
    ...(expect.costAllocation ? [await costAllocationTag(expect.costAllocation, clients.ce)] : []),
  ];
}

async function bootstrap(
  expect: AccountExpectations,
  cfn: CloudFormationClient,
  account: string,
): Promise<CheckResult> {
  const check = 'CDK bootstrap';
  const { stackName, minVersion } = expect.bootstrap;
  const fix = `npx cdk bootstrap aws://${account}/${expect.region}`;
  try {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }), opts());
    const stack = Stacks?.[0];
    const status = stack?.StackStatus ?? 'unknown';
    if (status.endsWith('_IN_PROGRESS')) {
      return fail(check, `${stackName} is ${status}`, 'wait until it finishes, then run again');
    }
    if (!['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_ROLLBACK_COMPLETE'].includes(status)) {
      return fail(check, `${stackName} is ${status}`, `look at its events in the console, then ${fix}`);
    }
    const version = Number(stack?.Outputs?.find((o) => o.OutputKey === 'BootstrapVersion')?.OutputValue);
    if (!Number.isFinite(version) || version < minVersion) {
      return fail(check, `${stackName} is version ${version}, the stack needs ${minVersion} or later`, fix);
    }
    return pass(check, `${stackName} version ${version} (needs ${minVersion} or later), ${status}`);
  } catch (err) {
    if (errorName(err) === 'ValidationError' && /does not exist/.test(errorText(err))) {
      return fail(
        check,
        `no ${stackName} stack in ${expect.region}: this account and region are not bootstrapped`,
        fix,
      );
    }
    return failedCall(check, err, 'cloudformation:DescribeStacks');
  }
}

async function logGroup(
  { name, created }: { name: string; created: boolean },
  expect: AccountExpectations,
  logs: CloudWatchLogsClient,
): Promise<CheckResult> {
  const check = `log group ${name}`;
  let found: LogGroup | undefined;
  try {
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name, nextToken }), opts());
      found = page.logGroups?.find((g) => g.logGroupName === name);
      nextToken = page.nextToken;
    } while (!found && nextToken);
  } catch (err) {
    return failedCall(check, err, 'logs:DescribeLogGroups');
  }
  const retention = found?.retentionInDays ? `kept ${found.retentionInDays} days` : 'kept forever';
  if (created && found) {
    return fail(
      check,
      `already exists (${retention}; a \`cdk destroy\` keeps it), so creating it would fail the deploy`,
      `deploy with -c ${expect.adoptSwitch}=true to use it as it is, or delete it ` +
        `(aws logs delete-log-group --log-group-name ${name} --region ${expect.region})`,
    );
  }
  if (created) return pass(check, 'does not exist yet; the stack creates it');
  if (found) return pass(check, `exists (${retention}); the stack adopts it (${expect.adoptSwitch}=true)`);
  return fail(
    check,
    `does not exist, but the stack adopts it (${expect.adoptSwitch}=true) instead of creating it`,
    `deploy without -c ${expect.adoptSwitch}=true so that the stack creates it`,
  );
}

async function segmentDestination(expect: AccountExpectations, xray: XRayClient): Promise<CheckResult> {
  const check = 'X-Ray trace segment destination';
  try {
    const { Destination, Status } = await xray.send(new GetTraceSegmentDestinationCommand({}), opts());
    const destination = Destination ?? EXPECTED_SEGMENT_DESTINATION;
    const status = Status ? ` (${Status})` : '';
    if (destination === EXPECTED_SEGMENT_DESTINATION) {
      return pass(check, `${destination}${status}, as the stack expects: traces are found through X-Ray's API`);
    }
    // X-Ray API reference, BatchGetTraces: "You cannot find traces through this API if Transaction Search is enabled
    // since trace is not indexed in X-Ray". CloudWatch user guide, Enable Transaction Search: X-Ray indexes a share of
    // the spans as trace summaries, 1% by default. tools/verify/xray.ts reads them with StartTraceRetrieval instead.
    return fail(
      check,
      `${destination}${status}: CloudWatch Transaction Search is on, so segments go to the aws/spans log group: ` +
        "X-Ray's BatchGetTraces finds none of them, and X-Ray indexes only a share of them as trace summaries " +
        '(1% by default), all that its filter expressions search (the X-Ray groups, the search for the trace of an ' +
        "access log line); npm run verify reads them all, through Transaction Search's retrieval API " +
        '(StartTraceRetrieval)',
      `view traces under CloudWatch > Transaction Search, or send segments to X-Ray again ` +
        `(aws xray update-trace-segment-destination --destination XRay --region ${expect.region})`,
    );
  } catch (err) {
    return failedCall(check, err, 'xray:GetTraceSegmentDestination');
  }
}

/**
 * Budgets and Cost Explorer see a user-defined tag only once it is activated as a cost-allocation tag, and only for
 * costs from then on. Billing lists a tag key up to 24 hours after a resource first carries it, and only an
 * organization's management account (or an account outside any organization) can list or activate it: a member
 * account, such as every account AWS Control Tower governs, gets AccessDeniedException "Linked account doesn't have
 * access to cost allocation tags" (seen in hashicorp/terraform-provider-aws#37636, aws/aws-parallelcluster-ui#242).
 */
async function costAllocationTag(
  { tagKey, budgetName }: { tagKey: string; budgetName?: string },
  ce: CostExplorerClient,
): Promise<CheckResult> {
  const check = `cost-allocation tag ${tagKey}`;
  const activate =
    `activate it: Billing and Cost Management > Cost allocation tags > ${tagKey} > Activate, or ` +
    `aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey=${tagKey},Status=Active`;
  const budget = budgetName === undefined ? undefined : `the budget ${budgetName}`;
  let tag: CostAllocationTag | undefined;
  try {
    const { CostAllocationTags } = await ce.send(
      new ListCostAllocationTagsCommand({ TagKeys: [tagKey], Type: 'UserDefined' }),
      opts(),
    );
    tag = CostAllocationTags?.find((t) => t.TagKey === tagKey);
  } catch (err) {
    if (/Linked account/i.test(errorText(err))) {
      return skip(
        check,
        'this account is a member of an organization, whose management account alone can see and activate ' +
          `cost-allocation tags${budget ? `: until it does, ${budget} sees none of the stack's costs` : ''}`,
        `in the organization's management account, ${activate}; it then applies to every member account`,
      );
    }
    if (/AccessDenied/.test(errorName(err))) {
      return skip(
        check,
        `not allowed to call ce:ListCostAllocationTags (${errorName(err)}): not checked`,
        'allow ce:ListCostAllocationTags, or use the identity you deploy with',
      );
    }
    return failedCall(check, err, 'ce:ListCostAllocationTags');
  }
  if (tag?.Status === 'Active') {
    const since = tag.LastUpdatedDate ? ` since ${tag.LastUpdatedDate}` : '';
    return pass(check, `active${since}${budget ? `, so ${budget} sees the stack's costs` : ''}`);
  }
  const state = tag
    ? 'inactive'
    : 'not listed yet (Billing lists a tag key up to 24 hours after a resource first carries it)';
  if (budget === undefined) {
    return pass(
      check,
      `${state}: no budget in this stack filters on it (budgetMonthlyUsd); Cost Explorer groups costs by it once active`,
    );
  }
  if (!tag) {
    return skip(
      check,
      `${state}: ${budget} sees none of the stack's costs until it is activated`,
      `after the deploy, ${activate}`,
    );
  }
  return fail(
    check,
    `inactive, so ${budget} sees none of the stack's costs, and never those from before it is activated`,
    `${activate} (from this account, or from the organization's management account if it is a member)`,
  );
}

function failedCall(check: string, err: unknown, action: string): CheckResult {
  const name = errorName(err);
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized/.test(name)) {
    return fail(
      check,
      `not allowed to call ${action} (${name})`,
      `allow ${action}, or use the identity you deploy with`,
    );
  }
  return fail(check, `${action} failed: ${errorText(err)}`, 'check the network and the region, then run again');
}

const opts = () => ({ abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
const errorName = (err: unknown) => (err as { name?: string }).name ?? '';
const errorText = (err: unknown) => {
  const { name, message } = err as { name?: string; message?: string };
  return message !== undefined ? `${name ?? 'Error'}: ${message}` : String(err);
};
