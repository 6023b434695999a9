// AWS Control Tower's proactive controls, run the way `cdk synth` runs them: the pinned @cdklabs/cdk-validator-cfnguard
// plugin executes its bundled cfn-guard binary with the bundled Control Tower rules over the synthesized template, and
// aws-cdk-lib's policy validation applies the acknowledgements (waivers) and writes validation-report.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { addOtelFargateStack } from '../bin/otel-fargate';
import { CONTROL_RULES, CONTROL_TOWER_PLUGIN, ControlId, controlTowerChecks } from '../lib/control-tower';
import { OtelFargateStack, OtelFargateStackProps } from '../lib/otel-fargate-stack';
import { TEST_IMAGE, TEST_REGION, acknowledgePlainHttp, newApp } from './helpers';

const PACKAGE_DIR = path.dirname(require.resolve('@cdklabs/cdk-validator-cfnguard/package.json'));
const RULES_DIR = path.join(PACKAGE_DIR, 'rules', 'control-tower', 'cfn-guard');
const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
const GOVERNED: OtelFargateStackProps = { profile: 'governed', certificateArn: CERTIFICATE };

// cfn-guard runs once per synth: a few seconds each, more on a loaded machine.
jest.setTimeout(180_000);

interface Finding {
  control: string;
  path: string;
  reason?: string;
}

interface ViolatingConstruct {
  constructPath?: string;
}

interface ReportViolation {
  description: string;
  reason?: string;
  violatingConstructs?: ViolatingConstruct[];
}

/** The Control Tower part of the synth's validation report: open findings and waived ones, by control and path. */
function controlTowerReport(app: App): { open: Finding[]; waived: Finding[]; threw: boolean } {
  let threw = false;
  try {
    app.synth();
  } catch {
    threw = true;
  }
  const report = JSON.parse(fs.readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { pluginName: string; violations?: ReportViolation[]; suppressedViolations?: ReportViolation[] }[];
  };
  const plugin = report.pluginReports.find((p) => p.pluginName === CONTROL_TOWER_PLUGIN);
  const findings = (violations: ReportViolation[] = []): Finding[] =>
    violations
      .flatMap((v) =>
        (v.violatingConstructs ?? []).map((c) => ({
          control: /^\[(CT\.[A-Z0-9.]+)\]/.exec(v.description)?.[1] ?? v.description,
          path: c.constructPath ?? '',
          ...(v.reason === undefined ? {} : { reason: v.reason }),
        })),
      )
      .sort((a, b) => `${a.control} ${a.path}`.localeCompare(`${b.control} ${b.path}`));
  return { open: findings(plugin?.violations), waived: findings(plugin?.suppressedViolations), threw };
}

function checkedApp(props: OtelFargateStackProps): App {
  const app = acknowledgePlainHttp(newApp());
  new OtelFargateStack(app, 'TestStack', { env: { region: TEST_REGION }, image: TEST_IMAGE, ...props });
  Validations.of(app).addPlugins(controlTowerChecks());
  return app;
}

/** Every Control Tower waiver in the tree: where it sits, which control, and why. */
function waiversOf(app: App): { path: string; control: string; rule: string; reason: string }[] {
  return app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .filter(([id]) => id.startsWith(`${CONTROL_TOWER_PLUGIN}::`))
      .map(([id, reason]) => ({
        path: construct.node.path,
        control: reason.split(':')[0],
        rule: id.replace(`${CONTROL_TOWER_PLUGIN}::`, ''),
        reason,
      })),
  );
}

const pairs = (findings: Finding[]) => findings.map(({ control, path: p }) => [control, p]);

describe('the Control Tower validation plugin', () => {
  test('is pinned at 0.0.62, which ships cfn-guard 3.1.1 for Linux x64 and arm64 inside the npm package', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies['@cdklabs/cdk-validator-cfnguard']).toBe('0.0.62');
    expect(JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'guard-version.json'), 'utf8'))).toMatchObject({
      version: '3.1.1',
    });
    for (const arch of ['x86_64', 'aarch64']) {
      const binary = path.join(PACKAGE_DIR, 'bin', 'ubuntu', arch, 'cfn-guard');
      expect(fs.statSync(binary).mode & 0o111).not.toBe(0);
    }
  });

  test('runs every bundled Control Tower rule: none is disabled globally', () => {
    const plugin = controlTowerChecks();
    const guardFiles = fs.readdirSync(RULES_DIR, { recursive: true }).filter((f) => String(f).endsWith('.guard'));
    expect(guardFiles).toHaveLength(237);
    expect(plugin.ruleIds).toHaveLength(237);
  });

  test.each(Object.entries(CONTROL_RULES))('names %s by the guard rule that checks it, %s', (control, rule) => {
    const [, service, number] = /^CT\.([A-Z0-9]+)\.PR\.(\d+)$/.exec(control) ?? [];
    const directory = { KMS: 'keymanagementservice' }[service] ?? service.toLowerCase();
    const file = path.join(RULES_DIR, directory, `ct-${service.toLowerCase()}-pr-${number}.guard`);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain(`[${control}]:`);
    expect(text).toMatch(new RegExp(`^rule ${rule} when `, 'm'));
  });

  // Also the case where aws-cdk-lib, having waived other findings of the plugin, would pass findings without a severity.
  test('fails the synth of the app on a finding nobody waived, naming the control and how to waive it', () => {
    const app = acknowledgePlainHttp(newApp());
    const stack = addOtelFargateStack(app, {});
    new logs.LogGroup(stack, 'UnwaivedLogGroup', { retention: logs.RetentionDays.ONE_WEEK });
    let message = 'the synth did not fail';
    try {
      app.synth();
    } catch (error) {
      message = String(error);
    }
    expect(message).toMatch(/CT\.CLOUDWATCH\.PR\.3[\s\S]*UnwaivedLogGroup/);
    expect(message).toMatch(/Acknowledge with 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check'/);
  });
});

