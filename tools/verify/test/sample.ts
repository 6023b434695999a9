// Prints a sample of `npm run verify` output for the README, from a mocked run: the stand-in service on port 0 and
// aws-sdk-client-mock'd AWS. Run: npx tsx tools/verify/test/sample.ts
// The stand-in's local URL is shown as a load balancer's, so the sample reads as it would after a deploy.
import { main } from '../cli';
import {
  FakeAws,
  FakeClock,
  LOG_GROUP,
  LOG_GROUP_ARN,
  StandInService,
  TRACES_CONSOLE_URL,
  captureIo,
  type Scenario,
} from './fakes';

const SHOWN_URL = 'http://OtelFa-WebLo-EXAMPLE-123456789.us-east-1.elb.amazonaws.com';

async function sample(title: string, scenario: Scenario): Promise<void> {
  const service = new StandInService();
  const url = await service.start();
  const fake = new FakeAws(service, scenario).withStack({
    ServiceUrl: url,
    LogGroupName: LOG_GROUP,
    LogGroupArn: LOG_GROUP_ARN,
    XRayTracesConsoleUrl: TRACES_CONSOLE_URL,
  });
  const io = captureIo();
  const code = await main([], io, () => ({ cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock: new FakeClock() }));
  await service.stop();
  process.stdout.write(
    `## ${title}\n\n$ npm run verify\n${`${io.err}${io.out}`.replaceAll(url, SHOWN_URL)}$ echo $?\n${code}\n\n`,
  );
}

async function run(): Promise<void> {
  await sample('Everything linked', { emptyPolls: 2 });
  await sample('Segments without the log link', { links: null, emptyPolls: 1 });
}

void run();
