// AWS clients for the account checks, mocked with aws-sdk-client-mock: a bootstrapped account whose log groups,
// X-Ray destination and cost-allocation tag status a test chooses.
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CostExplorerClient, ListCostAllocationTagsCommand } from '@aws-sdk/client-cost-explorer';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { GetTraceSegmentDestinationCommand, XRayClient } from '@aws-sdk/client-xray';
import { mockClient } from 'aws-sdk-client-mock';
import type { AccountClients } from '../account';

export const SAMPLE_ACCOUNT = '123456789012';

export interface AccountState {
  readonly existingGroups?: readonly string[];
  readonly destination?: 'XRay' | 'CloudWatchLogs';
  readonly bootstrapVersion?: number;
  /** The stack's cost-allocation tag: Active by default; absent when Billing does not list it yet. */
  readonly costTagStatus?: 'Active' | 'Inactive' | 'absent';
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
      ce: new CostExplorerClient({ region }),
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
    mockClient(made.ce)
      .on(ListCostAllocationTagsCommand)
      .callsFake((input: { TagKeys?: string[] }) => ({
        CostAllocationTags:
          state.costTagStatus === 'absent'
            ? []
            : (input.TagKeys ?? []).map((TagKey) => ({
                TagKey,
                Type: 'UserDefined',
                Status: state.costTagStatus ?? 'Active',
                LastUpdatedDate: '2026-11-02T09:14:00Z',
              })),
      }));
    return made;
  };
  return { clients, regions };
}
