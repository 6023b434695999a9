// A Fargate service behind a public Application Load Balancer: HTTP (with a synth warning), or HTTPS with a
// redirect, HSTS and nosniff when a certificate is given; invalid header fields dropped; access logs to an
// encrypted, TLS-only bucket that expires them; health checks on the service's path; circuit breaker with rollback;
// scaling on CPU and on requests per target.
import { Annotations, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULTS, checkSetting, defaultMaxTasks } from './settings';

export interface PublicLoadBalancedServiceProps {
  /** The cluster the service runs in; the load balancer goes in its VPC's public subnets. */
  readonly cluster: ecs.ICluster;

  /** The task to run; its first essential container receives the traffic. */
  readonly taskDefinition: ecs.FargateTaskDefinition;

  /** Where the tasks run. */
  readonly taskSubnets: ec2.SubnetSelection;

  /** Give the tasks public IPs (needed in public subnets without NAT). @default false */
  readonly assignPublicIp?: boolean;

  /** The path the target group checks. @default '/healthz' */
  readonly healthCheckPath?: string;

  /** An ACM certificate in the stack's region, for HTTPS on 443 with HTTP redirected to it. @default - HTTP only, on port 80 */
  readonly certificateArn?: string;

  /** Tasks to run while no scaling is needed. @default 2 */
  readonly desiredCount?: number;

  /** The fewest tasks autoscaling keeps. @default desiredCount */
  readonly minTasks?: number;

  /** The most tasks autoscaling starts. @default - 6, or desiredCount if larger */
  readonly maxTasks?: number;

  /** Average CPU that scaling aims for, in percent. @default 60 */
  readonly targetCpuPercent?: number;

  /** Requests per target per minute that scaling aims for. @default 1000 */
  readonly targetRequestsPerTarget?: number;

  /** How long access logs are kept. @default Duration.days(90) */
  readonly accessLogExpiration?: Duration;
}

/**
 * HSTS for the HTTPS listener: one year, the domain's subdomains included, no `preload` (a preload list entry is
 * hard to undo). Browsers that saw it refuse plain HTTP to the host for that year, so turn HTTPS off only after it.
 */
export const STRICT_TRANSPORT_SECURITY = 'max-age=31536000; includeSubDomains';

/** The listener attributes that make the load balancer add a response header (ELB's header modification). */
export const RESPONSE_HEADER_ATTRIBUTES = {
  strictTransportSecurity: 'routing.http.response.strict_transport_security.header_value',
  contentTypeOptions: 'routing.http.response.x_content_type_options.header_value',
} as const;

/** The warning `cdk synth` prints for a deployment without a certificate; acknowledge it by this ID. */
export const PLAIN_HTTP_WARNING_ID = 'otel-fargate:plainHttpListener';

export class PublicLoadBalancedService extends Construct {
  /** Seconds the load balancer lets in-flight requests finish on a deregistering task. */
  static readonly DEREGISTRATION_DELAY = Duration.seconds(15);

  /** The load balancer's connection idle timeout, on both the client's and the target's connection. */
  static readonly IDLE_TIMEOUT = Duration.seconds(60);

