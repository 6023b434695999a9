import { RemovalPolicy } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AWS_REGION_PATTERN, ConfigError, parseConfig } from '../app/src/config';
import { CONTEXT_KEYS, ContextError, stackPropsFromContext } from '../bin/context';
import { main } from '../bin/otel-fargate';
import { RULES } from '../lib/settings';

function fromContext(context: Record<string, unknown>, options: { defaultRegion?: string } = {}) {
  return stackPropsFromContext((key) => context[key], { keys: Object.keys(context), ...options });
}

describe('reading the CDK context', () => {
  test('with no context, every prop is left to its default', () => {
    expect(fromContext({})).toEqual({});
  });

  test('turns good values, including the strings `-c key=value` passes, into typed props', () => {
    expect(
      fromContext({
        region: 'ap-northeast-1',
        serviceName: 'checkout',
        logGroupName: '/demo/checkout',
        logRetentionDays: '14',
        desiredCount: 3,
        minTasks: '2',
        maxTasks: '12',
        cpu: '1024',
        memoryMiB: 3072,
        cpuArchitecture: 'X86_64',
        natGateways: '0',
        certificateArn: 'arn:aws:acm:ap-northeast-1:123456789012:certificate/abcd-1234',
        collectorVersion: 'v0.48.0',
        fluentBitVersion: '2.34.3.20260209',
        samplingRate: '0.25',
        samplingReservoirPerSecond: '0',
        recordEveryRequest: 'false',
        containerInsights: 'disabled',
        alarmEmail: 'ops@example.com',
        alarmEvaluationMinutes: '3',
        alarm5xxPercent: 2,
        alarmP99LatencyMs: '250',
        alarmErrorLines: '1',
        alarmSpanExportMinutes: 10,
        deletionProtection: 'true',
        adoptLogGroup: 'true',
        waf: 'true',
        wafRateLimit: '300',
        budgetMonthlyUsd: '150',
        budgetEmail: 'finance@example.com',
      }),
    ).toEqual({
      deletionProtection: true,
      region: 'ap-northeast-1',
      serviceName: 'checkout',
      logGroupName: '/demo/checkout',
      logRetention: 14,
      desiredCount: 3,
      minTasks: 2,
      maxTasks: 12,
      cpu: 1024,
      memoryLimitMiB: 3072,
      cpuArchitecture: ecs.CpuArchitecture.X86_64,
      natGateways: 0,
      certificateArn: 'arn:aws:acm:ap-northeast-1:123456789012:certificate/abcd-1234',
      collectorVersion: 'v0.48.0',
      fluentBitVersion: '2.34.3.20260209',
      samplingRate: 0.25,
      samplingReservoirPerSecond: 0,
      recordEveryRequest: false,
      containerInsights: ecs.ContainerInsights.DISABLED,
      alarmEmail: 'ops@example.com',
      alarmEvaluationMinutes: 3,
      alarm5xxPercent: 2,
      alarmP99LatencyMs: 250,
      alarmErrorLines: 1,
      alarmSpanExportMinutes: 10,
      adoptLogGroup: true,
      webFirewall: true,
      webFirewallRateLimit: 300,
      monthlyBudgetUsd: 150,
      budgetEmail: 'finance@example.com',
    });
  });

  test('takes waf as a boolean or the strings true and false', () => {
    expect(fromContext({ waf: true })).toEqual({ webFirewall: true });
    expect(fromContext({ waf: 'false' })).toEqual({ webFirewall: false });
  });

  test('a budget emails alarmEmail when budgetEmail is not given', () => {
    expect(fromContext({ budgetMonthlyUsd: 40, alarmEmail: 'ops@example.com' })).toEqual({
      monthlyBudgetUsd: 40,
      alarmEmail: 'ops@example.com',
    });
  });

  test('takes adoptLogGroup as a boolean or the strings true and false', () => {
    expect(fromContext({ adoptLogGroup: true })).toEqual({ adoptLogGroup: true });
    expect(fromContext({ adoptLogGroup: 'false' })).toEqual({ adoptLogGroup: false });
  });

  test('takes the sampling settings as JSON values from cdk.json too', () => {
    expect(fromContext({ samplingRate: 1, samplingReservoirPerSecond: 50, recordEveryRequest: true })).toEqual({
      samplingRate: 1,
      samplingReservoirPerSecond: 50,
      recordEveryRequest: true,
    });
    expect(fromContext({ samplingRate: 0 })).toEqual({ samplingRate: 0 });
  });

  test('ordersTableRemovalPolicy takes retain or destroy, the deletion policies a DynamoDB table has', () => {
    expect(fromContext({ ordersTableRemovalPolicy: 'retain' })).toEqual({
      ordersTableRemovalPolicy: RemovalPolicy.RETAIN,
    });
    expect(fromContext({ ordersTableRemovalPolicy: 'destroy' })).toEqual({
      ordersTableRemovalPolicy: RemovalPolicy.DESTROY,
    });
  });

  test('containerInsights takes ECS’s three names for the setting', () => {
    expect(fromContext({ containerInsights: 'enhanced' })).toEqual({
      containerInsights: ecs.ContainerInsights.ENHANCED,
    });
    expect(fromContext({ containerInsights: 'enabled' })).toEqual({ containerInsights: ecs.ContainerInsights.ENABLED });
  });
});

