// The account checks with the AWS SDK mocked (aws-sdk-client-mock): no credentials, a bootstrapped account, each
// way a first deploy would fail, and each state of the cost-allocation tag a budget needs.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CostExplorerClient, ListCostAllocationTagsCommand } from '@aws-sdk/client-cost-explorer';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  BatchGetTracesCommand,
  GetTraceSegmentDestinationCommand,
  ListRetrievedTracesCommand,
  StartTraceRetrievalCommand,
  XRayClient,
} from '@aws-sdk/client-xray';
import { mockClient } from 'aws-sdk-client-mock';
import { CONTEXT_KEYS } from '../../../bin/context';
import { COST_TAG_KEY } from '../../../lib/cost-budget';
import { checkAccount, type AccountExpectations } from '../account';
import { COST_ALLOCATION_TAG_KEY } from '../assembly';
import { defaultAwsClients } from '../cli';
import { ADOPT_LOG_GROUP_KEY } from '../preflight';
import { pollTraces, traceSegmentDestination } from '../../verify/xray';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

const clients = {
  sts: new STSClient({ region: REGION }),
  cfn: new CloudFormationClient({ region: REGION }),
  logs: new CloudWatchLogsClient({ region: REGION }),
  xray: new XRayClient({ region: REGION }),
  ce: new CostExplorerClient({ region: REGION }),
};
const sts = mockClient(clients.sts);
const cfn = mockClient(clients.cfn);
const logs = mockClient(clients.logs);
const xray = mockClient(clients.xray);
const ce = mockClient(clients.ce);

const expectations: AccountExpectations = {
  region: REGION,
  bootstrap: { stackName: 'CDKToolkit', minVersion: 6 },
  logGroup: { name: 'otel-test', created: true },
  adoptSwitch: ADOPT_LOG_GROUP_KEY,
};

function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

beforeEach(() => {
  for (const mock of [sts, cfn, logs, xray, ce]) mock.reset();
  sts.on(GetCallerIdentityCommand).resolves({ Account: ACCOUNT });
  cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).resolves({
    Stacks: [
      {
        StackName: 'CDKToolkit',
        StackStatus: 'UPDATE_COMPLETE',
        CreationTime: new Date(),
        Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '30' }],
      },
    ],
  });
  logs.on(DescribeLogGroupsCommand).resolves({ logGroups: [{ logGroupName: 'otel-test-old' }] });
  xray.on(GetTraceSegmentDestinationCommand).resolves({ Destination: 'XRay', Status: 'ACTIVE' });
  ce.on(ListCostAllocationTagsCommand).resolves({
    CostAllocationTags: [
      { TagKey: COST_TAG_KEY, Type: 'UserDefined', Status: 'Active', LastUpdatedDate: '2026-11-02T09:14:00Z' },
    ],
  });
});

const byCheck = async (expect: AccountExpectations = expectations) =>
  Object.fromEntries((await checkAccount(expect, clients)).map((r) => [r.check, r]));

test('the switch the log group check names is a context key the app reads', () => {
  expect(Object.keys(CONTEXT_KEYS)).toContain(ADOPT_LOG_GROUP_KEY);
});

describe('without credentials', () => {
  test('the account checks are skipped with a note, and nothing else is asked', async () => {
    sts.on(GetCallerIdentityCommand).rejects(awsError('CredentialsProviderError', 'Could not load credentials'));
    const results = await checkAccount(expectations, clients);
    expect(results).toEqual([
      expect.objectContaining({ status: 'SKIP', check: 'AWS account checks', fix: expect.stringMatching(/run again/) }),
    ]);
    expect(cfn.calls()).toHaveLength(0);
    expect(logs.calls()).toHaveLength(0);
    expect(xray.calls()).toHaveLength(0);
    expect(ce.calls()).toHaveLength(0);
  });

  test('expired credentials fail, with how to refresh them', async () => {
    sts.on(GetCallerIdentityCommand).rejects(awsError('ExpiredToken', 'The security token included has expired'));
    const [result] = await checkAccount(expectations, clients);
    expect(result).toMatchObject({ status: 'FAIL', check: 'AWS credentials', fix: expect.stringMatching(/sso login/) });
  });
});

