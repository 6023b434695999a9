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

export interface NewAppOptions {
  /**
   * Run aws-cdk-lib's built-in CloudFormation validation (cdk.json's `@aws-cdk/core:validateAgainstDefaultRules`) at
   * synth. Its WebAssembly engine takes seconds to start in every test file and again for each new resource type,
   * and it changes no template: tests that read templates leave it off, and test/cloudformation-validation.test.ts
   * runs it over every variant of `STACK_VARIANTS`; `cdk synth` always runs it (test/synth.test.ts).
   * @default false
   */
  readonly builtinValidation?: boolean;
}

/**
 * An app with cdk.json's context, as the CLI gives it, plus any `-c` style values. Without the constructs' creation
 * stack traces (`aws:cdk:disable-creation-stack-traces`): they go only into the cloud assembly's metadata, never into a
 * template, and under jest's source maps they cost more than the synth itself.
 */
export function newApp(context: Record<string, unknown> = {}, options: NewAppOptions = {}): App {
  return new App({
    builtinCloudFormationValidation: options.builtinValidation ?? false,
    context: { ...CDK_JSON_CONTEXT, 'aws:cdk:disable-creation-stack-traces': true, ...context },
  });
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

const TEST_CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

/** The deployer's choices that change which resources the stack has: checks that hold for every deployment run on each. */
export const STACK_VARIANTS: [name: string, props: OtelFargateStackProps][] = [
  ['the default deployment', {}],
  ['tasks in public subnets without NAT', { natGateways: 0 }],
  ['HTTPS with a certificate', { certificateArn: TEST_CERTIFICATE_ARN }],
  ['alarms emailed to an address', { alarmEmail: 'ops@example.com' }],
  ['Container Insights turned off', { containerInsights: ecs.ContainerInsights.DISABLED }],
  ['a WAF web ACL on the load balancer', { webFirewall: true, webFirewallRateLimit: 200 }],
  ['a monthly cost budget', { monthlyBudgetUsd: 150, budgetEmail: 'finance@example.com' }],
  ['the governed profile', { profile: 'governed', certificateArn: TEST_CERTIFICATE_ARN }],
];

export function buildStack(props: OtelFargateStackProps = {}): { app: App; stack: OtelFargateStack } {
  const app = acknowledgePlainHttp(newApp());
  const stack = new OtelFargateStack(app, 'TestStack', { env: { region: TEST_REGION }, image: TEST_IMAGE, ...props });
  return { app, stack };
}

/** A fresh synth of the stack: for a test about synthesis itself (two synths agree). Others take `sharedTemplate`. */
export function synthTemplate(props: OtelFargateStackProps = {}): Template {
  return Template.fromStack(buildStack(props).stack);
}

/** This test file's templates, by their props: synthesized once per variant, since tests only read them. */
const sharedTemplates = new Map<string, Template>();

/**
 * The template for `props`, synthesized on first use in this test file and shared by every test after (jest gives each
 * file its own copy of this module). Props other than strings, numbers and booleans (an image, an enum class) are not
 * compared by value, so those synthesize afresh.
 */
export function sharedTemplate(props: OtelFargateStackProps = {}): Template {
  const entries = Object.entries(props).sort(([a], [b]) => a.localeCompare(b));
  const plain = entries.every(([, value]) => ['string', 'number', 'boolean'].includes(typeof value));
  if (!plain) return synthTemplate(props);
  const key = JSON.stringify(entries);
  let template = sharedTemplates.get(key);
  if (!template) {
    template = synthTemplate(props);
    sharedTemplates.set(key, template);
  }
  return template;
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
