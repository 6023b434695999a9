// AWS clients for the account checks, mocked with aws-sdk-client-mock: a bootstrapped account whose log groups and
// X-Ray destination a test chooses.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GetTraceSegmentDestinationCommand, XRayClient } from '@aws-sdk/client-xray';
import { mockClient } from 'aws-sdk-client-mock';
import type { AccountClients } from '../account';

export const SAMPLE_ACCOUNT = '123456789012';

export interface AccountState {
  readonly existingGroups?: readonly string[];
  readonly destination?: 'XRay' | 'CloudWatchLogs';
  readonly bootstrapVersion?: number;
}

/** A factory for the CLI (per region) and the regions it was asked for. */
export function accountWith(state: AccountState = {}): {
  clients: (region: string | undefined) => AccountClients;
  regions: (string | undefined)[];
} {
  const regions: (string | undefined)[] = [];
  const clients = (region: string | undefined): AccountClients => {
    regions.push(region);
    const made = {
      sts: new STSClient({ region }),
      cfn: new CloudFormationClient({ region }),
      logs: new CloudWatchLogsClient({ region }),
      xray: new XRayClient({ region }),
    };
    mockClient(made.sts).on(GetCallerIdentityCommand).resolves({ Account: SAMPLE_ACCOUNT });
    mockClient(made.cfn)
      .on(DescribeStacksCommand)
      .resolves({
        Stacks: [
          {
            StackName: 'CDKToolkit',
            StackStatus: 'UPDATE_COMPLETE',
            CreationTime: new Date(0),
            Outputs: [{ OutputKey: 'BootstrapVersion', OutputValue: String(state.bootstrapVersion ?? 30) }],
          },
        ],
      });
    mockClient(made.logs)
      .on(DescribeLogGroupsCommand)
      .callsFake((input: { logGroupNamePrefix?: string }) => ({
        logGroups: (state.existingGroups ?? [])
          .filter((name) => name.startsWith(input.logGroupNamePrefix ?? ''))
          .map((logGroupName) => ({ logGroupName, retentionInDays: 30 })),
      }));
    mockClient(made.xray)
      .on(GetTraceSegmentDestinationCommand)
      .resolves({ Destination: state.destination ?? 'XRay', Status: 'ACTIVE' });
    return made;
  };
  return { clients, regions };
}