describe('a bad context value fails naming the key and what it accepts', () => {
  const badValues: [key: string, value: unknown, accepts: RegExp][] = [
    ['region', 'Europe', /an AWS region name/],
    ['profile', 'strict', /one of default, governed/],
    ['deletionProtection', 'yes', /true or false/],
    ['ordersTableRemovalPolicy', 'snapshot', /one of retain, destroy \(what cdk destroy does with the table\)/],
    ['serviceName', 'my service', /letters, digits/],
    ['logGroupName', 'otel test!', /CloudWatch Logs group name/],
    ['logRetentionDays', '10', /retention periods: 1, 3, 5, 7, 14, 30/],
    ['desiredCount', '0', /a whole number from 1 to 100/],
    ['minTasks', 'two', /a whole number from 1 to 100/],
    ['maxTasks', 1.5, /a whole number from 1 to 100/],
    ['cpu', '300', /a Fargate CPU size: 256, 512, 1024/],
    ['memoryMiB', '100', /a whole number from 512 to 122880/],
    ['cpuArchitecture', 'arm', /'ARM64' or 'X86_64'/],
    ['natGateways', '3', /a whole number from 0 to 2/],
    ['certificateArn', 'my-cert', /an ACM certificate ARN/],
    ['collectorVersion', 'latest', /an ADOT collector release tag/],
    ['fluentBitVersion', 'stable', /an immutable AWS for Fluent Bit tag/],
    ['samplingRate', '5%', /a number from 0 to 1, the share of requests recorded beyond the reservoir/],
    ['samplingReservoirPerSecond', '-1', /a whole number from 0 to 10000/],
    ['recordEveryRequest', 'yes', /true or false/],
    ['containerInsights', 'off', /one of enhanced, enabled, disabled/],
    ['alarmEmail', 'ops@example', /one email address/],
    ['alarmEvaluationMinutes', '0', /a whole number from 1 to 60/],
    ['alarm5xxPercent', '0.5', /a whole number from 1 to 100/],
    ['alarmP99LatencyMs', '90000', /a whole number from 1 to 60000/],
    ['alarmErrorLines', 'many', /a whole number from 1 to 100000/],
    ['alarmSpanExportMinutes', '61', /a whole number from 1 to 60/],
    ['adoptLogGroup', 'yes', /true or false/],
    ['waf', 'on', /true or false/],
    ['wafRateLimit', '5', /a whole number from 10 to 2000000000/],
    ['budgetMonthlyUsd', '99.50', /a whole number from 1 to 1000000/],
    ['budgetEmail', 'finance', /one email address/],
  ];

  test('every key the app reads has a case here', () => {
    expect(badValues.map(([key]) => key).sort()).toEqual(Object.keys(CONTEXT_KEYS).sort());
  });

  test.each(badValues)('%s = %p', (key, value, accepts) => {
    const read = () => fromContext({ [key]: value });
    expect(read).toThrow(new RegExp(`context key '${key}' is ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}`));
    expect(read).toThrow(accepts);
  });

  test('several bad keys are all reported at once', () => {
    expect(() => fromContext({ cpu: 'x', natGateways: 'y' })).toThrow(/'cpu'[\s\S]*'natGateways'/);
  });
});

