// Where to look: the service URL and log group, from the stack's CloudFormation outputs or from the command line.
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { VerifyError, describeAwsError } from './errors';

export const DEFAULT_STACK_NAME = 'OtelFargateStack';
export const DEFAULT_LOG_GROUP = 'otel-test';
/** OTEL_SERVICE_NAME in the stack by default (lib/settings.ts): what a sampling rule matches without a stack rule. */
export const DEFAULT_SERVICE_NAME = 'otel-fargate-service';

export interface Target {
  /** Base URL of the service, without a trailing slash. */
  readonly serviceUrl: string;
  readonly logGroupName: string;
  /** Known only when read from the stack: then the traces must link to the group by this ARN. */
  readonly logGroupArn?: string;
  /** The stack's `XRayTracesConsoleUrl` output (`…#xray:traces/query`), in the stack's partition. */
  readonly tracesConsoleUrl?: string;
  /** The stack's `SamplingRuleName` output: the service's X-Ray sampling rule. */
  readonly samplingRuleName?: string;
  /**
   * The stack's `OrdersTableName` output (or --orders-table): POST /orders' trace must show the PutItem on it, and each
   * order must read back from a separate request.
   */
  readonly ordersTableName?: string;
  /** Where the target came from, for the report's header. */
  readonly source: string;
}

export function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new VerifyError(`Not a URL: ${raw}. Give one such as http://my-alb-123.us-east-1.elb.amazonaws.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new VerifyError(`Not an http(s) URL: ${raw}`);
  }
  return url.toString().replace(/\/+$/, '');
}

export async function readStackTarget(cfn: CloudFormationClient, stackName: string): Promise<Target> {
  let outputs: Output[];
  let status: string | undefined;
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = res.Stacks?.[0];
    outputs = stack?.Outputs ?? [];
    status = stack?.StackStatus;
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e.name === 'ValidationError' && /does not exist/i.test(e.message ?? '')) {
      const region = await cfn.config.region().catch(() => 'this region');
      throw new VerifyError(
        `Stack ${stackName} not found in ${region}. Deploy it (npx cdk deploy), or pass --stack, --region, or --url.`,
      );
    }
    throw describeAwsError(err, `reading the outputs of stack ${stackName}`, 'cloudformation:DescribeStacks');
  }
  const value = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
  const serviceUrl = value('ServiceUrl');
  if (!serviceUrl) {
    throw new VerifyError(
      `Stack ${stackName} (${status ?? 'unknown status'}) has no ServiceUrl output. ` +
        'Wait for the deployment to finish, or pass --url and --log-group.',
    );
  }
  const arn = value('LogGroupArn');
  const consoleUrl = value('XRayTracesConsoleUrl');
  const samplingRuleName = value('SamplingRuleName');
  const ordersTableName = value('OrdersTableName');
  return {
    serviceUrl: normalizeUrl(serviceUrl),
    logGroupName: value('LogGroupName') ?? DEFAULT_LOG_GROUP,
    ...(arn ? { logGroupArn: arn } : {}),
    ...(consoleUrl ? { tracesConsoleUrl: consoleUrl } : {}),
    ...(samplingRuleName ? { samplingRuleName } : {}),
    ...(ordersTableName ? { ordersTableName } : {}),
    source: `stack ${stackName}`,
  };
}
