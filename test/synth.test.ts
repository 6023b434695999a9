// The real `cdk synth`, run the way CI and users run it: from the repo root, with no AWS credentials. The synths are
// separate processes, so this file runs two at a time from before the first test, and each test waits for its own (one
// after another they were most of a minute of the test run).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
const CDK = path.join(ROOT, 'node_modules', '.bin', 'cdk');

/**
 * Two at a time: enough to keep both cores of a 2-core machine busy while a synth waits on its own children (the app,
 * cfn-guard), and few enough not to starve the other test files that run beside this one, some of which time things.
 */
const SYNTHS_AT_ONCE = 2;
/** A synth that still runs after this is killed. Generous: one took 236 s at a load average of 20 from other work. */
const SYNTH_TIMEOUT_MS = 480_000;
jest.setTimeout(SYNTH_TIMEOUT_MS + 10_000);

let running = 0;
const waiting: (() => void)[] = [];

/** Runs `work` once fewer than SYNTHS_AT_ONCE others run, in the order asked. */
async function inTurn<T>(work: () => Promise<T>): Promise<T> {
  if (running >= SYNTHS_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  else running += 1;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  }
}

/** This file's output directories: only these are removed (other test runs on the machine have their own). */
const outdirs: string[] = [];

interface SynthResult {
  status: number | null;
  output: string;
  outdir: string;
}

/**
 * Runs `cdk synth --quiet` with `args`. Version reporting stays on only where `asCi` (what `.ci/run` ran as a step of its
 * own before this test replaced it: `npx cdk synth --quiet`, whose template carries the AWS::CDK::Metadata resource).
 */
function cdkSynth(args: string[], { asCi = false } = {}): Promise<SynthResult> {
  return inTurn(() => spawnSynth(args, asCi));
}

function spawnSynth(args: string[], asCi: boolean): Promise<SynthResult> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-synth-'));
  outdirs.push(outdir);
  const environment = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_') && !key.startsWith('CDK_')),
  );
  const flags = ['--quiet', '--no-notices', ...(asCi ? [] : ['--no-version-reporting']), '-o', outdir];
  const child = spawn(CDK, ['synth', ...flags, ...args], {
    cwd: ROOT,
    timeout: SYNTH_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...environment,
      // No credentials anywhere the SDK looks, and no instance metadata to wait for.
      AWS_CONFIG_FILE: path.join(outdir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(outdir, 'no-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, output: `${stdout}${stderr}`, outdir }));
  });
}

/** The Control Tower plugin's part of the validation report `cdk synth` writes into its output directory. */
function controlTowerReportIn(outdir: string): { open: string[]; waived: string[] } {
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: {
      pluginName: string;
      violations?: { description: string }[];
      suppressedViolations?: { description: string }[];
    }[];
  };
  const plugin = report.pluginReports.find((p) => p.pluginName === 'cdk-validator-cfnguard');
  const controls = (violations: { description: string }[] = []) =>
    [...new Set(violations.map((v) => /^\[(CT\.[A-Z0-9.]+)\]/.exec(v.description)?.[1] ?? v.description))].sort();
  expect(plugin).toBeDefined();
  return { open: controls(plugin?.violations), waived: controls(plugin?.suppressedViolations) };
}

/** Every synth this file checks, queued before the first test in the order of the tests. */
function startSynths() {
  const synths = {
    plain: cdkSynth([], { asCi: true }),
    governed: cdkSynth([
      '-c',
      'profile=governed',
      '-c',
      'certificateArn=arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555',
    ]),
    unwaivedFinding: cdkSynth(['--app', 'node --import tsx test/fixtures/unwaived-finding-app.ts']),
    governedWithoutCertificate: cdkSynth(['-c', 'profile=governed']),
    misspeltKey: cdkSynth(['-c', 'natGateway=0']),
    badValues: cdkSynth(['-c', 'desiredCount=0', '-c', 'cpuArchitecture=arm', '-c', 'samplingRate=2']),
  };
  // A synth that cannot start rejects in the test that awaits it, not as an unhandled rejection before then.
  for (const synth of Object.values(synths)) synth.catch(() => undefined);
  return synths;
}

