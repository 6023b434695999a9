// Configuration is validated once at start: a bad value exits non-zero with one JSON line naming the variable.
import { spawnSync } from 'node:child_process';
import { parseConfig, parseResourceAttributes } from '../src/config';
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
    ['HTTP_HEADERS_TIMEOUT_MS', '50', /integer from 100 to 60000/],
    ['HTTP_REQUEST_TIMEOUT_MS', '5000', /integer from HTTP_HEADERS_TIMEOUT_MS \+ 1 \(10001\) to 300000/],
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', 'long', /integer from 1000 to 600000/],
    ['MAX_CONNECTIONS', '0', /integer from 1 to 1000000/],
  ])('when %s=%s, then the service exits 1 with one JSON line naming it', (variable, value, accepts) => {
    const result = spawnSync(process.execPath, ENTRY, {
      cwd: APP_DIR,
      env: baseEnv({ [variable]: value }),
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
