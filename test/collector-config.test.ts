import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { COLLECTOR_CONFIG_PATH, SAMPLER_ENVIRONMENT } from '../lib/observed-task-definition';
import { CONTEXT_KEYS } from '../bin/context';

interface CollectorConfig {
  extensions?: Record<string, Record<string, unknown> | null>;
  receivers: Record<string, { protocols?: Record<string, { endpoint?: string } | null> } | null>;
  processors: Record<string, Record<string, unknown> | null>;
  exporters: Record<string, Record<string, unknown> | null>;
  connectors?: Record<string, unknown>;
  service: {
    extensions?: string[];
    telemetry?: { metrics?: { level?: string } };
    pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }>;
  };
}

const KINDS = ['receivers', 'processors', 'exporters', 'extensions', 'connectors'] as const;
const config = parse(fs.readFileSync(COLLECTOR_CONFIG_PATH, 'utf8')) as CollectorConfig;
const release = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixtures', 'adot-collector-v0.49.0-components.json'), 'utf8'),
) as Record<(typeof KINDS)[number], string[]> & { release: string };

/** `batch/traces` is a component of type `batch`. */
const typeOf = (name: string) => name.split('/')[0];

describe('the collector configuration file', () => {
  test('parses as YAML with a traces pipeline', () => {
    expect(Object.keys(config.service.pipelines)).toEqual(['traces']);
  });

  test('defines every component that a pipeline or the service names', () => {
    for (const pipeline of Object.values(config.service.pipelines)) {
      for (const name of pipeline.receivers) expect(config.receivers).toHaveProperty([name]);
      for (const name of pipeline.processors ?? []) expect(config.processors).toHaveProperty([name]);
      for (const name of pipeline.exporters) expect(config.exporters).toHaveProperty([name]);
    }
    for (const name of config.service.extensions ?? []) expect(config.extensions).toHaveProperty([name]);
  });

  test('uses only component types that the pinned ADOT release ships', () => {
    expect(CONTEXT_KEYS.collectorVersion.defaultValue).toBe(release.release);
    for (const kind of KINDS) {
      for (const name of Object.keys(config[kind] ?? {})) {
        expect(`${kind}: ${typeOf(name)}`).toBe(
          release[kind].includes(typeOf(name)) ? `${kind}: ${typeOf(name)}` : `${kind}: (not in ${release.release})`,
        );
      }
    }
  });

  test('receives OTLP over gRPC only, on localhost only: no OTLP/HTTP receiver on 4318, which nothing uses', () => {
    const protocols = config.receivers.otlp?.protocols ?? {};
    expect(Object.keys(protocols)).toEqual(['grpc']);
    expect(protocols.grpc?.endpoint).toBe('127.0.0.1:4317');
    for (const receiver of Object.values(config.receivers)) {
      for (const protocol of Object.values(receiver?.protocols ?? {})) {
        expect(protocol?.endpoint).toMatch(/^(127\.0\.0\.1|localhost):\d+$/);
      }
    }
  });

  test('limits memory first and batches before exporting', () => {
    const processors = config.service.pipelines.traces.processors ?? [];
    expect(processors.map(typeOf)).toEqual(['memory_limiter', 'batch']);
    expect(config.processors.memory_limiter).toMatchObject({ check_interval: '1s', limit_percentage: 80 });
  });

  test('exports to X-Ray in the region the task passes in', () => {
    expect(config.service.pipelines.traces.exporters).toEqual(['awsxray']);
    expect(config.exporters.awsxray).toMatchObject({ region: '${env:AWS_REGION}' });
  });

  test('indexes the load balancer’s Root, so X-Ray can find a trace by an access log’s trace_id', () => {
    // The attribute the service records the Root under (app/src/access-log.ts).
    const appSource = fs.readFileSync(path.join(__dirname, '..', 'app', 'src', 'access-log.ts'), 'utf8');
    const recorded = /ATTR_ALB_TRACE_ID = '([^']+)'/.exec(appSource)?.[1];
    expect(recorded).toBe('aws.alb.trace_id');
    expect(config.exporters.awsxray?.indexed_attributes).toEqual([recorded]);
  });

  test('serves X-Ray’s sampling API to the service’s sampler with awsproxy, on localhost only', () => {
    // awsproxy listens on 0.0.0.0:2000 unless told otherwise (opentelemetry-collector-contrib
    // internal/aws/proxy/cfg.go, DefaultConfig): every interface of the task.
    expect(release.extensions).toContain('awsproxy');
    expect(config.service.extensions).toContain('awsproxy');
    expect(config.extensions?.awsproxy).toEqual({ endpoint: '127.0.0.1:2000', region: '${env:AWS_REGION}' });
    for (const extension of Object.values(config.extensions ?? {})) {
      expect(String(extension?.endpoint)).toMatch(/^127\.0\.0\.1:\d+$/);
    }
  });

  test('serves the sampling API on the port the service’s sampler is given (OTEL_TRACES_SAMPLER_ARG)', () => {
    const endpoint = /(?:^|,)endpoint=([^,]+)/.exec(SAMPLER_ENVIRONMENT.OTEL_TRACES_SAMPLER_ARG)?.[1];
    const url = new URL(endpoint ?? 'http://missing');
    expect(['localhost', '127.0.0.1']).toContain(url.hostname);
    expect(url.port).toBe(String(config.extensions?.awsproxy?.endpoint).split(':')[1]);
  });

  test('serves the health check the container’s /healthcheck calls, on localhost', () => {
    expect(config.service.extensions).toContain('health_check');
    expect(config.extensions?.health_check).toEqual({ endpoint: '127.0.0.1:13133' });
  });

  test('opens no internal metrics port', () => {
    expect(config.service.telemetry?.metrics?.level).toBe('none');
  });
});
