// What LocalTask gives the service, and how it fails, without running a whole task: the environment is the task
// definition's (lib/observed-task-definition.ts), moved to the collector's ports; a task that cannot start says why.
// The running task is exercised by translator.test.ts.
import { SAMPLER_ENVIRONMENT } from '../../../lib/observed-task-definition';
import { LocalTask, logGroupArn, serviceTaskEnvironment } from '../local-task';

const collector = { otlpEndpoint: 'http://127.0.0.1:14317', samplingEndpoint: 'http://127.0.0.1:12000' };
const logGroup = { name: 'otel-test', arn: logGroupArn('otel-test', 'eu-west-1') };

describe('serviceTaskEnvironment', () => {
  const environment = serviceTaskEnvironment(collector, 'otel-fargate-service', logGroup);

  test('sends OTLP to the collector’s receiver', () => {
    expect(environment.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(collector.otlpEndpoint);
  });

  test('keeps the task’s X-Ray sampler and its polling interval, asking the collector’s awsproxy', () => {
    expect(environment.OTEL_TRACES_SAMPLER).toBe(SAMPLER_ENVIRONMENT.OTEL_TRACES_SAMPLER);
    const interval = /polling_interval=\d+/.exec(SAMPLER_ENVIRONMENT.OTEL_TRACES_SAMPLER_ARG)![0];
    expect(environment.OTEL_TRACES_SAMPLER_ARG).toBe(`endpoint=${collector.samplingEndpoint},${interval}`);
  });

  test('names the log group by name and ARN, as the task does', () => {
    expect(environment.OTEL_RESOURCE_ATTRIBUTES).toBe(
      'aws.log.group.names=otel-test,aws.log.group.arns=arn:aws:logs:eu-west-1:123456789012:log-group:otel-test',
    );
    expect(environment.OTEL_SERVICE_NAME).toBe('otel-fargate-service');
  });
});

describe('LocalTask.start', () => {
  test('without a collector binary, says where one comes from', async () => {
    await expect(LocalTask.start({ binary: '' })).rejects.toThrow(/collectorBinary\(\).*OTELCOL_TASK_BINARY/);
  });

  test('with a collector that exits at once, fails with what it logged instead of waiting for the service', async () => {
    await expect(LocalTask.start({ binary: '/bin/false' })).rejects.toThrow(/The collector exited before/);
  });
});
