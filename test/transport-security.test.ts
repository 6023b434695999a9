// Plain HTTP by default says so at synth; with a certificate the load balancer itself adds HSTS and nosniff; and the
// load balancer's idle timeout sits between the service's request limit and its keep-alive (app/src/config.ts).
// Attribute keys: CloudFormation's AWS::ElasticLoadBalancingV2::Listener ListenerAttribute, as documented in
// aws-cdk-lib (pinned 2.276.0) aws-elasticloadbalancingv2/lib/elasticloadbalancingv2.generated.d.ts, set through
// BaseListener.setAttribute (aws-elasticloadbalancingv2/lib/shared/base-listener.js).
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from '../app/src/config';
import {
  PLAIN_HTTP_WARNING_ID,
  PublicLoadBalancedService,
  RESPONSE_HEADER_ATTRIBUTES,
  STRICT_TRANSPORT_SECURITY,
} from '../lib/public-load-balanced-service';
import { OtelFargateStack, OtelFargateStackProps } from '../lib/otel-fargate-stack';
import { TEST_IMAGE, TEST_REGION, newApp, sharedTemplate } from './helpers';

const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

/** Not `buildStack`, which acknowledges the plain-HTTP warning for the tests that are not about it. */
function buildStack(props: OtelFargateStackProps = {}): { stack: OtelFargateStack } {
  return {
    stack: new OtelFargateStack(newApp(), 'TestStack', { env: { region: TEST_REGION }, image: TEST_IMAGE, ...props }),
  };
}

type Listener = { Port: number; Protocol?: string; ListenerAttributes?: { Key: string; Value: string }[] };

function listeners(template: Template): Listener[] {
  return Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener')).map(
    (resource) => resource.Properties as Listener,
  );
}

function attributesOf(listener: Listener | undefined): Record<string, string> {
  return Object.fromEntries((listener?.ListenerAttributes ?? []).map(({ Key, Value }) => [Key, Value]));
}

describe('without a certificate (the quick start)', () => {
  // Each synth here prints its warnings through console.error: kept, to check that this one is printed.
  const printed: string[] = [];
  const printing = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    printed.push(args.map(String).join(' '));
  });
  afterAll(() => printing.mockRestore());
  const { stack } = buildStack();
  const template = Template.fromStack(stack);

  test('the stack still serves plain HTTP on port 80', () => {
    expect(listeners(template).map(({ Port, Protocol }) => [Port, Protocol])).toEqual([[80, 'HTTP']]);
  });

  test('synth prints the plain-HTTP warning with its acknowledgement ID', () => {
    expect(printed.join('\n')).toMatch(/WARNING The load balancer listens on plain HTTP/);
    expect(printed.join('\n')).toContain(`Acknowledge with 'Annotation::${PLAIN_HTTP_WARNING_ID}'`);
  });

  test('synth warns that the listener is plain HTTP and names the way to HTTPS', () => {
    const warnings = Annotations.fromStack(stack).findWarning('/TestStack/Web', Match.stringLikeRegexp('plain HTTP'));
    expect(warnings).toHaveLength(1);
    const message = warnings[0].entry.data as string;
    expect(message).toMatch(/certificateArn/);
    expect(message).toContain(PLAIN_HTTP_WARNING_ID);
  });

  test('the listener adds X-Content-Type-Options: nosniff but no HSTS, which browsers ignore over HTTP', () => {
    expect(attributesOf(listeners(template)[0])).toEqual({
      [RESPONSE_HEADER_ATTRIBUTES.contentTypeOptions]: 'nosniff',
    });
  });
});

describe('with a certificate', () => {
  const { stack } = buildStack({ certificateArn: CERTIFICATE_ARN });
  const template = Template.fromStack(stack);

  test('the HTTPS listener adds HSTS for a year, subdomains included, not preloaded, and nosniff', () => {
    const https = listeners(template).find((listener) => listener.Protocol === 'HTTPS');
    expect(attributesOf(https)).toEqual({
      [RESPONSE_HEADER_ATTRIBUTES.strictTransportSecurity]: 'max-age=31536000; includeSubDomains',
      [RESPONSE_HEADER_ATTRIBUTES.contentTypeOptions]: 'nosniff',
    });
    expect(STRICT_TRANSPORT_SECURITY).not.toMatch(/preload/);
  });

  test('the HTTP listener only redirects, with no header attributes', () => {
    const redirect = listeners(template).find((listener) => listener.Port === 80);
    expect(redirect?.ListenerAttributes).toBeUndefined();
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect' })],
    });
  });

  test('synth gives no plain-HTTP warning', () => {
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('plain HTTP'))).toEqual([]);
  });
});

describe('the load balancer’s timeouts and the service’s', () => {
  const template = sharedTemplate();
  const idleTimeoutMs =
    1000 *
    Number(
      (
        Object.values(template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'))[0].Properties
          .LoadBalancerAttributes as { Key: string; Value: string }[]
      ).find(({ Key }) => Key === 'idle_timeout.timeout_seconds')?.Value,
    );

  test('the idle timeout is stated in the template: 60 s', () => {
    expect(idleTimeoutMs).toBe(PublicLoadBalancedService.IDLE_TIMEOUT.toMilliseconds());
    expect(idleTimeoutMs).toBe(60_000);
  });

  test('the service keeps idle connections longer, so the load balancer closes them first (no 502 on reuse)', () => {
    expect(DEFAULT_KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(idleTimeoutMs);
  });

  test('the service ends a slow request before the load balancer would give up on the connection', () => {
    expect(DEFAULT_HEADERS_TIMEOUT_MS).toBeLessThan(DEFAULT_REQUEST_TIMEOUT_MS);
    expect(DEFAULT_REQUEST_TIMEOUT_MS).toBeLessThan(idleTimeoutMs);
  });
});
