// Builds dist/ as two self-contained CommonJS bundles, so the image ships no node_modules and Node resolves and reads
// two files at start instead of several hundred:
// - dist/main.js: the service, the SDK, Express and pino (from src/main.ts);
// - dist/otlp-exporter.js: the OTLP gRPC exporter, which tracing.ts requires at the first export, not at start.
// Bundling is safe here because the only instrumented module is Node's own `http`, which stays outside the bundle
// and is patched when first required. An instrumentation for a package (Express, pino, …) would find nothing to
// patch inside a bundle: such a package would have to be marked external and shipped in node_modules.
// Usage: node scripts/build.mjs
import { rmSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';

const appDir = path.join(import.meta.dirname, '..');
const outdir = path.join(appDir, 'dist');

/** Keeps `require('./otlp-exporter')` a require of the separate bundle instead of inlining the exporter. */
const separateExporter = {
  name: 'separate-otlp-exporter',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\.\/otlp-exporter$/ }, () => ({ path: './otlp-exporter.js', external: true }));
  },
};

/**
 * Left out of the bundles on purpose. grpc-js requires @grpc/proto-loader only to load .proto files at run time
 * (its channelz and ORCA services), which an OTLP client never does; bundling it would add protobufjs's parser and
 * its file reads for nothing. debug (under Express) requires supports-color inside a try/catch and does without it;
 * it is not in app/'s lockfile, and esbuild would otherwise pick up whichever copy a parent directory happens to hold.
 */
const NOT_BUNDLED = ['@grpc/proto-loader', 'supports-color'];

/** Required at run time from outside the bundles: the exporter's bundle, and the modules never needed. */
const ALLOWED_EXTERNAL = new Set(['./otlp-exporter.js', ...NOT_BUNDLED]);

rmSync(outdir, { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: appDir,
  entryPoints: { main: 'src/main.ts', 'otlp-exporter': 'src/otlp-exporter.ts' },
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  // The packages' CommonJS builds, as Node itself would load them: OpenTelemetry's ESM builds find grpc-js through
  // `createRequire(import.meta.url)`, which esbuild cannot follow and which is undefined in a CommonJS bundle.
  conditions: ['require'],
  external: NOT_BUNDLED,
  plugins: [separateExporter],
  metafile: true,
  logLevel: 'warning',
});

// Everything bundled must come from app/ itself: the image build sees nothing above it, so a module found in a parent
// directory's node_modules here would be missing there.
const outside = Object.keys(metafile.inputs).filter((input) => input.startsWith('../'));
if (outside.length > 0) {
  throw new Error(`the bundles take files from outside app/, which the image build cannot see: ${outside.join(', ')}`);
}

// A require that esbuild could not follow would only fail in the image, where there is no node_modules.
for (const [file, output] of Object.entries(metafile.outputs)) {
  for (const { path: imported, external } of output.imports) {
    if (external && !isBuiltin(imported) && !ALLOWED_EXTERNAL.has(imported)) {
      throw new Error(`${file} requires ${imported} from outside the bundle; the image has no node_modules`);
    }
  }
}
