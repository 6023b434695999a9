// What the tests against the real service share: starting it as a child process that logs JSON lines, a clock whose
// pauses let its lines and spans arrive, and the span kinds by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SPAN_KIND, type ReceivedSpan } from '../../../app/test/support/otlp-receiver';
import { FakeClock, type ServiceSpan } from './fakes';

export const APP_DIR = join(__dirname, '..', '..', '..', 'app');

/** The fields of the service's log lines these tests read. */
export interface LogLine {
  msg?: string;
  port?: number;
  method?: string;
  path?: string;
  trace_id?: string;
  xray_trace_id?: string;
  'AWS-XRAY-TRACE-ID'?: string;
}

export const KIND_NAMES: Record<number, ServiceSpan['kind']> = {
  [SPAN_KIND.INTERNAL]: 'INTERNAL',
  [SPAN_KIND.SERVER]: 'SERVER',
  [SPAN_KIND.CLIENT]: 'CLIENT',
  4: 'PRODUCER',
  5: 'CONSUMER',
};

/** A received span as the fakes' X-Ray naming rules take it. */
export function asServiceSpan(s: ReceivedSpan): ServiceSpan {
  return { name: s.name, kind: KIND_NAMES[s.kind] ?? 'INTERNAL', attributes: s.attributes };
}

/** The trace's server span whose parent is not among the spans received: the one the verifier's request reached. */
export function rootServerSpan(spans: ReceivedSpan[]): ReceivedSpan | undefined {
  return spans.find((s) => s.kind === SPAN_KIND.SERVER && !spans.some((p) => p.spanId === s.parentSpanId));
}

/** Virtual time, but each pause also yields a few real milliseconds so the service's lines and spans can arrive. */
export class RealPauseClock extends FakeClock {
  override async sleep(ms: number): Promise<void> {
    await super.sleep(ms);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits (bounded) until `check` holds. */
export async function until(check: () => boolean, tries = 200): Promise<void> {
  for (let i = 0; i < tries && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
}

export interface RunningService {
  readonly url: string;
  /** Every JSON line the service has written so far. */
  readonly lines: LogLine[];
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts the service in app/ with `node <args>` on a free port and resolves once it logs `listening`. */
export async function startService(args: string[], env: Record<string, string>): Promise<RunningService> {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: APP_DIR,
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: LogLine[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the service exited with ${code} before listening: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      lines.push(line);
      if (line.msg === 'listening' && line.port) resolve(line.port);
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    lines,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
