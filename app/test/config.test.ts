// Configuration is validated once at start: a bad value exits non-zero with one JSON line naming the variable.
import { spawnSync } from 'node:child_process';
import { ConfigError, parseConfig, parseResourceAttributes } from '../src/config';
import { APP_DIR, baseEnv, ENTRY } from './support/service';

describe('configuration defaults', () => {
  it('when nothing is set, then the contract defaults apply', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      port: 8080,
      logLevel: 'info',
      sdkDisabled: false,
      otlpEndpoint: 'http://localhost:4317',
      serviceName: 'otel-fargate-service',
      resourceAttributes: { 'aws.log.group.names': ['otel-test'] },
      bsp: { maxQueueSize: 16384, maxExportBatchSize: 512, scheduledDelayMillis: 200 },
    });
  });

  it("when OTEL_RESOURCE_ATTRIBUTES holds the task's log group, then names and ARNs become lists", () => {
    const attributes = parseResourceAttributes(
      'aws.log.group.names=otel-test,aws.log.group.arns=arn:aws:logs:eu-west-1:123456789012:log-group:otel-test,team=a%20b',
    );
    expect(attributes).toEqual({
      'aws.log.group.names': ['otel-test'],
      'aws.log.group.arns': ['arn:aws:logs:eu-west-1:123456789012:log-group:otel-test'],
      team: 'a b',
    });
  });

  it('when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, then it wins over OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    expect(
      parseConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://generic:4317',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4317',
      }).otlpEndpoint,
    ).toBe('http://traces:4317');
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://generic:4317' }).otlpEndpoint).toBe(
      'http://generic:4317',
    );
  });

  it('when the queue is smaller than the default batch, then the batch defaults to the queue size', () => {
    expect(parseConfig({ OTEL_BSP_MAX_QUEUE_SIZE: '100' }).bsp).toMatchObject({
      maxQueueSize: 100,
      maxExportBatchSize: 100,
    });
  });

  it('when the batch is larger than the queue, then the configuration is refused', () => {
    expect(() => parseConfig({ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '200' })).toThrow(
      /OTEL_BSP_MAX_QUEUE_SIZE \(100\)/,
    );
  });

  it('when nothing is set, then the listeners cut slow requests inside the load balancer’s limits and cap connections', () => {
    expect(parseConfig({}).http).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 1024,
    });
  });

  it('when the header limit is raised past the default request limit, then the request limit follows it', () => {
    expect(parseConfig({ HTTP_HEADERS_TIMEOUT_MS: '45000' }).http).toMatchObject({
      headersTimeoutMs: 45_000,
      requestTimeoutMs: 45_001,
    });
  });

  it('when the request limit is not above the header limit, then the configuration is refused', () => {
    expect(() => parseConfig({ HTTP_HEADERS_TIMEOUT_MS: '2000', HTTP_REQUEST_TIMEOUT_MS: '2000' })).toThrow(
      /HTTP_REQUEST_TIMEOUT_MS must be an integer from HTTP_HEADERS_TIMEOUT_MS \+ 1 \(2001\)/,
    );
  });

  it('when OTEL_SERVICE_NAME is set, then it wins over service.name in the attributes', () => {
    expect(parseConfig({ OTEL_SERVICE_NAME: 'svc', OTEL_RESOURCE_ATTRIBUTES: 'service.name=other' }).serviceName).toBe(
      'svc',
    );
    expect(parseConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=other' }).serviceName).toBe('other');
  });
});

