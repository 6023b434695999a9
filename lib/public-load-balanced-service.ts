// A Fargate service behind a public Application Load Balancer: HTTP (with a synth warning), or HTTPS with a
// redirect, HSTS and nosniff when a certificate is given; invalid header fields dropped; deletion protection when
// asked; access logs to an encrypted, TLS-only bucket that expires them (versioned, locked, logged and announced to
// EventBridge when governed); tasks whose security group admits the load balancer and lets out HTTPS only; health
// checks on the service's path; circuit breaker with rollback; scaling on CPU and on requests per target.
import { Annotations, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { waiveControl } from './control-tower';
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

  /** Refuse to delete the load balancer until the attribute is turned off. @default false */
  readonly deletionProtection?: boolean;

  /**
   * Make the access log bucket meet AWS Control Tower's S3 controls where ELB allows: versioning, Object Lock
   * (without a default retention), server access logging into itself, and EventBridge notifications. @default false
   */
  readonly governedAccessLogBucket?: boolean;
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

    this.accessLogsBucket = this.createAccessLogBucket(props);

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.cluster.vpc,
      internetFacing: true,
      dropInvalidHeaderFields: true,
      // ELB's default, stated: the service's keep-alive (65 s) must outlast it, and its request limit (30 s) end
      // within it (app/src/config.ts).
      idleTimeout: PublicLoadBalancedService.IDLE_TIMEOUT,
      deletionProtection: props.deletionProtection ?? false,
    });
    this.loadBalancer.logAccessLogs(this.accessLogsBucket, 'alb');
    if (!props.deletionProtection) {
      waiveControl(
        this.loadBalancer,
        'CT.ELASTICLOADBALANCING.PR.5',
        'Deletion protection is off (context key deletionProtection=false, the default profile) so that ' +
          '`cdk destroy` removes the load balancer in one step; with it on, the attribute must be turned off first. ' +
          'profile=governed turns it on.',
      );
    }

    // Ingress comes from the load balancer only (the pattern adds it, on the container port, for traffic and health
    // checks). Egress is HTTPS to AWS endpoints: ECR and S3 for the image, X-Ray, CloudWatch Logs, all through NAT
    // (or the task's public IP). DNS to the VPC resolver and the task metadata and credentials endpoints are not
    // filtered by security groups, so they need no rule.
    const taskSecurityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: props.cluster.vpc,
      allowAllOutbound: false,
      description: 'The service tasks: traffic from the load balancer in, HTTPS to AWS endpoints out',
    });
    taskSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to AWS endpoints: ECR, S3, X-Ray, CloudWatch Logs',
    );

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
      securityGroups: [taskSecurityGroup],
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
    // The pattern always adds two outputs of its own, the load balancer's DNS name and its URL, under generated
    // logical IDs (aws-ecs-patterns ApplicationLoadBalancedServiceBase). The stack reports the URL once, as
    // ServiceUrl, so a reader meets one URL, not three.
    this.service.node.tryRemoveChild('LoadBalancerDNS');
    this.service.node.tryRemoveChild('ServiceURL');
    this.url = `${certificate ? 'https' : 'http'}://${this.loadBalancer.loadBalancerDnsName}`;
    if (!certificate) {
      waiveControl(
        this.service.listener,
        'CT.ELASTICLOADBALANCING.PR.1',
        'Without a certificate (context key certificateArn unset) the quick start serves plain HTTP on port 80, ' +
          'so that it deploys without a domain; there is no HTTPS listener to redirect to. With certificateArn set, ' +
          'and always with profile=governed, port 80 only redirects to HTTPS.',
      );
    }
    if (props.assignPublicIp) {
      waiveControl(
        this.service.service,
        'CT.ECS.PR.9',
        'The deployer chose natGateways=0, the cheapest setup: the tasks run in public subnets and need public IPs ' +
          'to reach ECR, X-Ray and CloudWatch Logs. Their security group still admits only the load balancer. ' +
          'profile=governed refuses natGateways=0.',
      );
    }

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
          'with -c certificateArn=<ACM certificate ARN> for HTTPS, or put CloudFront in front (docs/security.md: ' +
          '"HTTPS without a domain of your own").',
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

  private createAccessLogBucket(props: PublicLoadBalancedServiceProps): s3.Bucket {
    const governed = props.governedAccessLogBucket ?? false;
    const bucket = new s3.Bucket(this, 'AccessLogs', {
      // Load balancer access logs support SSE-S3 only.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: governed
        ? [
            // Expiry leaves a delete marker over a noncurrent version: kept 30 days more, then both go.
            {
              expiration: props.accessLogExpiration ?? Duration.days(90),
              noncurrentVersionExpiration: Duration.days(30),
            },
            { expiredObjectDeleteMarker: true },
          ]
        : [{ expiration: props.accessLogExpiration ?? Duration.days(90) }],
      ...(governed
        ? {
            versioned: true,
            // No default retention: S3 server access logging refuses a destination bucket that has one.
            objectLockEnabled: true,
            // Into itself: a bucket in the same account and region must receive them, and any other bucket would
            // itself need logging (CT.S3.PR.2), without end.
            serverAccessLogsPrefix: 's3-access-logs/',
          }
        : {}),
    });
    waiveControl(
      bucket,
      'CT.S3.PR.10',
      'Application Load Balancer access logs can be delivered only to a bucket whose default encryption is SSE-S3 ' +
        '(Amazon S3 managed keys); ELB cannot write to a bucket encrypted with SSE-KMS. The bucket refuses ' +
        'non-TLS requests and blocks public access.',
    );
    if (governed) {
      // A bucket property, not the CDK's notification custom resource (which would add a Lambda function).
      (bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
        eventBridgeConfiguration: { eventBridgeEnabled: true },
      };
      return bucket;
    }
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket only receives the load balancer access logs; logging its own accesses to another bucket ' +
        'would add a bucket per bucket without adding evidence about the service.',
    });
    const governedOnly = 'profile=governed turns it on.';
    waiveControl(
      bucket,
      'CT.S3.PR.2',
      'The bucket only receives the load balancer access logs; a log of the reads and writes of those logs adds ' +
        `objects without evidence about the service. ${governedOnly}`,
    );
    waiveControl(
      bucket,
      'CT.S3.PR.4',
      'Nothing in this stack acts on a new access log object, so there is no event to send; EventBridge ' +
        `notifications cost nothing until a rule matches. ${governedOnly}`,
    );
    waiveControl(
      bucket,
      'CT.S3.PR.9',
      'The load balancer writes each log object once under a unique key and the lifecycle rule expires it; Object ' +
        `Lock can never be turned off again and would replace this bucket. ${governedOnly}`,
    );
    waiveControl(
      bucket,
      'CT.S3.PR.11',
      'The load balancer writes each log object once under a unique key, so versioning would only keep objects ' +
        `after their expiry. ${governedOnly}`,
    );
    return bucket;
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