/**
 * The AWS SDK's partitions (the file its endpoint resolution reads: @aws-sdk/core,
 * dist-es/submodules/client/util-endpoints/lib/aws/partitions.js, the SDK's partitions.json as a module): each
 * partition's regionRegex and the regions it lists.
 */
function sdkPartitions(): { id: string; regionRegex: string; regions: Record<string, unknown> }[] {
  const core = path.dirname(require.resolve('@aws-sdk/core/package.json'));
  const text = fs.readFileSync(
    path.join(core, 'dist-es/submodules/client/util-endpoints/lib/aws/partitions.js'),
    'utf8',
  );
  return JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)).partitions;
}

describe('the CDK context and the service accept the same region names', () => {
  /** What each edge makes of a region: the CDK context key `region`, and the service's AWS_REGION (with a table). */
  function acceptedByContext(region: string): boolean {
    try {
      return fromContext({ region }).region === region;
    } catch (error) {
      if (error instanceof ContextError) return false;
      throw error;
    }
  }
  function acceptedByService(region: string): boolean {
    try {
      const orders = parseConfig({ ORDERS_TABLE_NAME: 'orders', AWS_REGION: region }).orders;
      return orders.store === 'dynamodb' && orders.region === region;
    } catch (error) {
      if (error instanceof ConfigError && error.variable === 'AWS_REGION') return false;
      throw error;
    }
  }

  const partitions = sdkPartitions();
  /** Every real region: the SDK's that follow their partition's regionRegex (not `aws-global`), and aws-cdk-lib's. */
  const realRegions = [
    ...new Set([
      ...partitions.flatMap(({ regionRegex, regions }) =>
        Object.keys(regions).filter((region) => new RegExp(regionRegex).test(region)),
      ),
      ...RegionInfo.regions.map(({ name }) => name),
    ]),
  ].sort();
  const good = [
    'eu-west-1',
    'ap-southeast-5',
    'cn-northwest-1',
    'us-gov-west-1',
    'us-isof-south-1',
    'eu-isoe-west-1',
    'eusc-de-east-1',
    // Not a region yet, but of a region's form: new regions keep it.
    'eu-south-3',
  ];
  const bad = [
    'Europe',
    'eu-west',
    'EU-WEST-1',
    'eu_west_1',
    'eu-west-1a', // an availability zone
    'euw1', // an availability zone ID's region part
    'europe-west1', // Google Cloud's form
    'aws-global', // the SDK's pseudo-region for global endpoints
    'e-west-1',
    'europe-west-1',
    'us-gov-iso-west-1',
    'eu-west-1-',
    'ap-southeasternmost-1', // the form, but 21 characters
  ];

  test('every real region has the form: each SDK partition lists some, and aws-cdk-lib knows the newest', () => {
    expect(partitions.map(({ id }) => id)).toEqual(expect.arrayContaining(['aws', 'aws-cn', 'aws-us-gov', 'aws-eusc']));
    expect(realRegions).toEqual(expect.arrayContaining(['us-east-1', 'us-isof-south-1', 'eusc-de-east-1']));
    expect(realRegions.filter((region) => !acceptedByContext(region) || !acceptedByService(region))).toEqual([]);
  });

  test("the 20-character bound (the alarms' console URLs) holds for every real region", () => {
    expect(realRegions.filter((region) => region.length > 20)).toEqual([]);
  });

  test.each(good.map((region) => [region]))('both accept %s', (region) => {
    expect([acceptedByContext(region), acceptedByService(region)]).toEqual([true, true]);
  });

  test.each(bad.map((region) => [region]))('both refuse %p', (region) => {
    expect([acceptedByContext(region), acceptedByService(region)]).toEqual([false, false]);
  });

  test('each edge keeps the pattern (the service cannot import the CDK app), and the two are one', () => {
    expect(AWS_REGION_PATTERN.source).toBe(RULES.region.pattern.source);
  });
});

