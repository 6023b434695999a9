#!/usr/bin/env node
// The CDK app: reads the context, builds the stack, and runs cdk-nag's AwsSolutions checks and AWS Control Tower's
// proactive controls (cfn-guard) on every synth.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { controlTowerChecks } from '../lib/control-tower';
import { OtelFargateStack } from '../lib/otel-fargate-stack';
import { stackPropsFromContext } from './context';

/** Adds the stack, configured from the app's context, and the checks that fail synth on an unwaived finding. */
export function addOtelFargateStack(app: App, environment: NodeJS.ProcessEnv = process.env): OtelFargateStack {
  const { region, ...props } = stackPropsFromContext((key) => app.node.tryGetContext(key));
  const stack = new OtelFargateStack(app, 'OtelFargateStack', {
    description: 'An OpenTelemetry-instrumented service on Fargate: traces to X-Ray, logs to CloudWatch Logs',
    // A region but no account: synth needs no credentials, and the load balancer's access logging (whose
    // bucket policy differs by region) has the region it needs.
    env: { region: region ?? environment.CDK_DEFAULT_REGION ?? 'us-east-1' },
    ...props,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), controlTowerChecks());
  return stack;
}

if (require.main === module) {
  addOtelFargateStack(new App());
}