describe('the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG)', () => {
  it('when nothing is set, then the X-Ray rules are asked for on the collector proxy, as the ADOT distro does', () => {
    expect(parseConfig({}).sampler).toEqual({ name: 'xray', endpoint: 'http://localhost:2000', pollingIntervalS: 60 });
  });

  it("when the task's values are set, then they are used", () => {
    expect(
      parseConfig({
        OTEL_TRACES_SAMPLER: 'xray',
        OTEL_TRACES_SAMPLER_ARG: 'endpoint=http://localhost:2000,polling_interval=60',
      }).sampler,
    ).toEqual({ name: 'xray', endpoint: 'http://localhost:2000', pollingIntervalS: 60 });
  });

  it.each([
    ['always_on', undefined, { name: 'always_on' }],
    ['parentbased_always_on', undefined, { name: 'always_on' }],
    ['ALWAYS_OFF', undefined, { name: 'always_off' }],
    ['parentbased_always_off', undefined, { name: 'always_off' }],
    ['traceidratio', '0.25', { name: 'traceidratio', ratio: 0.25 }],
    ['parentbased_traceidratio', undefined, { name: 'traceidratio', ratio: 1 }],
    ['xray', ' polling_interval=10 ', { name: 'xray', endpoint: 'http://localhost:2000', pollingIntervalS: 10 }],
  ])('when OTEL_TRACES_SAMPLER=%s and its argument is %s, then the sampler is %o', (name, arg, expected) => {
    expect(
      parseConfig({ OTEL_TRACES_SAMPLER: name, ...(arg === undefined ? {} : { OTEL_TRACES_SAMPLER_ARG: arg }) })
        .sampler,
    ).toEqual(expected);
  });

  it.each([
    [{ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, 'OTEL_TRACES_SAMPLER', /one of xray, always_on/],
    [{ OTEL_TRACES_SAMPLER_ARG: 'endpoint=localhost:2000' }, 'OTEL_TRACES_SAMPLER_ARG', /endpoint=<http URL/],
    [{ OTEL_TRACES_SAMPLER_ARG: 'polling_interval=0' }, 'OTEL_TRACES_SAMPLER_ARG', /seconds from 1 to 3600/],
    [{ OTEL_TRACES_SAMPLER_ARG: 'polling_interval=5m' }, 'OTEL_TRACES_SAMPLER_ARG', /seconds from 1 to 3600/],
    [{ OTEL_TRACES_SAMPLER_ARG: 'interval=60' }, 'OTEL_TRACES_SAMPLER_ARG', /endpoint=.*polling_interval=/],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, 'OTEL_TRACES_SAMPLER_ARG', /0 to 1/],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' }, 'OTEL_TRACES_SAMPLER_ARG', /0 to 1/],
  ])('when %o, then the configuration is refused naming %s', (env, variable, accepts) => {
    let error: unknown;
    try {
      parseConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ variable, accepts: expect.stringMatching(accepts) });
  });
});