describe('values that are good alone but not together', () => {
  test('memory that Fargate does not offer with the CPU size names memoryMiB and the sizes it accepts', () => {
    expect(() => fromContext({ cpu: 256, memoryMiB: 4096 })).toThrow(
      /'memoryMiB' is 4096, which Fargate does not offer with cpu 256; it accepts 512, 1024, 2048/,
    );
  });

  test('a default memory that does not fit a larger CPU is reported too', () => {
    expect(() => fromContext({ cpu: 2048 })).toThrow(/'memoryMiB' is 1024, which Fargate does not offer with cpu 2048/);
  });

  test('a rate limit without the web ACL names wafRateLimit', () => {
    expect(() => fromContext({ wafRateLimit: 500 })).toThrow(/'wafRateLimit' is 500; it applies only with waf=true/);
    expect(() => fromContext({ waf: 'false', wafRateLimit: 500 })).toThrow(/applies only with waf=true/);
  });

  test('a budget with nobody to email names budgetMonthlyUsd', () => {
    expect(() => fromContext({ budgetMonthlyUsd: 100 })).toThrow(
      /'budgetMonthlyUsd' is 100; it needs budgetEmail \(or alarmEmail\) to notify/,
    );
  });

  test('a budget email without a budget names budgetEmail', () => {
    expect(() => fromContext({ budgetEmail: 'a@example.com' })).toThrow(
      /'budgetEmail' is "a@example.com"; it applies only with budgetMonthlyUsd/,
    );
  });

  test('a sampling rate above 1 names samplingRate', () => {
    expect(() => fromContext({ samplingRate: '1.5' })).toThrow(
      /context key 'samplingRate' is "1.5"; it accepts a number from 0 to 1/,
    );
  });

  test('recordEveryRequest with a sampling rate other than 1 names samplingRate', () => {
    expect(() => fromContext({ recordEveryRequest: 'true', samplingRate: '0.1' })).toThrow(
      /'samplingRate' is 0.1, but recordEveryRequest is true \(a rate of 1\); it accepts only 1 then/,
    );
    expect(fromContext({ recordEveryRequest: 'true', samplingRate: '1' })).toEqual({
      recordEveryRequest: true,
      samplingRate: 1,
    });
  });

  test('scaling bounds that exclude the desired count name the bound', () => {
    expect(() => fromContext({ desiredCount: 3, minTasks: 4 })).toThrow(
      /'minTasks' is 4; it accepts at most desiredCount \(3\)/,
    );
    expect(() => fromContext({ desiredCount: 8, maxTasks: 4 })).toThrow(
      /'maxTasks' is 4; it accepts at least desiredCount \(8\)/,
    );
  });
});

describe('the governed profile', () => {
  const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/abcd-1234';

  test('is read from the context with the settings it needs', () => {
    expect(fromContext({ profile: 'governed', certificateArn: CERTIFICATE })).toEqual({
      profile: 'governed',
      certificateArn: CERTIFICATE,
    });
    expect(fromContext({ profile: 'default' })).toEqual({ profile: 'default' });
  });

  test('without a certificate fails naming certificateArn and the control that needs HTTPS', () => {
    expect(() => fromContext({ profile: 'governed' })).toThrow(
      /context key 'certificateArn' is required with profile=governed: CT\.ELASTICLOADBALANCING\.PR\.1/,
    );
  });

  test('refuses, all at once and each with its control, the settings its controls refuse', () => {
    const read = () =>
      fromContext({
        profile: 'governed',
        certificateArn: CERTIFICATE,
        natGateways: 0,
        logRetentionDays: 30,
        containerInsights: 'enhanced',
        deletionProtection: 'false',
      });
    expect(read).toThrow(/context key 'natGateways' is 0.*CT\.ECS\.PR\.9/);
    expect(read).toThrow(
      /context key 'logRetentionDays' is 30; profile=governed needs at least 365 \(CT\.CLOUDWATCH\.PR\.2\)/,
    );
    expect(read).toThrow(
      /context key 'containerInsights' is 'enhanced'; profile=governed needs 'enabled'.*CT\.ECS\.PR\.2/,
    );
    expect(read).toThrow(/context key 'deletionProtection' is false; profile=governed needs true/);
  });

  test('accepts a retention of a year or more, or forever', () => {
    for (const days of [365, 3653, 9999]) {
      expect(fromContext({ profile: 'governed', certificateArn: CERTIFICATE, logRetentionDays: days })).toMatchObject({
        logRetention: days,
      });
    }
  });

  test('the same settings are fine in the default profile', () => {
    expect(() => fromContext({ natGateways: 0, logRetentionDays: 30, deletionProtection: false })).not.toThrow();
  });
});

