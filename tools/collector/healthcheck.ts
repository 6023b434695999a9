// The ADOT image's /healthcheck program (healthcheck/main.go, from aws-otel-collector v0.49.0), built here so that the
// tests ask the collector's health_check extension exactly what the task's container health check asks: a GET of
// http://127.0.0.1:<port>/ (13133 unless `-port` says otherwise), healthy on a 200 and only then, exit code 0.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { defaultCacheDir, goVersion } from './build';

const run = promisify(execFile);

export const HEALTHCHECK_SOURCE = path.join(__dirname, 'healthcheck', 'main.go');

/** The built program: from the cache when this source was built with this Go, else built now (a second or two). */
export async function healthcheckBinary(options: { cacheDir?: string; go?: string } = {}): Promise<string> {
  const go = options.go ?? 'go';
  const source = fs.readFileSync(HEALTHCHECK_SOURCE);
  const version = await goVersion(go);
  const key = createHash('sha256').update(source).update('\0').update(version).digest('hex').slice(0, 16);
  const binary = path.join(options.cacheDir ?? defaultCacheDir(), `healthcheck-${key}`);
  if (fs.existsSync(binary)) return binary;
  // Built beside its final name and renamed into place, so that a concurrent build never runs a half-written file.
  const partial = `${binary}.${process.pid}`;
  fs.mkdirSync(path.dirname(binary), { recursive: true });
  // One file that imports the standard library only: no module needed.
  await run(go, ['build', '-o', partial, HEALTHCHECK_SOURCE], { cwd: path.dirname(binary) });
  fs.renameSync(partial, binary);
  return binary;
}

/** What the program decided: its exit code (0 healthy) and what it logged. */
export interface HealthcheckResult {
  readonly code: number | null;
  readonly output: string;
}

/** Runs the program as the container health check does, with `-port` when the collector is not on 13133. */
export function runHealthcheck(binary: string, port?: number): Promise<HealthcheckResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, port === undefined ? [] : ['-port', String(port)], { timeout: 10_000 });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}