describe('a bootstrapped account ready for a first deploy', () => {
  test('passes every check, naming the account and region', async () => {
    const results = await checkAccount(expectations, clients);
    expect(results.map((r) => [r.status, r.check])).toEqual([
      ['PASS', 'AWS credentials'],
      ['PASS', 'CDK bootstrap'],
      ['PASS', 'log group otel-test'],
      ['PASS', 'X-Ray trace segment destination'],
    ]);
    expect(results[0].detail).toBe(`account ${ACCOUNT}, ${REGION}`);
    expect(results[1].detail).toBe('CDKToolkit version 30 (needs 6 or later), UPDATE_COMPLETE');
    expect(logs.commandCalls(DescribeLogGroupsCommand)[0].args[0].input).toMatchObject({
      logGroupNamePrefix: 'otel-test',
    });
  });
});

describe('what would fail the deploy', () => {
  test('no bootstrap stack: fails with the bootstrap command for this account and region', async () => {
    cfn.on(DescribeStacksCommand).rejects(awsError('ValidationError', 'Stack with id CDKToolkit does not exist'));
    expect((await byCheck())['CDK bootstrap']).toMatchObject({
      status: 'FAIL',
      fix: `npx cdk bootstrap aws://${ACCOUNT}/${REGION}`,
    });
  });

  test('a bootstrap stack older than the template needs fails, and one mid-update says to wait', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'CDKToolkit',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: '5' }],
        },
      ],
    });
    expect((await byCheck())['CDK bootstrap'].detail).toBe('CDKToolkit is version 5, the stack needs 6 or later');
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'CDKToolkit', StackStatus: 'UPDATE_IN_PROGRESS', CreationTime: new Date() }],
    });
    expect((await byCheck())['CDK bootstrap']).toMatchObject({ status: 'FAIL', fix: expect.stringMatching(/wait/) });
  });

  test('the log group a cdk destroy kept: fails, naming the switch that adopts it', async () => {
    // Found on the second page of the prefix listing.
    logs
      .on(DescribeLogGroupsCommand)
      .resolvesOnce({ logGroups: [{ logGroupName: 'otel-test-a' }], nextToken: 'page-2' })
      .resolvesOnce({ logGroups: [{ logGroupName: 'otel-test', retentionInDays: 30 }] });
    const result = (await byCheck())['log group otel-test'];
    expect(result).toMatchObject({ status: 'FAIL' });
    expect(result.detail).toMatch(/already exists \(kept 30 days/);
    expect(result.fix).toMatch(/^deploy with -c adoptLogGroup=true to use it as it is, or delete it/);
    expect(logs.commandCalls(DescribeLogGroupsCommand)[1].args[0].input).toMatchObject({ nextToken: 'page-2' });
  });

  test('with the switch on, the group must exist, and then passes', async () => {
    const adopting = { ...expectations, logGroup: { name: 'otel-test', created: false } };
    expect((await byCheck(adopting))['log group otel-test']).toMatchObject({
      status: 'FAIL',
      fix: 'deploy without -c adoptLogGroup=true so that the stack creates it',
    });
    logs.on(DescribeLogGroupsCommand).resolves({ logGroups: [{ logGroupName: 'otel-test' }] });
    expect((await byCheck(adopting))['log group otel-test']).toMatchObject({
      status: 'PASS',
      detail: 'exists (kept forever); the stack adopts it (adoptLogGroup=true)',
    });
  });

  test('Transaction Search sending segments to CloudWatch Logs fails, with how to switch back', async () => {
    xray.on(GetTraceSegmentDestinationCommand).resolves({ Destination: 'CloudWatchLogs', Status: 'ACTIVE' });
    const result = (await byCheck())['X-Ray trace segment destination'];
    expect(result).toMatchObject({ status: 'FAIL' });
    expect(result.detail).toMatch(/^CloudWatchLogs \(ACTIVE\): CloudWatch Transaction Search is on/);
    expect(result.fix).toMatch(/update-trace-segment-destination --destination XRay --region eu-west-1/);
  });

  test("Transaction Search's failure says what X-Ray's API still finds, and that npm run verify reads every trace", async () => {
    xray.on(GetTraceSegmentDestinationCommand).resolves({ Destination: 'CloudWatchLogs', Status: 'ACTIVE' });
    const { detail } = (await byCheck())['X-Ray trace segment destination'];
    // X-Ray API reference, BatchGetTraces: "You cannot find traces through this API if Transaction Search is
    // enabled"; CloudWatch user guide, Enable Transaction Search: 1% of spans indexed as trace summaries by default.
    expect(detail).toMatch(/BatchGetTraces finds none of them/);
    expect(detail).toMatch(/indexes only a share of them as trace summaries \(1% by default\)/);
    expect(detail).toMatch(/npm run verify reads them .*StartTraceRetrieval/);
    expect(detail).not.toMatch(/finds no traces/);
  });

  test('what the message says of npm run verify is what verify does with the same answer from X-Ray', async () => {
    // verify's own check of the destination, then its polling as its run does for CloudWatchLogs (verify.ts preflight;
    // tools/verify/test/verify.test.ts runs the whole command so): BatchGetTraces is never asked, the retrieval is.
    xray.on(GetTraceSegmentDestinationCommand).resolves({ Destination: 'CloudWatchLogs', Status: 'ACTIVE' });
    const traceId = '1-6b06cde3-27a98e30fccf306d757e8e5b';
    xray.on(BatchGetTracesCommand).resolves({ Traces: [] });
    xray.on(StartTraceRetrievalCommand).resolves({ RetrievalToken: 'token' });
    xray.on(ListRetrievedTracesCommand).resolves({
      RetrievalStatus: 'COMPLETE',
      Traces: [{ Id: traceId, Spans: [{ Id: 'a1b2c3d4e5f60718', Document: JSON.stringify({ name: 'svc' }) }] }],
    });
    expect(await traceSegmentDestination(clients.xray)).toEqual({ destination: 'CloudWatchLogs' });
    let now = 0;
    const clock = {
      now: () => now,
      sleep: (ms: number) => {
        now += ms;
        return Promise.resolve();
      },
    };
    const wanted = [{ xrayTraceId: traceId, expectedSpans: [{ span: 'GET /', xrayName: 'svc' }] }];
    const { findings } = await pollTraces(clients.xray, wanted, {
      source: 'transaction-search',
      clock,
      deadline: 60_000,
    });
    expect([...findings.keys()]).toEqual([traceId]);
    expect(xray.commandCalls(BatchGetTracesCommand)).toHaveLength(0);
  });

  test('a call the identity may not make fails, naming the permission', async () => {
    logs.on(DescribeLogGroupsCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
    expect((await byCheck())['log group otel-test']).toMatchObject({
      status: 'FAIL',
      detail: 'not allowed to call logs:DescribeLogGroups (AccessDeniedException)',
    });
  });
});

