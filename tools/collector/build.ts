// Builds the collector the tests and `npm run local` run, from tools/collector/manifest.yaml with the OpenTelemetry
// Collector Builder, and caches the binary outside the work tree: it is a build output, not a committed file.
// The cache key is the manifest and the Go version, so an edited manifest or a new Go builds again.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const run = promisify(execFile);

export const MANIFEST_PATH = path.join(__dirname, 'manifest.yaml');
export const BINARY_NAME = 'otelcol-task';
/** The oldest Go that the builder and collector v0.143.0 compile with (their go.mod). */
export const MINIMUM_GO = '1.24';

/** The part of the builder's manifest this module reads. */
export interface CollectorManifest {
  readonly dist: { readonly name: string; readonly version: string; readonly output_path: string };
  readonly receivers: readonly { readonly gomod: string }[];
  readonly processors: readonly { readonly gomod: string }[];
  readonly exporters: readonly { readonly gomod: string }[];
  readonly extensions: readonly { readonly gomod: string }[];
  readonly providers: readonly { readonly gomod: string }[];
}

export function readManifest(file = MANIFEST_PATH): CollectorManifest {
  return parse(fs.readFileSync(file, 'utf8')) as CollectorManifest;
}

/** The builder is released with the collector's v0 modules: take it at the manifest's own release. */
export function builderModule(manifest: CollectorManifest): string {
  return `go.opentelemetry.io/collector/cmd/builder@v${manifest.dist.version}`;
}

export class GoMissingError extends Error {
  constructor(detail: string) {
    super(
      `The tests run the real OpenTelemetry Collector, built from tools/collector/manifest.yaml with Go ${MINIMUM_GO} ` +
        `or newer (tested with 1.26.8), and no usable \`go\` was found (${detail}). Install Go from ` +
        'https://go.dev/doc/install (or your system packages), make sure `go version` works, and run the command again.',
    );
    this.name = 'GoMissingError';
  }
}

export interface BuildOptions {
  /** Where built collectors are kept. @default $XDG_CACHE_HOME/otel-fargate/collector, else ~/.cache/… */
  readonly cacheDir?: string;
  /** The manifest to build. @default tools/collector/manifest.yaml */
  readonly manifestPath?: string;
  /** The Go command. @default `go` on the PATH */
  readonly go?: string;
  /** Told when a build starts, since a first build takes minutes. @default writes to stderr */
  readonly onBuildStart?: (message: string) => void;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'otel-fargate', 'collector');
}

export async function goVersion(go: string): Promise<string> {
  try {
    const { stdout } = await run(go, ['env', 'GOVERSION']);
    return stdout.trim();
  } catch (error) {
    throw new GoMissingError(error instanceof Error ? error.message.split('\n')[0] : String(error));
  }
}

/**
 * The path of the built collector: from the cache when this manifest was built with this Go, else built now
 * (about 5 minutes of CPU and 800 MB of modules the first time, seconds with Go's module and build caches warm).
 */
export async function collectorBinary(options: BuildOptions = {}): Promise<string> {
  const manifestPath = options.manifestPath ?? MANIFEST_PATH;
  const go = options.go ?? 'go';
  const manifestText = fs.readFileSync(manifestPath, 'utf8');
  const version = await goVersion(go);
  const key = createHash('sha256').update(manifestText).update('\0').update(version).digest('hex').slice(0, 16);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const finalDir = path.join(cacheDir, key);
  const binary = path.join(finalDir, BINARY_NAME);
  if (fs.existsSync(binary)) return binary;

  const manifest = parse(manifestText) as CollectorManifest;
  (options.onBuildStart ?? ((message) => process.stderr.write(`${message}\n`)))(
    `[collector] building ${BINARY_NAME} ${manifest.dist.version} with ${version} into ${finalDir} ` +
      '(the first build downloads about 800 MB of Go modules and takes minutes; later runs reuse it)',
  );
  fs.mkdirSync(cacheDir, { recursive: true });
  // Build in a directory of its own and rename it into place, so that a concurrent or interrupted build never
  // leaves a half-written binary where the next run looks.
  const workDir = fs.mkdtempSync(path.join(cacheDir, `${key}.building-`));
  try {
    const output = path.join(workDir, 'out');
    const workManifest = path.join(workDir, 'manifest.yaml');
    fs.writeFileSync(workManifest, manifestText.replace(/^(\s*output_path:).*$/m, `$1 ${output}`));
    try {
      await run(go, ['run', builderModule(manifest), '--config', workManifest], {
        cwd: workDir,
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (error) {
      const detail = error as { stderr?: string; message: string };
      const lines = (detail.stderr ?? detail.message).trim().split('\n');
      throw new Error(
        `Building the collector from ${path.relative(process.cwd(), manifestPath)} failed:\n${lines.slice(-25).join('\n')}`,
        { cause: error },
      );
    }
    try {
      fs.renameSync(output, finalDir);
    } catch (error) {
      // Another build of the same key finished first: its binary is as good as ours.
      if (!fs.existsSync(binary)) throw error;
    }
    return binary;
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  collectorBinary().then(
    (binary) => process.stdout.write(`${binary}\n`),
    (error: Error) => {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    },
  );
}
