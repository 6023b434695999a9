// What LocalTask gives the service, and how it fails, without running a whole task: the environment is the task
// definition's (lib/observed-task-definition.ts), moved to the collector's ports; a task that cannot start says why.
// Free ports taken by another process before the collector binds them are picked again. The running task is
// exercised by translator.test.ts.
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { SAMPLER_ENVIRONMENT } from '../../../lib/observed-task-definition';
import { Collector, freePorts, type CollectorPorts } from '../collector';
import { LocalTask, logGroupArn, serviceTaskEnvironment, startOnFreePorts } from '../local-task';

const ports = { otlpGrpc: 14317, samplingProxy: 12000 };
const logGroup = { name: 'otel-test', arn: logGroupArn('otel-test', 'eu-west-1') };

describe('serviceTaskEnvironment', () => {
  const environment = serviceTaskEnvironment(ports, 'otel-fargate-service', logGroup);

  test('sends OTLP to the collector’s receiver, on localhost as in the task', () => {
    expect(environment.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://localhost:14317');
  });

  test('keeps the task’s X-Ray sampler and its polling interval, asking the collector’s awsproxy', () => {
    expect(environment.OTEL_TRACES_SAMPLER).toBe(SAMPLER_ENVIRONMENT.OTEL_TRACES_SAMPLER);
    const interval = /polling_interval=\d+/.exec(SAMPLER_ENVIRONMENT.OTEL_TRACES_SAMPLER_ARG)![0];
    expect(environment.OTEL_TRACES_SAMPLER_ARG).toBe(`endpoint=http://localhost:12000,${interval}`);
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

describe('startOnFreePorts', () => {
  test('the real collector, on a port another process took, exits with “address already in use”', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const ports = { ...(await freePorts()), otlpGrpc: (taken.address() as AddressInfo).port };
    try {
      await expect(
        Collector.start({ binary: process.env.OTELCOL_TASK_BINARY!, xrayEndpoint: 'http://127.0.0.1:9', ports }),
      ).rejects.toThrow(/address already in use/);
    } finally {
      taken.close();
    }
  });

  test('picks other ports when the collector could not bind, and gives up after three tries', async () => {
    const tried: CollectorPorts[] = [];
    const busy = (ports: CollectorPorts) => {
      tried.push(ports);
      return Promise.reject(new Error('listen tcp 127.0.0.1:1234: bind: address already in use'));
    };
    await expect(startOnFreePorts(busy)).rejects.toThrow(/address already in use/);
    expect(tried).toHaveLength(3);
  });

  test('does not try again for any other failure', async () => {
    let calls = 0;
    const broken = () => {
      calls += 1;
      return Promise.reject(new Error('The collector exited before its health check answered'));
    };
    await expect(startOnFreePorts(broken)).rejects.toThrow(/exited before/);
    expect(calls).toBe(1);
  });
});