describe('the default profile', () => {
  const app = checkedApp({});
  const report = controlTowerReport(app);

  test('reports no finding that is not waived, so the synth succeeds', () => {
    expect(report.open).toEqual([]);
    expect(report.threw).toBe(false);
  });

  test('reports exactly these waived findings, each with the reason given at its resource', () => {
    expect(pairs(report.waived)).toEqual([
      ['CT.CLOUDWATCH.PR.2', 'TestStack/Network/FlowLogs/Resource'],
      ['CT.CLOUDWATCH.PR.2', 'TestStack/ObservedTask/CollectorLogs/Resource'],
      ['CT.CLOUDWATCH.PR.2', 'TestStack/ObservedTask/LogRouterLogs/Resource'],
      ['CT.CLOUDWATCH.PR.2', 'TestStack/ServiceLogGroup/Resource'],
      ['CT.CLOUDWATCH.PR.3', 'TestStack/Network/FlowLogs/Resource'],
      ['CT.CLOUDWATCH.PR.3', 'TestStack/ObservedTask/CollectorLogs/Resource'],
      ['CT.CLOUDWATCH.PR.3', 'TestStack/ObservedTask/LogRouterLogs/Resource'],
      ['CT.CLOUDWATCH.PR.3', 'TestStack/ServiceLogGroup/Resource'],
      ['CT.ECS.PR.2', 'TestStack/Cluster/Resource'],
      ['CT.ECS.PR.3', 'TestStack/ObservedTask/TaskDefinition/Resource'],
      ['CT.ELASTICLOADBALANCING.PR.1', 'TestStack/Web/LoadBalancer/PublicListener/Resource'],
      ['CT.ELASTICLOADBALANCING.PR.5', 'TestStack/Web/LoadBalancer/Resource'],
      ['CT.LAMBDA.PR.3', 'TestStack/Custom::VpcRestrictDefaultSGCustomResourceProvider/Handler'],
      ['CT.S3.PR.10', 'TestStack/Web/AccessLogs/Resource'],
      ['CT.S3.PR.11', 'TestStack/Web/AccessLogs/Resource'],
      ['CT.S3.PR.2', 'TestStack/Web/AccessLogs/Resource'],
      ['CT.S3.PR.4', 'TestStack/Web/AccessLogs/Resource'],
      ['CT.S3.PR.9', 'TestStack/Web/AccessLogs/Resource'],
    ]);
    for (const finding of report.waived) expect(finding.reason).toMatch(new RegExp(`^${finding.control}: `));
  });

  test('meets what costs nothing: subnets, the sidecars, the KMS key policy', () => {
    const met = ['CT.EC2.PR.11', 'CT.ECS.PR.6', 'CT.ECS.PR.7', 'CT.KMS.PR.3'];
    for (const control of met) {
      expect([...report.open, ...report.waived].filter((f) => f.control === control)).toEqual([]);
    }
  });

  test('waives at each resource by rule ID, with a reason that names its control and stands on its own', () => {
    const waivers = waiversOf(app);
    expect(waivers.map(({ path: p, control }) => [p, control])).toEqual([
      ['TestStack/Network/FlowLogs', 'CT.CLOUDWATCH.PR.2'],
      ['TestStack/Network/FlowLogs', 'CT.CLOUDWATCH.PR.3'],
      ['TestStack/Custom::VpcRestrictDefaultSGCustomResourceProvider', 'CT.LAMBDA.PR.3'],
      ['TestStack/Cluster', 'CT.ECS.PR.2'],
      ['TestStack/ServiceLogGroup', 'CT.CLOUDWATCH.PR.2'],
      ['TestStack/ServiceLogGroup', 'CT.CLOUDWATCH.PR.3'],
      ['TestStack/ObservedTask/CollectorLogs', 'CT.CLOUDWATCH.PR.2'],
      ['TestStack/ObservedTask/CollectorLogs', 'CT.CLOUDWATCH.PR.3'],
      ['TestStack/ObservedTask/LogRouterLogs', 'CT.CLOUDWATCH.PR.2'],
      ['TestStack/ObservedTask/LogRouterLogs', 'CT.CLOUDWATCH.PR.3'],
      ['TestStack/ObservedTask/TaskDefinition', 'CT.ECS.PR.3'],
      ['TestStack/Web/AccessLogs', 'CT.S3.PR.10'],
      ['TestStack/Web/AccessLogs', 'CT.S3.PR.2'],
      ['TestStack/Web/AccessLogs', 'CT.S3.PR.4'],
      ['TestStack/Web/AccessLogs', 'CT.S3.PR.9'],
      ['TestStack/Web/AccessLogs', 'CT.S3.PR.11'],
      ['TestStack/Web/LoadBalancer', 'CT.ELASTICLOADBALANCING.PR.5'],
      ['TestStack/Web/LoadBalancer/PublicListener', 'CT.ELASTICLOADBALANCING.PR.1'],
    ]);
    for (const { control, rule, reason } of waivers) {
      expect(CONTROL_RULES[control as ControlId]).toBe(rule);
      expect(reason.length).toBeGreaterThan(150);
      expect(reason).not.toMatch(/TODO|TBD|FIXME/i);
    }
  });
});