describe('the order store (ORDERS_TABLE_NAME)', () => {
  it('when no table is named, then orders are kept in memory', () => {
    expect(parseConfig({}).orders).toEqual({ store: 'memory' });
    expect(parseConfig({ ORDERS_TABLE_NAME: ' ', AWS_REGION: 'not a region' }).orders).toEqual({ store: 'memory' });
  });

  it("when the task's table and region are set, then orders go to that table, at the SDK's endpoint", () => {
    for (const region of ['eu-west-1', 'ap-southeast-5', 'cn-north-1', 'eusc-de-east-1']) {
      expect(parseConfig({ ORDERS_TABLE_NAME: 'orders', AWS_REGION: region }).orders).toMatchObject({ region });
    }
    expect(parseConfig({ ORDERS_TABLE_NAME: 'OtelFargate-Orders_1.a', AWS_REGION: 'us-gov-west-1' }).orders).toEqual({
      store: 'dynamodb',
      tableName: 'OtelFargate-Orders_1.a',
      region: 'us-gov-west-1',
    });
    expect(
      parseConfig({
        ORDERS_TABLE_NAME: 'orders',
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000/',
      }).orders,
    ).toMatchObject({ endpoint: 'http://127.0.0.1:8000' });
  });

  it.each([
    [
      { ORDERS_TABLE_NAME: 'orders' },
      'AWS_REGION',
      /an AWS region such as eu-west-1 \(required with ORDERS_TABLE_NAME\)/,
    ],
    [{ ORDERS_TABLE_NAME: 'orders', AWS_REGION: 'Ireland' }, 'AWS_REGION', /an AWS region/],
    [{ ORDERS_TABLE_NAME: 'x'.repeat(256), AWS_REGION: 'eu-west-1' }, 'ORDERS_TABLE_NAME', /3 to 255/],
    [
      { ORDERS_TABLE_NAME: 'orders', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_DYNAMODB: 'localhost:8000' },
      'AWS_ENDPOINT_URL_DYNAMODB',
      /http:\/\/ or https:\/\/ URL/,
    ],
  ])('when %j, then %s is refused', (env, variable, accepts) => {
    let error: unknown;
    try {
      parseConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ variable, accepts: expect.stringMatching(accepts) });
  });

  it('when a table is named without a region, then the service exits 1 with one JSON line naming AWS_REGION', () => {
    const result = spawnSync(process.execPath, ENTRY, {
      cwd: APP_DIR,
      env: baseEnv({ ORDERS_TABLE_NAME: 'orders' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'fatal', variable: 'AWS_REGION' });
  });
});

describe('a bad value at start', () => {
  it.each([
    ['PORT', 'http', /integer from 0 to 65535/],
    ['PORT', '70000', /integer from 0 to 65535/],
    ['LOG_LEVEL', 'loud', /one of fatal, error, warn, info, debug, trace, silent/],
    ['OTEL_SDK_DISABLED', 'yes', /true or false/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'localhost:4317', /http:\/\/ or https:\/\/ URL/],
    ['OTEL_RESOURCE_ATTRIBUTES', 'novalue', /key=value pairs/],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '0', /integer from 1/],
    ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE', '2048', /integer from 1 to 1024/],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'collector:4317', /http:\/\/ or https:\/\/ URL/],
    ['OTEL_BSP_SCHEDULE_DELAY', '-1', /integer from 0/],
    ['OTEL_BSP_EXPORT_TIMEOUT', 'soon', /integer from 1/],
    ['PRICING_URL', 'ftp://pricing', /http:\/\/ or https:\/\/ URL/],
    ['SHUTDOWN_TIMEOUT_MS', '60000', /integer from 100 to 25000/],
    ['OTEL_TRACES_SAMPLER', 'sometimes', /one of xray, always_on, always_off, traceidratio/],
    ['OTEL_LOG_LEVEL', 'chatty', /one of none, error, warn, info, debug, verbose, all/],
    ['OTEL_TRACES_SAMPLER_ARG', 'endpoint=ftp://proxy', /endpoint=<http URL of the X-Ray sampling proxy>/],
    ['HTTP_HEADERS_TIMEOUT_MS', '50', /integer from 100 to 60000/],
    ['HTTP_REQUEST_TIMEOUT_MS', '5000', /integer from HTTP_HEADERS_TIMEOUT_MS \+ 1 \(10001\) to 300000/],
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', 'long', /integer from 1000 to 600000/],
    ['MAX_CONNECTIONS', '0', /integer from 1 to 1000000/],
    ['ORDERS_TABLE_NAME', 'my orders', /a DynamoDB table name: 3 to 255 of A-Z a-z 0-9 _ \. -/],
    ['ORDERS_TABLE_NAME', 'ab', /a DynamoDB table name/],
  ])('when %s=%s, then the service exits 1 with one JSON line naming it', (variable, value, accepts) => {
    const result = spawnSync(process.execPath, ENTRY, {
      cwd: APP_DIR,
      // The service's own default sampler, so that its argument is read (the tests' default, always_on, takes none).
      env: baseEnv({ OTEL_TRACES_SAMPLER: 'xray', [variable]: value }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]) as Record<string, string>;
    expect(line).toMatchObject({ level: 'fatal', variable });
    expect(line.accepts).toMatch(accepts);
    expect(line.msg).toContain(variable);
  });
});
