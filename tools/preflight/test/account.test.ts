// The account checks with the AWS SDK mocked (aws-sdk-client-mock): no credentials, a bootstrapped account, and
// each way a first deploy would fail.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GetTraceSegmentDestinationCommand, XRayClient } from '@aws-sdk/client-xray';
import { mockClient } from 'aws-sdk-client-mock';
import { CONTEXT_KEYS } from '../../../bin/context';
import { checkAccount, type AccountExpectations } from '../account';
import { ADOPT_LOG_GROUP_KEY } from '../preflight';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

const clients = {
  sts: new STSClient({ region: REGION }),
  cfn: new CloudFormationClient({ region: REGION }),
  logs: new CloudWatchLogsClient({ region: REGION }),
  xray: new XRayClient({ region: REGION }),
};
const sts = mockClient(clients.sts);
const cfn = mockClient(clients.cfn);
const logs = mockClient(clients.logs);
const xray = mockClient(clients.xray);

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
  for (const mock of [sts, cfn, logs, xray]) mock.reset();
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

  test('a call the identity may not make fails, naming the permission', async () => {
    logs.on(DescribeLogGroupsCommand).rejects(awsError('AccessDeniedException', 'not authorized'));
    expect((await byCheck())['log group otel-test']).toMatchObject({
      status: 'FAIL',
      detail: 'not allowed to call logs:DescribeLogGroups (AccessDeniedException)',
    });
  });
});
