import { App, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { OtelFargateStack } from '../lib/otel-fargate-stack';
import { addOtelFargateStack } from '../bin/otel-fargate';
import { STACK_VARIANTS, TEST_REGION, acknowledgePlainHttp, buildStack, newApp } from './helpers';

function violationsOf(app: App) {
  return new AwsSolutionsChecks(app).validateScope(app).violations.map((v) => ({
    rule: v.ruleName,
    resources: v.violatingResources.map((r) => r.constructPath),
  }));
}

/** Every cdk-nag acknowledgement in the tree: where it sits, which finding, and why. */
function nagAcknowledgementsOf(app: App): { path: string; id: string; reason: string }[] {
  return app.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .filter(([id]) => id.startsWith('Annotation::AwsSolutions-'))
      .map(([id, reason]) => ({ path: construct.node.path, id: id.replace('Annotation::', ''), reason })),
  );
}

describe('cdk-nag AwsSolutions checks', () => {
  test.each(STACK_VARIANTS)('find no unacknowledged violation in %s', (_name, props) => {
    expect(violationsOf(buildStack(props).app)).toEqual([]);
  });

  test('find no unacknowledged violation with the service image built from app/ and pulled from ECR', () => {
    const app = acknowledgePlainHttp(newApp());
    new OtelFargateStack(app, 'AssetStack', { env: { region: TEST_REGION } });
    expect(violationsOf(app)).toEqual([]);
  });

  test('run on every synth of the app, so an unacknowledged finding fails it', () => {
    const app = acknowledgePlainHttp(newApp());
    const stack = addOtelFargateStack(app, {});
    new s3.Bucket(stack, 'UnloggedBucket');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });

  test('let the app synthesize when every finding is acknowledged', () => {
    const app = acknowledgePlainHttp(newApp());
    addOtelFargateStack(app, {});
    expect(() => app.synth()).not.toThrow();
  });

  test('find the violations that an unacknowledged resource brings', () => {
    const { app, stack } = buildStack();
    new s3.Bucket(stack, 'UnloggedBucket');
    expect(violationsOf(app)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'AwsSolutions-S1', resources: [expect.stringMatching(/UnloggedBucket/)] }),
      ]),
    );
  });

  test('acknowledge each finding at its resource, by finding ID, with a reason that stands on its own', () => {
    const acknowledgements = nagAcknowledgementsOf(buildStack().app);
    expect(acknowledgements.map(({ path, id }) => [path, id])).toEqual([
      ['TestStack/ObservedTask/TaskDefinition', 'AwsSolutions-ECS2'],
      ['TestStack/ObservedTask/TaskDefinition/TaskRole/DefaultPolicy', 'AwsSolutions-IAM5[Resource::*]'],
      ['TestStack/ObservedTask/TaskDefinition/ExecutionRole', 'AwsSolutions-IAM5[Resource::*]'],
      ['TestStack/Web/AccessLogs', 'AwsSolutions-S1'],
      ['TestStack/Web/LoadBalancer/SecurityGroup', 'AwsSolutions-EC23'],
    ]);
    for (const { reason } of acknowledgements) {
      expect(reason.length).toBeGreaterThan(80);
      expect(reason).not.toMatch(/TODO|TBD|FIXME/i);
    }
  });

  test('acknowledge the missing Container Insights at the cluster only when the deployer turned it off', () => {
    const acknowledgements = nagAcknowledgementsOf(
      buildStack({ containerInsights: ecs.ContainerInsights.DISABLED }).app,
    );
    const atCluster = acknowledgements.filter(({ path }) => path === 'TestStack/Cluster');
    expect(atCluster.map(({ id }) => id)).toEqual(['AwsSolutions-ECS4']);
    expect(atCluster[0].reason).toMatch(/containerInsights=disabled/);
  });
});
