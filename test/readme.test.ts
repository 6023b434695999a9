// The documentation held to the code: the configuration page to the context keys, the cost tables to their
// prices, the deploy walkthrough (README.md and docs/deploy.md) to the stack's outputs and the CLI's behaviour.
import * as YAML from 'yaml';
import { CONTEXT_KEYS } from '../bin/context';
import { sharedTemplate } from './helpers';
import { documentationFiles, read, shellCommands } from './support/markdown';

const readme = read('README.md');
const configuration = read('docs/configuration.md');
const costs = read('docs/costs.md');
const deploy = read('docs/deploy.md');

let synthesized: ReturnType<typeof sharedTemplate> | undefined;
/** The default stack's template, synthesized once for the tests that read it. */
function defaultTemplate(): ReturnType<typeof sharedTemplate> {
  synthesized ??= sharedTemplate();
  return synthesized;
}

describe('the configuration page', () => {
  test.each(Object.entries(CONTEXT_KEYS))('documents the context key %s with its default', (key, spec) => {
    const row = configuration.split('\n').find((line) => new RegExp(`^\\|\\s*\`${key}\`\\s*\\|`).test(line));
    expect(row?.split('|')[2].trim().replace(/`/g, '')).toBe(spec.defaultValue);
  });

  test('lists no context key that the app does not read', () => {
    const documented = [...configuration.matchAll(/^\|\s*`(\w+)`\s*\|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.keys(CONTEXT_KEYS).sort());
  });
});

describe('the costs page', () => {
  test('prices sampling as X-Ray does: traces a month from the rule, $5.00 per million beyond 100,000', () => {
    // REFERENCE §8: X-Ray's published prices. A month of 730 hours, as in the cost table above it.
    const seconds = 730 * 3600;
    const rows = costs
      .split('\n')
      .filter((line) => /^\|\s*\d+\s*\|\s*\d+\/s\s*\|/.test(line))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const [rps, reservoir, rate, traces, dollars] of rows) {
      const perSecond = Number(reservoir.replace('/s', ''));
      const recorded =
        (Math.min(Number(rps), perSecond) + Number(rate) * Math.max(Number(rps) - perSecond, 0)) * seconds;
      const cost = (Math.max(0, recorded - 100_000) / 1e6) * 5;
      expect(traces).toBe(`${(recorded / 1e6).toFixed(2)} million`);
      expect(dollars).toBe(`$${cost.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);
    }
  });

  test('prices the orders table as its section says: requests, storage beyond 25 GB, point-in-time recovery', () => {
    // On-demand, us-east-1: $0.625 and $0.125 per million write and read request units, $0.25 per GB-month beyond 25 GB,
    // PITR $0.20 per GB-month; 235 bytes an order, written once and read once, a month of 730 hours.
    const seconds = 730 * 3600;
    const money = (n: number) =>
      `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
    const rows = costs
      .split('\n')
      .filter((line) => /^\|\s*(idle|\d+)( \(the bench's rate\))?\s*\|\s*[\d.]+( million)?\s*\|\s*\$/.test(line))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    expect(rows.map((r) => r[0])).toEqual(['idle', '1', '10', '100', "1000 (the bench's rate)"]);
    for (const [rate, orders, requests, size, storage, pitr, total] of rows) {
      const perSecond = rate === 'idle' ? 0 : Number(rate.split(' ')[0]);
      const n = perSecond * seconds;
      const gb = (n * 235) / 1e9;
      const costs = [n * 0.75e-6, Math.max(0, gb - 25) * 0.25, gb * 0.2];
      expect(orders).toBe(perSecond === 0 ? '0' : `${(n / 1e6).toFixed(2)} million`);
      expect(size).toBe(perSecond === 0 ? '0 GB' : `${gb.toFixed(2)} GB`);
      expect([requests, storage, pitr, total]).toEqual([...costs, costs[0] + costs[1] + costs[2]].map(money));
    }
  });
});

describe('the deploy walkthrough (README.md and docs/deploy.md)', () => {
  const commands = [...shellCommands(readme), ...shellCommands(deploy)];

  test('gives every aws command the region, which a stack deployed with -c region=… needs', () => {
    const awsCommands = commands.filter((line) => /(^|\$\()aws [a-z0-9-]+ /.test(line));
    expect(awsCommands.length).toBeGreaterThanOrEqual(4);
    expect(awsCommands.filter((line) => !/ --region "?\$REGION"?/.test(line))).toEqual([]);
  });

  test('gives every cdk command that deploys, bootstraps or destroys the same region', () => {
    const cdkCommands = commands.filter((line) => /npx cdk (deploy|bootstrap|destroy|diff)\b/.test(line));
    expect(cdkCommands.length).toBeGreaterThanOrEqual(3);
    expect(cdkCommands.filter((line) => !/ -c region="?\$REGION"?/.test(line))).toEqual([]);
  });

  test.each([
    ['README.md', readme],
    ['docs/deploy.md', deploy],
  ])('%s says that cdk deploy stops for approval, and how to answer or skip it', (_file, text) => {
    // aws-cdk CLI 2.1148 (lib/cli/cdk-toolkit.js): the default is RequireApproval.BROADENING, and the question.
    expect(text).toContain(
      'Stack includes security-sensitive updates and "--require-approval" is set to \'broadening\'.',
    );
    expect(text).toContain('Do you wish to deploy these changes? (y/n)');
    expect(text).toMatch(/--require-approval never/);
  });

  test('names every output of the stack in the documentation, and reads the kept resources from them', () => {
    const outputs = Object.keys((defaultTemplate().toJSON() as { Outputs: Record<string, unknown> }).Outputs);
    const documentation = documentationFiles().map(read).join('\n');
    expect(outputs).toContain('AccessLogBucketName');
    expect(outputs.filter((name) => !documentation.includes(`\`${name}\``))).toEqual([]);
    for (const kept of ['LogGroupName', 'AccessLogBucketName', 'OrdersTableName']) {
      expect(shellCommands(readme)).toContainEqual(expect.stringContaining(`OutputKey=='${kept}'`));
      expect(shellCommands(deploy)).toContainEqual(expect.stringContaining(`OutputKey=='${kept}'`));
    }
  });

  test('deletes the kept log group by the name the stack reports, never by a name written into the command', () => {
    const deletions = commands.filter((line) => line.startsWith('aws logs delete-log-group'));
    expect(deletions.length).toBeGreaterThanOrEqual(2);
    expect(deletions.filter((line) => !/--log-group-name "\$LOG_GROUP"/.test(line))).toEqual([]);
  });

  test('finds the load balancer ARN with a command where it turns off deletion protection', () => {
    const modify = commands.find((line) => line.startsWith('aws elbv2 modify-load-balancer-attributes'));
    expect(modify).toMatch(/--load-balancer-arn "\$LOAD_BALANCER"/);
    expect(commands).toContainEqual(
      expect.stringMatching(
        /^LOAD_BALANCER=\$\(aws cloudformation list-stack-resources .*ResourceType=='AWS::ElasticLoadBalancingV2::LoadBalancer'\]\.PhysicalResourceId/,
      ),
    );
  });
});

