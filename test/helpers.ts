// Builds the stack the way `cdk synth` does, for assertions on its template.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { OtelFargateStack, OtelFargateStackProps } from '../lib/otel-fargate-stack';
import { PLAIN_HTTP_WARNING_ID } from '../lib/public-load-balanced-service';

export const TEST_REGION = 'eu-west-1';

/** A registry image, so that tests that are not about the image skip staging app/ as an asset. */
export const TEST_IMAGE = ecs.ContainerImage.fromRegistry('example.com/service:1.0.0');

/** The feature flags from cdk.json: without them a test would check a template nobody deploys. */
const CDK_JSON_CONTEXT = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

/** An app with cdk.json's context, as the CLI gives it, plus any `-c` style values. */
export function newApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { ...CDK_JSON_CONTEXT, ...context } });
}

/**
 * Every synth of the HTTP-only default prints the plain-HTTP warning; tests that are not about the listener protocol
 * acknowledge it, so the test output holds only what a test is about (test/transport-security.test.ts checks it).
 */
export function acknowledgePlainHttp(app: App): App {
  Validations.of(app).acknowledge({
    id: `Annotation::${PLAIN_HTTP_WARNING_ID}`,
    reason: 'Tests that are not about the listener protocol need not repeat the plain-HTTP warning.',
  });
  return app;
}

export function buildStack(props: OtelFargateStackProps = {}): { app: App; stack: OtelFargateStack } {
  const app = acknowledgePlainHttp(newApp());
  const stack = new OtelFargateStack(app, 'TestStack', { env: { region: TEST_REGION }, image: TEST_IMAGE, ...props });
  return { app, stack };
}

export function synthTemplate(props: OtelFargateStackProps = {}): Template {
  return Template.fromStack(buildStack(props).stack);
}

interface ContainerDefinition {
  Name: string;
  [key: string]: unknown;
}

/** The task definition's containers, in their order. */
export function containers(template: Template): ContainerDefinition[] {
  const taskDefinitions = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  expect(taskDefinitions).toHaveLength(1);
  return (taskDefinitions[0].Properties as { ContainerDefinitions: ContainerDefinition[] }).ContainerDefinitions;
}

export function container(template: Template, name: string): ContainerDefinition {
  const found = containers(template).find((c) => c.Name === name);
  if (!found) throw new Error(`no container named ${name}`);
  return found;
}

/** A container's environment as a plain object. */
export function environmentOf(definition: ContainerDefinition): Record<string, unknown> {
  const entries = (definition.Environment ?? []) as { Name: string; Value: unknown }[];
  return Object.fromEntries(entries.map((e) => [e.Name, e.Value]));
}