describe('the cost-allocation tag', () => {
  const BUDGET = `OtelFargateStack-${REGION}-monthly`;
  const withBudget: AccountExpectations = {
    ...expectations,
    costAllocation: { tagKey: COST_TAG_KEY, budgetName: BUDGET },
  };
  const withoutBudget: AccountExpectations = { ...expectations, costAllocation: { tagKey: COST_TAG_KEY } };
  const tagCheck = async (expect: AccountExpectations) =>
    (await byCheck(expect))[`cost-allocation tag ${COST_TAG_KEY}`];
  const tagWith = (Status: 'Active' | 'Inactive') => ({
    CostAllocationTags: [{ TagKey: COST_TAG_KEY, Type: 'UserDefined' as const, Status, LastUpdatedDate: '2026-11-02' }],
  });

  test('is the tag the stack puts on its resources', () => {
    expect(COST_ALLOCATION_TAG_KEY).toBe(COST_TAG_KEY);
  });

  test('active: passes, last of the account checks, asking Cost Explorer for that user-defined key only', async () => {
    const results = await checkAccount(withBudget, clients);
    expect(results.at(-1)).toEqual({
      status: 'PASS',
      check: `cost-allocation tag ${COST_TAG_KEY}`,
      detail: `active since 2026-11-02T09:14:00Z, so the budget ${BUDGET} sees the stack's costs`,
    });
    expect(ce.commandCalls(ListCostAllocationTagsCommand)[0].args[0].input).toEqual({
      TagKeys: [COST_TAG_KEY],
      Type: 'UserDefined',
    });
  });

  test('inactive, with a budget: fails, with how to activate it', async () => {
    ce.on(ListCostAllocationTagsCommand).resolves(tagWith('Inactive'));
    const result = await tagCheck(withBudget);
    expect(result).toMatchObject({ status: 'FAIL' });
    expect(result.detail).toBe(
      `inactive, so the budget ${BUDGET} sees none of the stack's costs, and never those from before it is activated`,
    );
    expect(result.fix).toContain(
      `aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey=${COST_TAG_KEY},Status=Active`,
    );
  });

  test('not listed yet (nothing tagged so far), with a budget: skipped, saying to activate it after the deploy', async () => {
    ce.on(ListCostAllocationTagsCommand).resolves({ CostAllocationTags: [] });
    const result = await tagCheck(withBudget);
    expect(result).toMatchObject({ status: 'SKIP', fix: expect.stringMatching(/^after the deploy, activate it: /) });
    expect(result.detail).toMatch(/^not listed yet \(Billing lists a tag key up to 24 hours after/);
  });

  test('inactive or not listed, without a budget: passes, saying that nothing in the stack needs it', async () => {
    ce.on(ListCostAllocationTagsCommand).resolves(tagWith('Inactive'));
    expect(await tagCheck(withoutBudget)).toMatchObject({
      status: 'PASS',
      detail: expect.stringMatching(/^inactive: no budget in this stack filters on it \(budgetMonthlyUsd\)/),
    });
  });

  test('in a member account (AWS Control Tower): skipped, saying what to ask the management account for', async () => {
    // The error Cost Explorer returns there (hashicorp/terraform-provider-aws#37636, aws/aws-parallelcluster-ui#242).
    ce.on(ListCostAllocationTagsCommand).rejects(
      awsError(
        'AccessDeniedException',
        "Failed to list Cost Allocation Tags: Linked account doesn't have access to cost allocation tags.",
      ),
    );
    const result = await tagCheck(withBudget);
    expect(result).toMatchObject({ status: 'SKIP' });
    expect(result.detail).toMatch(/member of an organization, whose management account alone can see and activate/);
    expect(result.detail).toContain(`until it does, the budget ${BUDGET} sees none of the stack's costs`);
    expect(result.fix).toMatch(/^in the organization's management account, activate it: .*TagKey=otel-fargate-stack/);
  });

  test('an identity not allowed to list the tags: skipped, naming the permission', async () => {
    ce.on(ListCostAllocationTagsCommand).rejects(
      awsError('AccessDeniedException', 'User is not authorized to perform: ce:ListCostAllocationTags'),
    );
    expect(await tagCheck(withBudget)).toMatchObject({
      status: 'SKIP',
      detail: 'not allowed to call ce:ListCostAllocationTags (AccessDeniedException): not checked',
    });
  });

  test('is not asked about when the stack carries no such tag', async () => {
    expect((await checkAccount(expectations, clients)).map((r) => r.check)).not.toContain(
      `cost-allocation tag ${COST_TAG_KEY}`,
    );
    expect(ce.calls()).toHaveLength(0);
  });

  test('is asked of Cost Explorer’s endpoint for the partition, whatever the stack’s region', async () => {
    const { ce: client } = defaultAwsClients(REGION);
    const hosts: string[] = [];
    client.middlewareStack.add(
      (_next) => (args) => {
        hosts.push((args.request as { hostname: string }).hostname);
        throw new Error('not sent');
      },
      { step: 'finalizeRequest' },
    );
    // Static credentials in place of the default chain, which would look for real ones; nothing is sent.
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' };
    Object.assign(client.config, { credentials: () => Promise.resolve(credentials) });
    await expect(client.send(new ListCostAllocationTagsCommand({}))).rejects.toThrow('not sent');
    expect(hosts).toEqual(['ce.us-east-1.amazonaws.com']);
  });
});