describe('what the person who deploys needs (docs/deploy.md)', () => {
  // The CDK CLI's own bootstrap template, at the version installed here.
  const bootstrap = YAML.parse(read('node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml')) as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };

  test('names the bootstrap roles cdk deploy assumes, and the template version it read them from', () => {
    const roles = Object.values(bootstrap.Resources)
      .filter((resource) => resource.Type === 'AWS::IAM::Role')
      .map((role) => (role.Properties.RoleName as { 'Fn::Sub': string })['Fn::Sub'])
      .map((name) => name.replace('${Qualifier}', 'hnb659fds').replace('-${AWS::AccountId}-${AWS::Region}', '-…'));
    expect(roles.sort()).toEqual(
      ['deploy', 'file-publishing', 'image-publishing', 'lookup', 'cfn-exec']
        .map((r) => `cdk-hnb659fds-${r}-role-…`)
        .sort(),
    );
    expect(roles.filter((role) => !deploy.includes(`\`${role}\``))).toEqual([]);
    const version = (bootstrap.Resources.CdkBootstrapVersion.Properties as { Value: string }).Value;
    expect(deploy).toContain(`bootstrap-template.yaml\`, version ${version})`);
    // Without --cloudformation-execution-policies the execution role gets AdministratorAccess.
    expect(JSON.stringify(bootstrap.Resources.CloudFormationExecutionRole.Properties.ManagedPolicyArns)).toContain(
      'iam::aws:policy/AdministratorAccess',
    );
  });

  test('lists every resource type the stack can create, and none it does not, for a narrowed execution policy', () => {
    const everything = sharedTemplate({ alarmEmail: 'ops@example.com', webFirewall: true, monthlyBudgetUsd: 100 });
    const types = new Set(
      [defaultTemplate(), everything].flatMap((template) =>
        Object.values((template.toJSON() as { Resources: Record<string, { Type: string }> }).Resources).map(
          (resource) => resource.Type,
        ),
      ),
    );
    const section = deploy.slice(deploy.indexOf('**If the account narrows the execution policy.**'));
    // AWS::CDK::Metadata is named only to say it needs nothing (the CLI adds it; the tests' synth does not).
    const listed = new Set(section.match(/\b(AWS|Custom)::[A-Za-z0-9]+(::[A-Za-z0-9]+)?/g));
    listed.delete('AWS::CDK::Metadata');
    types.delete('AWS::CDK::Metadata');
    expect([...types].filter((type) => !listed.has(type))).toEqual([]);
    expect([...listed].filter((type) => !types.has(type))).toEqual([]);
  });
});
