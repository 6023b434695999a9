// aws-cdk-lib's built-in CloudFormation validation (the WebAssembly engine of @aws/cloudformation-validate, on at
// every synth by cdk.json's `@aws-cdk/core:validateAgainstDefaultRules`, aws-cdk-lib core/lib/private/
// synthesis-validation.js), over every variant of the stack at once: the other template tests leave it off
// (test/helpers.ts newApp), because its engine takes seconds to start in each test file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { OtelFargateStack } from '../lib/otel-fargate-stack';
import { STACK_VARIANTS, TEST_IMAGE, TEST_REGION, acknowledgePlainHttp, newApp } from './helpers';

/** The plugin's name in the validation report (aws-cdk-lib CloudFormationValidatePlugin.PLUGIN_NAME). */
const PLUGIN = 'CloudFormation Validate';

interface ReportViolation {
  ruleName: string;
  violatingConstructs?: { constructPath?: string }[];
}

/** One stack per variant in one app, so that the engine starts once and sees every resource type. */
function validatedApp(): App {
  const app = acknowledgePlainHttp(newApp({}, { builtinValidation: true }));
  STACK_VARIANTS.forEach(([, props], i) => {
    new OtelFargateStack(app, `Variant${i}`, { env: { region: TEST_REGION }, image: TEST_IMAGE, ...props });
  });
  // The image built from app/ and pushed as an asset: its repository and the execution role's pull rights.
  new OtelFargateStack(app, 'AssetImage', { env: { region: TEST_REGION } });
  return app;
}

function pluginReport(app: App): { violations: ReportViolation[]; suppressedViolations: ReportViolation[] } {
  const report = JSON.parse(fs.readFileSync(path.join(app.outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { pluginName: string; violations?: ReportViolation[]; suppressedViolations?: ReportViolation[] }[];
  };
  const plugin = report.pluginReports.find((p) => p.pluginName === PLUGIN);
  if (!plugin) throw new Error(`no ${PLUGIN} report in validation-report.json`);
  return { violations: plugin.violations ?? [], suppressedViolations: plugin.suppressedViolations ?? [] };
}

describe("CloudFormation's own validation at synth", () => {
  // Synthesized once for the tests below, which only read its report.
  const app = validatedApp();
  let synthError: unknown;
  try {
    app.synth();
  } catch (error) {
    synthError = error; // the report is written first: the test below shows what it found
  }
  const report = pluginReport(app);

  test('finds nothing in any variant of the stack, nor with the image built from app/', () => {
    expect(report.violations).toEqual([]);
    expect(synthError).toBeUndefined();
  });

  test("waives only E1029 at each task definition, for the collector's own ${env:AWS_REGION} expansion", () => {
    const waived = report.suppressedViolations.flatMap((v) =>
      (v.violatingConstructs ?? []).map((c) => [v.ruleName, c.constructPath]),
    );
    const stacks = [...STACK_VARIANTS.map((_, i) => `Variant${i}`), 'AssetImage'];
    expect(waived.sort()).toEqual(
      stacks.map((stack) => ['E1029', `${stack}/ObservedTask/TaskDefinition/Resource`]).sort(),
    );
  });
});