describe('the default profile with the deployer’s other choices', () => {
  test('waives only what those choices leave unmet, with the choice as the reason', () => {
    const app = checkedApp({
      natGateways: 0,
      containerInsights: ecs.ContainerInsights.DISABLED,
      certificateArn: CERTIFICATE,
      deletionProtection: true,
      logRetention: logs.RetentionDays.ONE_YEAR,
    });
    const report = controlTowerReport(app);
    expect(report.open).toEqual([]);
    const controls = (p: string) => report.waived.filter((f) => f.path === p).map((f) => f.control);
    // Tasks in public subnets with public IPs, the deployer's cheapest setup.
    expect(report.waived.find((f) => f.control === 'CT.ECS.PR.9')?.reason).toMatch(/natGateways=0/);
    expect(report.waived.find((f) => f.control === 'CT.ECS.PR.2')?.reason).toMatch(/containerInsights=disabled/);
    // Met by those choices: HTTPS, deletion protection, a year of the service's lines.
    expect(report.waived.map((f) => f.control)).not.toContain('CT.ELASTICLOADBALANCING.PR.1');
    expect(report.waived.map((f) => f.control)).not.toContain('CT.ELASTICLOADBALANCING.PR.5');
    expect(controls('TestStack/ServiceLogGroup/Resource')).toEqual(['CT.CLOUDWATCH.PR.3']);
  });
});

describe('the governed profile', () => {
  const app = checkedApp(GOVERNED);
  const report = controlTowerReport(app);

  test('reports no finding that is not waived', () => {
    expect(report.open).toEqual([]);
    expect(report.threw).toBe(false);
  });

  test('waives only the two controls no setting can meet: FireLens runs as root, ALB access logs need SSE-S3', () => {
    expect(pairs(report.waived)).toEqual([
      ['CT.ECS.PR.3', 'TestStack/ObservedTask/TaskDefinition/Resource'],
      ['CT.S3.PR.10', 'TestStack/Web/AccessLogs/Resource'],
    ]);
    expect(waiversOf(app).map(({ path: p, control }) => [p, control])).toEqual([
      ['TestStack/ObservedTask/TaskDefinition', 'CT.ECS.PR.3'],
      ['TestStack/Web/AccessLogs', 'CT.S3.PR.10'],
    ]);
  });
});

describe('the optional WAF web ACL and cost budget', () => {
  const EDGE: OtelFargateStackProps = {
    webFirewall: true,
    monthlyBudgetUsd: 150,
    budgetEmail: 'finance@example.com',
  };

  test('in the default profile, waive only the WAF log group’s retention and key, like every other group', () => {
    const report = controlTowerReport(checkedApp(EDGE));
    expect(report.open).toEqual([]);
    expect(report.threw).toBe(false);
    expect(report.waived.filter((f) => f.path.startsWith('TestStack/WebFirewall/')).map((f) => f.control)).toEqual([
      'CT.CLOUDWATCH.PR.2',
      'CT.CLOUDWATCH.PR.3',
    ]);
  });

  test('in the governed profile, meet every control: the WAF log group is kept a year under the log key', () => {
    const app = checkedApp({ ...GOVERNED, ...EDGE });
    const report = controlTowerReport(app);
    expect(report.open).toEqual([]);
    expect(pairs(report.waived)).toEqual([
      ['CT.ECS.PR.3', 'TestStack/ObservedTask/TaskDefinition/Resource'],
      ['CT.S3.PR.10', 'TestStack/Web/AccessLogs/Resource'],
    ]);
  });
});
