// The command line: options, trace IDs, and the real default credential chain finding nothing.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { USAGE, main, parseCli } from '../cli';
import { newTraceContext, toXRayTraceId } from '../ids';
import { FakeAws, FakeClock, captureIo } from './fakes';

const ROOT = join(__dirname, '..', '..', '..');

describe('options', () => {
  it('defaults to stack OtelFargateStack, 2 requests per route, 180 s', () => {
    expect(parseCli([])).toEqual({
      stackName: 'OtelFargateStack',
      requestsPerRoute: 2,
      timeoutMs: 180_000,
      help: false,
    });
  });

  it('takes a stack name, or a URL and a log group, a request count, a timeout and a region', () => {
    expect(parseCli(['--stack', 'Other', '--requests', '5', '--timeout', '60', '--region', 'eu-west-1'])).toMatchObject(
      {
        stackName: 'Other',
        requestsPerRoute: 5,
        timeoutMs: 60_000,
        region: 'eu-west-1',
      },
    );
    expect(parseCli(['--url', 'http://x.example', '--log-group', 'g', '--service-name', 'checkout'])).toMatchObject({
      url: 'http://x.example',
      logGroup: 'g',
      serviceName: 'checkout',
    });
  });

  it.each([
    [['--bogus'], "verify: Unknown option '--bogus'. See --help.\n"],
    [['--requests'], "verify: Option '--requests <value>' argument missing. See --help.\n"],
    [['extra'], "verify: Unexpected argument 'extra'. This command does not take positional arguments. See --help.\n"],
  ])('ends the sentence about %j with a full stop before "See --help."', async (argv, line) => {
    const io = captureIo();
    expect(await main(argv, io)).toBe(2);
    expect(io.err).toBe(line);
  });

  it.each([
    [['--stack', 'A', '--url', 'http://x'], /either --stack or --url/],
    [['--requests', '0'], /--requests takes a whole number from 1 to 50, not "0"/],
    [['--timeout', '2.5'], /--timeout takes a whole number/],
    [['--nope'], /Unknown option '--nope'/],
  ])('rejects %j in one line, exit 2', async (argv, message) => {
    const io = captureIo();
    expect(await main(argv, io)).toBe(2);
    expect(io.err).toMatch(message);
    expect(io.err.trim().split('\n')).toHaveLength(1);
  });

  it('rejects a URL that is not http(s)', async () => {
    const io = captureIo();
    expect(await main(['--url', 'ftp://x'], io, () => fakeDeps())).toBe(2);
    expect(io.err).toBe('verify: Not an http(s) URL: ftp://x\n');
  });

  it('prints its usage for --help and exits 0', async () => {
    const io = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out).toBe(`${USAGE}\n`);
  });
});

function fakeDeps() {
  const fake = new FakeAws({ received: [] });
  return { cfn: fake.cfn, xray: fake.xray, logs: fake.logs, clock: new FakeClock() };
}

describe('trace IDs', () => {
  it('are made in advance, time-prefixed, in both forms', () => {
    const ctx = newTraceContext(Date.UTC(2026, 10, 25), (n) => 'ab'.repeat(n));
    expect(ctx.traceId).toBe(`${Math.floor(Date.UTC(2026, 10, 25) / 1000).toString(16)}${'ab'.repeat(12)}`);
    expect(ctx.xrayTraceId).toBe(`1-${ctx.traceId.slice(0, 8)}-${'ab'.repeat(12)}`);
    expect(ctx.headers.traceparent).toBe(`00-${ctx.traceId}-${'ab'.repeat(8)}-01`);
    expect(ctx.headers['x-amzn-trace-id']).toBe(`Root=${ctx.xrayTraceId};Parent=${'ab'.repeat(8)};Sampled=1`);
  });

  it('are unique per request', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newTraceContext(Date.now()).traceId));
    expect(ids.size).toBe(100);
  });

  it('convert to the X-Ray form only from 32 hex digits', () => {
    expect(toXRayTraceId('5759e988bd862e3fe1be46a994272793')).toBe('1-5759e988-bd862e3fe1be46a994272793');
    expect(() => toXRayTraceId('xyz')).toThrow(/not a 32-hex trace ID/);
  });
});

describe('npm run verify with no credentials anywhere in the default chain', () => {
  it('prints one line, no stack trace, and exits 2', async () => {
    const home = mkdtempSync(join(tmpdir(), 'verify-home-'));
    const run = promisify(execFile);
    const err = await run(process.execPath, ['--import', 'tsx', 'tools/verify/cli.ts', '--url', 'http://127.0.0.1:9'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        AWS_REGION: 'us-east-1',
        AWS_CONFIG_FILE: join(home, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2, stdout: '' });
    expect((err as { stderr: string }).stderr).toMatch(
      /^verify: No usable AWS credentials while resolving AWS credentials and region \(CredentialsProviderError: Could not load credentials from any providers\)\. Set AWS_PROFILE .*\n$/,
    );
  }, 20_000);
});