describe('task memory for the sidecars’ hard limits', () => {
  test('a task that leaves the service less than 192 MiB names memoryMiB', () => {
    expect(() => fromContext({ cpu: 256, memoryMiB: 512 })).toThrow(
      /'memoryMiB' is 512, which leaves the service 128 MiB after the sidecars' hard limits \(collector 256, log router 128\)/,
    );
    expect(() => fromContext({ cpu: 256, memoryMiB: 1024 })).not.toThrow();
  });
});

describe("an unknown key in the app's context fails, naming the key and the closest known one", () => {
  test('a misspelt key names the key it most likely meant', () => {
    expect(() => fromContext({ natGateway: '0' })).toThrow(
      /context key 'natGateway' \(set to "0"\) is not one this app reads; did you mean 'natGateways'\?/,
    );
    expect(() => fromContext({ logretentiondays: 7 })).toThrow(/did you mean 'logRetentionDays'\?/);
    expect(() => fromContext({ memory: '2048' })).toThrow(/did you mean 'memoryMiB'\?/);
  });

  test('every key the app reads is known, and a wrong case of it points back to it', () => {
    for (const key of Object.keys(CONTEXT_KEYS)) {
      expect(() => stackPropsFromContext(() => undefined, { keys: [key] })).not.toThrow();
      expect(() => fromContext({ [key.toUpperCase()]: 'x' })).toThrow(`did you mean '${key}'?`);
    }
  });

  test('a key like no known one lists the keys the app reads', () => {
    expect(() => fromContext({ colour: 'blue' })).toThrow(
      `'colour' (set to "blue") is not one this app reads; the app reads ${Object.keys(CONTEXT_KEYS)
        .map((key) => `'${key}'`)
        .join(', ')}`,
    );
  });

  test("the CDK's own keys are not the app's: feature flags, the CLI's keys and cached lookups pass", () => {
    // cdk.json's feature flags; the keys the CLI adds (aws-cdk CLI, contextFromSettings in lib/index.js, and the
    // notices it acknowledges in cdk.context.json); a cached lookup; aws-ecr-assets' repository name override.
    const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')) as {
      context: Record<string, unknown>;
    };
    const cdkKeys = [
      ...Object.keys(cdkJson.context),
      'aws:cdk:enable-path-metadata',
      'aws:cdk:enable-asset-metadata',
      'aws:cdk:version-reporting',
      'aws:cdk:bundling-stacks',
      'acknowledged-issue-numbers',
      'availability-zones:account=123456789012:region=eu-west-1',
      'assets-ecr-repository-name',
    ];
    expect(fromContext(Object.fromEntries(cdkKeys.map((key) => [key, true])))).toEqual({});
  });

  test('unknown keys and bad values are reported together', () => {
    expect(() => fromContext({ natGateway: 0, cpu: 'x' })).toThrow(/'natGateway'[\s\S]*\n {2}- context key 'cpu'/);
  });
});

describe('a certificate from another region fails at the context, like any bad value', () => {
  const arn = 'arn:aws:acm:eu-west-1:123456789012:certificate/abcd-1234';

  test('against the region key', () => {
    expect(() => fromContext({ certificateArn: arn, region: 'us-east-1' })).toThrow(
      /'certificateArn' is a certificate in eu-west-1; it accepts a certificate in the stack's region \(us-east-1\)/,
    );
  });

  test("against the CLI's region when the key is not set", () => {
    expect(() => fromContext({ certificateArn: arn }, { defaultRegion: 'us-east-2' })).toThrow(/region \(us-east-2\)/);
    expect(fromContext({ certificateArn: arn }, { defaultRegion: 'eu-west-1' })).toEqual({ certificateArn: arn });
  });
});

describe('what the app prints on a configuration error', () => {
  test('a configuration error prints its message alone and exits 1', () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(
        main(() => {
          throw new ContextError('Invalid CDK context: something');
        }),
      ).toBe(1);
      expect(write.mock.calls).toEqual([['Invalid CDK context: something\n']]);
    } finally {
      write.mockRestore();
    }
  });

  test('a real bug is thrown on, keeping its stack trace', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'port')");
    expect(() =>
      main(() => {
        throw bug;
      }),
    ).toThrow(bug);
  });

  test('every context error is a ContextError', () => {
    expect(() => fromContext({ natGateways: 'x' })).toThrow(ContextError);
  });
});
