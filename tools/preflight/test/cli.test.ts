// `npm run preflight` against the real synthesized template: a real `cdk synth` of the app, read the way the
// preflight reads it; then the CLI run as a user runs it, against the local registry and a stand-in Docker CLI,
// without AWS credentials. No network.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { OtelFargateStack } from '../../../lib/otel-fargate-stack';
import { DEFAULTS } from '../../../lib/settings';
import { TEST_IMAGE, TEST_REGION, acknowledgePlainHttp, newApp } from '../../../test/helpers';
import { ROOT, readAssembly, synthesize, type StackFacts } from '../assembly';
import { main, parseCli, UsageError } from '../cli';
import { accountWith } from './fake-account';
import { stagesRunningOnTarget } from '../dockerfile';
import { writeFakeDocker } from './fake-docker';
import { FakeRegistry } from './fake-registry';

jest.setTimeout(180_000);

const COLLECTOR = 'aws-observability/aws-otel-collector';
const ROUTER = 'aws-observability/aws-for-fluent-bit';
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

/** The environment without anything AWS: no credentials anywhere the SDK looks, no instance metadata. */
function noAwsEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && !key.startsWith('CDK_')),
  );
  return {
    ...env,
    AWS_CONFIG_FILE: path.join(dir, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

let dir: string;
let cdkOut: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-cli-'));
  cdkOut = path.join(dir, 'cdk.out');
  synthesize(cdkOut, [], noAwsEnv(dir));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('what the synthesized stack needs', () => {
  test('from `cdk synth`: the two sidecar images, arm64, the image to build, the log group to create', () => {
    const facts = readAssembly(cdkOut);
    expect(facts).toMatchObject({
      stackName: 'OtelFargateStack',
      region: 'us-east-1',
      platform: { os: 'linux', architecture: 'arm64' },
      logGroup: { name: 'otel-test', created: true },
      bootstrapMinVersion: 6,
      costAllocation: { tagKey: 'otel-fargate-stack' },
    });
    expect([...facts.images].sort()).toEqual([
      `public.ecr.aws/${ROUTER}:${DEFAULTS.fluentBitVersion}`,
      `public.ecr.aws/${COLLECTOR}:${DEFAULTS.collectorVersion}`,
    ]);
    expect(facts.build?.platform).toBe('linux/arm64');
    expect(facts.build?.dockerfileLabel).toBe('the Dockerfile of ObservedTask/TaskDefinition/App/AssetImage');
    expect(stagesRunningOnTarget(facts.build!.dockerfile)).toEqual([]);
  });

  function synthIn(props: ConstructorParameters<typeof OtelFargateStack>[2]): StackFacts {
    const app = acknowledgePlainHttp(newApp());
    new OtelFargateStack(app, 'PreflightStack', { env: { region: TEST_REGION }, ...props });
    return readAssembly(app.synth().directory);
  }

  test('an x86 stack that adopts its log group, with a budget: amd64 images and build, the group not created, the budget’s tag', () => {
    const facts = synthIn({
      cpuArchitecture: ecs.CpuArchitecture.X86_64,
      adoptLogGroup: true,
      monthlyBudgetUsd: 50,
      budgetEmail: 'finance@example.com',
    });
    expect(facts).toMatchObject({
      region: TEST_REGION,
      platform: { architecture: 'amd64' },
      logGroup: { name: 'otel-test', created: false },
      costAllocation: { tagKey: 'otel-fargate-stack', budgetName: `PreflightStack-${TEST_REGION}-monthly` },
    });
    expect(facts.build?.platform).toBe('linux/amd64');
  });

  test('a stack given its own image builds nothing, and its image is among those to check', () => {
    const facts = synthIn({ image: TEST_IMAGE });
    expect(facts.build).toBeUndefined();
    expect(facts.images).toContain('example.com/service:1.0.0');
  });
});

describe('npm run preflight, as a user runs it', () => {
  let registry: FakeRegistry;
  let docker: string;

  beforeAll(async () => {
    registry = await FakeRegistry.start();
    docker = writeFakeDocker(dir);
  });

  afterAll(() => registry.stop());

  async function preflight(...args: string[]): Promise<{ code: number; stdout: string }> {
    const env = noAwsEnv(dir, { PREFLIGHT_REGISTRY_URL: registry.url, CDK_DOCKER: docker });
    try {
      const { stdout } = await promisify(execFile)(TSX, ['tools/preflight/cli.ts', ...args], { cwd: ROOT, env });
      return { code: 0, stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  }

  test('when the images have arm64 and Docker can build, then it exits 0, skipping the account without credentials', async () => {
    const collector = registry.index(COLLECTOR, DEFAULTS.collectorVersion, ['linux/amd64', 'linux/arm64']);
    const router = registry.index(ROUTER, DEFAULTS.fluentBitVersion, ['linux/amd64', 'linux/arm64']);

    const { code, stdout } = await preflight('--cdk-out', cdkOut);

    expect(stdout.split('\n').filter((line) => /^(PASS|FAIL|SKIP) /.test(line))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^PASS  image public.ecr.aws/${COLLECTOR}:v0.49.0: linux/arm64 manifest sha256:\\w+ in index ${collector}$`,
        ),
      ),
      expect.stringMatching(new RegExp(`^PASS  image public.ecr.aws/${ROUTER}:3.4.16: .* in index ${router}$`)),
      'PASS  Docker engine: Docker 28.2.2 on linux/amd64',
      expect.stringMatching(/^PASS {2}Docker build for linux\/arm64: .* needs no emulation$/),
      expect.stringMatching(/^SKIP {2}AWS account checks: no AWS credentials found/),
    ]);
    expect(stdout).toContain(`  public.ecr.aws/${COLLECTOR}:v0.49.0@${collector}\n`);
    expect(stdout).toContain(`  public.ecr.aws/${ROUTER}:3.4.16@${router}\n`);
    expect(stdout).toMatch(/4 passed, 0 failed, 1 skipped\. Ready for `npx cdk deploy`\./);
    expect(code).toBe(0);
  });

  test('when an image has no arm64 manifest, then that line fails with what to do, and it exits 1', async () => {
    registry.index(COLLECTOR, DEFAULTS.collectorVersion, ['linux/arm64']);
    registry.index(ROUTER, DEFAULTS.fluentBitVersion, ['linux/amd64']);

    const { code, stdout } = await preflight('--cdk-out', cdkOut);

    expect(stdout).toMatch(
      new RegExp(
        `FAIL  image public.ecr.aws/${ROUTER}:3.4.16: no linux/arm64 manifest; the image index .* has linux/amd64\n      What to do: `,
      ),
    );
    expect(code).toBe(1);
  });

  test('with credentials, when the log group a destroy kept exists, then it fails naming the switch', async () => {
    registry.index(COLLECTOR, DEFAULTS.collectorVersion, ['linux/arm64']);
    registry.index(ROUTER, DEFAULTS.fluentBitVersion, ['linux/arm64']);
    const { clients, regions } = accountWith({ existingGroups: ['otel-test'] });
    const lines: string[] = [];

    const code = await main(
      ['--cdk-out', cdkOut],
      noAwsEnv(dir, { PREFLIGHT_REGISTRY_URL: registry.url, CDK_DOCKER: docker }),
      (line) => lines.push(line),
      clients,
    );

    expect(regions).toEqual(['us-east-1']);
    const output = lines.join('\n').split('\n');
    expect(output.filter((line) => /^(PASS|FAIL|SKIP) /.test(line)).map((line) => line.split(': ')[0])).toEqual([
      `PASS  image public.ecr.aws/${COLLECTOR}:v0.49.0`,
      `PASS  image public.ecr.aws/${ROUTER}:3.4.16`,
      'PASS  Docker engine',
      'PASS  Docker build for linux/arm64',
      'PASS  AWS credentials',
      'PASS  CDK bootstrap',
      'FAIL  log group otel-test',
      'PASS  X-Ray trace segment destination',
      'PASS  cost-allocation tag otel-fargate-stack',
    ]);
    expect(output).toContain(
      '      What to do: deploy with -c adoptLogGroup=true to use it as it is, or delete it ' +
        '(aws logs delete-log-group --log-group-name otel-test --region us-east-1)',
    );
    expect(code).toBe(1);
  });

  test('when the arguments are wrong, then it says so and exits 2', async () => {
    const { code, stdout } = await preflight('--bogus');
    expect(stdout).toMatch(/Unknown option '--bogus'.*See --help\./);
    expect(code).toBe(2);
  });
});

describe('its arguments', () => {
  test('-c pairs go to the synth; --cdk-out replaces it', () => {
    expect(parseCli(['-c', 'cpuArchitecture=X86_64', '--context', 'adoptLogGroup=true'])).toEqual({
      context: ['cpuArchitecture=X86_64', 'adoptLogGroup=true'],
      help: false,
    });
    expect(() => parseCli(['-c', 'natGateways'])).toThrow(UsageError);
    expect(() => parseCli(['--cdk-out', 'cdk.out', '-c', 'a=b'])).toThrow(/either --cdk-out or -c/);
  });
});