describe('cdk synth from the command line', () => {
  let synths: ReturnType<typeof startSynths>;

  beforeAll(() => {
    synths = startSynths();
  });

  afterAll(async () => {
    await Promise.allSettled(Object.values(synths));
    for (const dir of outdirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  // CI's synth: .ci/run has no step of its own for it (CONTRIBUTING.md).
  test('succeeds without credentials, with the cdk-nag and Control Tower checks passing', async () => {
    const { status, output, outdir } = await synths.plain;
    expect(output).not.toMatch(/AwsSolutions-/);
    expect(status).toBe(0);
    // Without certificateArn the quick start stays on HTTP, and says so where the user looks.
    expect(output).toMatch(/WARNING The load balancer listens on plain HTTP \(port 80\)/);
    const template = JSON.parse(fs.readFileSync(path.join(outdir, 'OtelFargateStack.template.json'), 'utf8'));
    const resources = Object.values(template.Resources as Record<string, { Type: string; Properties: unknown }>);
    const taskDefinition = resources.find((r) => r.Type === 'AWS::ECS::TaskDefinition')?.Properties as {
      ContainerDefinitions: { Name: string }[];
    };
    expect(taskDefinition.ContainerDefinitions.map((c) => c.Name)).toEqual(['app', 'aws-otel-collector', 'log-router']);
    // The cdk.json feature flags apply here: the public listener must still be open to the internet.
    const loadBalancerGroup = Object.entries(
      template.Resources as Record<string, { Properties: { SecurityGroupIngress?: unknown[] } }>,
    ).find(([id]) => /LoadBalancerSecurityGroup/.test(id))?.[1];
    expect(loadBalancerGroup?.Properties.SecurityGroupIngress).toEqual([
      expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 80 }),
    ]);
    // The Control Tower plugin ran its cfn-guard binary: every finding it made is one the stack waives.
    expect(controlTowerReportIn(outdir)).toEqual({
      open: [],
      waived: [
        'CT.CLOUDWATCH.PR.2',
        'CT.CLOUDWATCH.PR.3',
        'CT.ECS.PR.2',
        'CT.ECS.PR.3',
        'CT.ELASTICLOADBALANCING.PR.1',
        'CT.ELASTICLOADBALANCING.PR.5',
        'CT.LAMBDA.PR.3',
        'CT.S3.PR.10',
        'CT.S3.PR.11',
        'CT.S3.PR.2',
        'CT.S3.PR.4',
        'CT.S3.PR.9',
      ],
    });
  });

  test('with profile=governed, succeeds with only the two waivers no setting can remove', async () => {
    const { status, output, outdir } = await synths.governed;
    expect(output).not.toMatch(/AwsSolutions-|cdk-validator-cfnguard/);
    expect(status).toBe(0);
    expect(controlTowerReportIn(outdir)).toEqual({ open: [], waived: ['CT.ECS.PR.3', 'CT.S3.PR.10'] });
  });

  test('fails, naming the control and how to waive it, on a finding nobody waived', async () => {
    const { status, output } = await synths.unwaivedFinding;
    expect(status).toBe(1);
    expect(output).toMatch(
      /ERROR \[CT\.CLOUDWATCH\.PR\.3\][^\n]*\(cdk-validator-cfnguard\)\n\s+OtelFargateStack\/UnwaivedLogGroup/,
    );
    expect(output).toMatch(/Acknowledge with 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check'/);
    // Only the new group: the stack's own findings stay waived.
    expect(output.match(/^ERROR /gm)).toHaveLength(2);
  });

  test('with profile=governed and no certificate, fails naming certificateArn and the control', async () => {
    const { status, output } = await synths.governedWithoutCertificate;
    expect(status).not.toBe(0);
    expect(output).toMatch(
      /context key 'certificateArn' is required with profile=governed: CT\.ELASTICLOADBALANCING\.PR\.1/,
    );
  });

  test('fails on a misspelt context key, naming it and the key it most likely meant, in two lines', async () => {
    const { status, output } = await synths.misspeltKey;
    expect(status).toBe(1);
    // The message alone, then the CLI's own line; no Node stack trace, no source excerpt, no Node version.
    expect(output.trim().split('\n')).toEqual([
      `Invalid CDK context (cdk.json or -c key=value): context key 'natGateway' (set to "0") is not one this app reads; did you mean 'natGateways'?`,
      expect.stringMatching(/: Subprocess exited with error 1$/),
    ]);
  });

  test('fails on a bad context value, naming the key and what it accepts', async () => {
    const { status, output } = await synths.badValues;
    expect(status).not.toBe(0);
    expect(output).toMatch(/context key 'samplingRate' is "2"; it accepts a number from 0 to 1/);
    expect(output).toMatch(/context key 'desiredCount' is "0"; it accepts a whole number from 1 to 100/);
    expect(output).toMatch(/context key 'cpuArchitecture' is "arm"; it accepts 'ARM64' or 'X86_64'/);
    // The message alone: its header, one line per bad key, then the CLI's own line; no stack trace.
    const lines = output.trim().split('\n');
    expect(lines[0]).toBe('Invalid CDK context (cdk.json or -c key=value):');
    expect(lines.slice(1, -1).every((line) => line.startsWith("  - context key '"))).toBe(true);
    expect(lines).toHaveLength(2 + 3);
    expect(lines[lines.length - 1]).toMatch(/: Subprocess exited with error 1$/);
  });
});
