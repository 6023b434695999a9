// Prints a sample of `npm run verify` output for docs/verify.md, from a mocked run: the stand-in service on port 0 (it
// speaks traceresponse, and samples the run's requests once the mocked X-Ray's rule has reached it) and
// aws-sdk-client-mock'd AWS. Run: npx tsx tools/verify/test/sample.ts
// The stand-in's local URL is shown as a load balancer's, so the sample reads as it would after a deploy.
import { main } from '../cli';
import {
  FakeAws,
  FakeClock,
  LOG_GROUP,
  LOG_GROUP_ARN,
  ORDERS_TABLE,
  SAMPLING_RULE_NAME,
  StandInService,
  TRACES_CONSOLE_URL,
  captureIo,
  type Scenario,
} from './fakes';

const SHOWN_URL = 'http://OtelFa-WebLo-EXAMPLE-123456789.us-east-1.elb.amazonaws.com';

async function sample(title: string, scenario: Scenario): Promise<void> {
  const service = new StandInService();
  const url = await service.start();
  const clock = new FakeClock();
  // The stack's service keeps its orders in the stack's table (the SDK spans name it).
  const fake = new FakeAws(service, { serviceTable: ORDERS_TABLE, ...scenario }, clock).withStack({
    ServiceUrl: url,
    LogGroupName: LOG_GROUP,
    LogGroupArn: LOG_GROUP_ARN,
    XRayTracesConsoleUrl: TRACES_CONSOLE_URL,
    SamplingRuleName: SAMPLING_RULE_NAME,
    OrdersTableName: ORDERS_TABLE,
  });
  const io = captureIo();
  const code = await main([], io, () => ({ cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock }));
  await service.stop();
  process.stdout.write(
    `## ${title}\n\n$ npm run verify\n${`${io.err}${io.out}`.replaceAll(url, SHOWN_URL)}$ echo $?\n${code}\n\n`,
  );
}

async function run(): Promise<void> {
  // The service's tasks fetch the new rule within their 60 s poll: here after 35 s.
  await sample('Everything linked', { rulePropagationMs: 35_000, emptyPolls: 2 });
  await sample('A log link whose ARN ends in :*', {
    rulePropagationMs: 35_000,
    links: [{ log_group: LOG_GROUP, arn: `${LOG_GROUP_ARN}:*` }],
    emptyPolls: 1,
  });
}

void run();
