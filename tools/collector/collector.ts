// Runs the built collector the way the task runs its sidecar: the configuration in AOT_CONFIG_CONTENT, exactly as
// lib/observed-task-definition.ts sets it, with AWS_REGION and the Go runtime settings beside it. Outside AWS, a
// second configuration file is merged over it by the collector's own `--config` merging (later files win, key by
// key): the awsxray exporter and the awsproxy extension send to a local X-Ray API stand-in instead of
// xray.<region>.amazonaws.com, in local mode (no EC2 metadata lookups), and the listening ports move when a test asks
// for free ones.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../app/test/support/service';
import { COLLECTOR_GO_RUNTIME_ENVIRONMENT } from '../../lib/settings';

/** The collector configuration the task delivers (lib/observed-task-definition.ts, COLLECTOR_CONFIG_PATH). */
export const TASK_CONFIG_PATH = path.join(__dirname, '..', '..', 'lib', 'config', 'collector.yaml');

/** The task's ports, from lib/config/collector.yaml: where the service finds the collector on localhost. */
export const TASK_PORTS: CollectorPorts = { otlpGrpc: 4317, samplingProxy: 2000, healthCheck: 13133 };

export interface CollectorPorts {
  readonly otlpGrpc: number;
  readonly samplingProxy: number;
  readonly healthCheck: number;
}

export interface CollectorOptions {
  /** The built collector (tools/collector/build.ts). */
  readonly binary: string;
  /** Where the X-Ray API stand-in listens, e.g. http://127.0.0.1:4567. */
  readonly xrayEndpoint: string;
  /** The configuration delivered in AOT_CONFIG_CONTENT. @default the contents of lib/config/collector.yaml */
  readonly taskConfig?: string;
  /** Ports to listen on. @default TASK_PORTS, the task's own */
  readonly ports?: CollectorPorts;
  /** The task's AWS_REGION. @default 'us-east-1' */
  readonly region?: string;
  /** Called with each line the collector logs (JSON, as the task's configuration asks). @default keeps them only */
  readonly onLog?: (line: string) => void;
}

/** Credentials for signing requests to the stand-in; AWS never sees them. */
const STAND_IN_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/** The configuration merged over the task's: where X-Ray is, and the ports when they are not the task's. */
export function standInOverrides(xrayEndpoint: string, ports: CollectorPorts = TASK_PORTS): Record<string, unknown> {
  const movePorts = JSON.stringify(ports) !== JSON.stringify(TASK_PORTS);
  return {
    ...(movePorts ? { receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${ports.otlpGrpc}` } } } } } : {}),
    extensions: {
      ...(movePorts ? { health_check: { endpoint: `127.0.0.1:${ports.healthCheck}` } } : {}),
      awsproxy: {
        aws_endpoint: xrayEndpoint,
        local_mode: true,
        ...(movePorts ? { endpoint: `127.0.0.1:${ports.samplingProxy}` } : {}),
      },
    },
    exporters: { awsxray: { endpoint: xrayEndpoint, local_mode: true } },
  };
}

/**
 * The environment the task gives the sidecar (its configuration, region and Go runtime settings), and stand-in
 * credentials; nothing else from this process.
 */
export function taskEnvironment(taskConfig: string, region: string): NodeJS.ProcessEnv {
  return {
    AOT_CONFIG_CONTENT: taskConfig,
    AWS_REGION: region,
    ...COLLECTOR_GO_RUNTIME_ENVIRONMENT,
    PATH: process.env.PATH,
    ...STAND_IN_CREDENTIALS,
  };
}

/** Ports no one listens on now, for a collector beside others (jest runs test files in parallel). */
export async function freePorts(): Promise<CollectorPorts> {
  const [otlpGrpc, samplingProxy, healthCheck] = await Promise.all([freePort(), freePort(), freePort()]);
  return { otlpGrpc, samplingProxy, healthCheck };
}

/** The result of `otelcol validate`: the exit code and what it printed. */
export interface Validation {
  readonly ok: boolean;
  readonly output: string;
}

/** Runs the collector's `validate` command on a configuration as the task passes it, with the task's env. */
export function validateTaskConfig(binary: string, taskConfig: string, region = 'us-east-1'): Promise<Validation> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['validate', '--config', 'env:AOT_CONFIG_CONTENT'], {
      env: taskEnvironment(taskConfig, region),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ ok: code === 0, output }));
  });
}

export class Collector {
  /** Every line the collector logged, in order. */
  readonly logs: string[] = [];
  /** Resolves with the exit code (null after a signal it did not handle) once the collector has exited. */
  readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly ports: CollectorPorts,
    private readonly workDir: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? null : 0))));
  }

  /** Starts the collector and resolves once its health_check endpoint answers 200. */
  static async start(options: CollectorOptions): Promise<Collector> {
    const ports = options.ports ?? TASK_PORTS;
    const taskConfig = options.taskConfig ?? fs.readFileSync(TASK_CONFIG_PATH, 'utf8');
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otelcol-task-'));
    const overrides = path.join(workDir, 'stand-in.yaml');
    fs.writeFileSync(overrides, stringify(standInOverrides(options.xrayEndpoint, ports)));
    const child = spawn(options.binary, ['--config', 'env:AOT_CONFIG_CONTENT', '--config', `file:${overrides}`], {
      env: taskEnvironment(taskConfig, options.region ?? 'us-east-1'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collector = new Collector(child, ports, workDir);
    let pending = '';
    const onChunk = (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        collector.logs.push(line);
        options.onLog?.(line);
      }
    };
    child.stdout.on('data', onChunk);
    child.stderr.on('data', onChunk);
    await collector.healthy();
    return collector;
  }

  /** The OTLP gRPC endpoint, as the service's OTEL_EXPORTER_OTLP_ENDPOINT names it. */
  get otlpEndpoint(): string {
    return `http://127.0.0.1:${this.ports.otlpGrpc}`;
  }

  /** The awsproxy's sampling API, as the service's sampler argument names it. */
  get samplingEndpoint(): string {
    return `http://127.0.0.1:${this.ports.samplingProxy}`;
  }

  /** What the task's container health check asks: the health_check extension's endpoint. */
  get healthUrl(): string {
    return `http://127.0.0.1:${this.ports.healthCheck}/`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once the health endpoint answers 200; rejects if the collector exits first or 30 s pass. */
  private async healthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (!exited) {
      try {
        if ((await fetch(this.healthUrl)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.stop('SIGKILL');
    throw new Error(
      `The collector ${exited ? 'exited' : 'did not become healthy'} before its health check answered:\n` +
        this.logs.slice(-20).join('\n'),
    );
  }

  /** Sends `signal` (as ECS stops a task: SIGTERM) and resolves with the exit code once it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const code = await this.exited;
    fs.rmSync(this.workDir, { recursive: true, force: true });
    return code;
  }
}