  readonly service: ecsPatterns.ApplicationLoadBalancedFargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly accessLogsBucket: s3.Bucket;
  /** The URL users open: http://, or https:// when a certificate is given. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: PublicLoadBalancedServiceProps) {
    super(scope, id);
    const desiredCount = props.desiredCount ?? DEFAULTS.desiredCount;
    const minTasks = props.minTasks ?? desiredCount;
    const maxTasks = props.maxTasks ?? defaultMaxTasks(desiredCount);
    validateScaling(desiredCount, minTasks, maxTasks);
    if (props.certificateArn) validateCertificate(props.certificateArn, Stack.of(this).region);

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      // Load balancer access logs support SSE-S3 only.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: props.accessLogExpiration ?? Duration.days(90) }],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket only receives the load balancer access logs; logging its own accesses to another bucket ' +
        'would add a bucket per bucket without adding evidence about the service.',
    });

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.cluster.vpc,
      internetFacing: true,
      dropInvalidHeaderFields: true,
      // ELB's default, stated: the service's keep-alive (65 s) must outlast it, and its request limit (30 s) end
      // within it (app/src/config.ts).
      idleTimeout: PublicLoadBalancedService.IDLE_TIMEOUT,
    });
    this.loadBalancer.logAccessLogs(this.accessLogsBucket, 'alb');

    const certificate = props.certificateArn
      ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn)
      : undefined;
    this.service = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: props.taskDefinition,
      loadBalancer: this.loadBalancer,
      publicLoadBalancer: true,
      // With a load balancer passed in, the pattern leaves the listener closed unless told otherwise.
      openListener: true,
      desiredCount,
      taskSubnets: props.taskSubnets,
      assignPublicIp: props.assignPublicIp ?? false,
      circuitBreaker: { enable: true, rollback: true },
      // Tasks carry the service's tags (the stack's cost-allocation tag among them), so their Fargate cost does too.
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      enableECSManagedTags: true,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(30),
      ...(certificate
        ? {
            certificate,
            protocol: elbv2.ApplicationProtocol.HTTPS,
            redirectHTTP: true,
            sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
          }
        : { protocol: elbv2.ApplicationProtocol.HTTP }),
    });
    this.url = `${certificate ? 'https' : 'http'}://${this.loadBalancer.loadBalancerDnsName}`;

    // The load balancer adds these headers itself, so they are on every response it sends: the service's, its own
    // 502/503/504 pages (which never pass through the service) and those of any image the stack's `image` prop runs.
    // On the HTTP redirect listener HSTS would be ignored (RFC 6797 section 8.1), so only the serving listener has it.
    this.service.listener.setAttribute(RESPONSE_HEADER_ATTRIBUTES.contentTypeOptions, 'nosniff');
    if (certificate) {
      this.service.listener.setAttribute(RESPONSE_HEADER_ATTRIBUTES.strictTransportSecurity, STRICT_TRANSPORT_SECURITY);
    } else {
      Annotations.of(this).addWarningV2(
        PLAIN_HTTP_WARNING_ID,
        'The load balancer listens on plain HTTP (port 80): no certificateArn was given, so requests, responses and ' +
          'the trace IDs in them cross the internet unencrypted. Fine for a first look; before real use, deploy ' +
          'with -c certificateArn=<ACM certificate ARN> for HTTPS, or put CloudFront in front (README: "HTTPS ' +
          'without a domain of your own").',
      );
    }

    this.service.targetGroup.configureHealthCheck({
      path: props.healthCheckPath ?? DEFAULTS.healthCheckPath,
      healthyHttpCodes: '200',
      interval: Duration.seconds(15),
      timeout: Duration.seconds(5),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    });
    this.service.targetGroup.setAttribute(
      'deregistration_delay.timeout_seconds',
      String(PublicLoadBalancedService.DEREGISTRATION_DELAY.toSeconds()),
    );

    for (const securityGroup of this.loadBalancer.connections.securityGroups) {
      Validations.of(securityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'This is the public entry point of a web service: its listeners must accept any IPv4 client. ' +
          'The tasks behind it accept traffic from this load balancer only.',
      });
    }

    const scaling = this.service.service.autoScaleTaskCount({ minCapacity: minTasks, maxCapacity: maxTasks });
    scaling.scaleOnCpuUtilization('CpuScaling', {
      targetUtilizationPercent: props.targetCpuPercent ?? 60,
      scaleInCooldown: Duration.seconds(120),
      scaleOutCooldown: Duration.seconds(60),
    });
    scaling.scaleOnRequestCount('RequestScaling', {
      requestsPerTarget: props.targetRequestsPerTarget ?? 1000,
      targetGroup: this.service.targetGroup,
      scaleInCooldown: Duration.seconds(120),
      scaleOutCooldown: Duration.seconds(60),
    });
  }
}

function validateScaling(desiredCount: number, minTasks: number, maxTasks: number): void {
  if ([desiredCount, minTasks, maxTasks].some((value) => Token.isUnresolved(value))) return;
  if (!Number.isInteger(desiredCount) || desiredCount < 1) {
    throw new Error(`desiredCount must be a whole number of at least 1, got ${desiredCount}`);
  }
  if (!Number.isInteger(minTasks) || minTasks < 1 || minTasks > desiredCount) {
    throw new Error(`minTasks must be a whole number from 1 to desiredCount (${desiredCount}), got ${minTasks}`);
  }
  if (!Number.isInteger(maxTasks) || maxTasks < desiredCount) {
    throw new Error(`maxTasks must be a whole number of at least desiredCount (${desiredCount}), got ${maxTasks}`);
  }
}

function validateCertificate(certificateArn: string, stackRegion: string): void {
  if (Token.isUnresolved(certificateArn)) return;
  checkSetting('certificateArn', certificateArn);
  const certificateRegion = certificateArn.split(':')[3];
  if (!Token.isUnresolved(stackRegion) && certificateRegion !== stackRegion) {
    throw new Error(
      `certificateArn must be a certificate in the stack's region (${stackRegion}), since a load balancer ` +
        `uses certificates from its own region only; got one in ${certificateRegion}`,
    );
  }
}
