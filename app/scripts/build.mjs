// Builds dist/ as two self-contained CommonJS bundles, so the image ships no node_modules and Node resolves and reads
// two files at start instead of several hundred:
// - dist/main.js: the service, the SDK, Express and pino (from src/main.ts);
// - dist/otlp-exporter.js: the OTLP gRPC exporter, which telemetry/exporter.ts requires at the first export.
// The server span is the service's own (src/telemetry/http-server.ts). The one instrumentation that patches modules,
// @opentelemetry/instrumentation-aws-sdk, is applied to the bundled AWS SDK modules by `patchBundledModules` below
// (src/telemetry/aws-sdk.ts). Any other instrumentation for a package (Express, pino, …) would find nothing to patch
// inside a bundle: add it to INSTRUMENTATIONS, or mark the package external and ship it in node_modules.
// Usage: node scripts/build.mjs
import { readFileSync, rmSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import path from 'node:path';
import { build } from 'esbuild';

const appDir = path.join(import.meta.dirname, '..');
const outdir = path.join(appDir, 'dist');

/** Keeps `require('../otlp-exporter')` a require of the separate bundle instead of inlining the exporter. */
const separateExporter = {
  name: 'separate-otlp-exporter',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^(\.\.?\/)+otlp-exporter$/ }, () => ({
      path: './otlp-exporter.js',
      external: true,
    }));
  },
};

/**
 * What NodeSDK (@opentelemetry/sdk-node) requires when it loads, to build components from the environment, and the
 * service never lets it build: every exporter it knows (traces, metrics, logs; OTLP in three protocols, Zipkin,
 * Prometheus), the metrics SDK, the B3 propagator and the configuration-file loader. The service gives NodeSDK each
 * component itself (src/telemetry/sdk.ts). Bundled, they would make dist/main.js several times larger and the start
 * slower; instead NodeSDK gets, for each, a module that throws a clear error if anything ever uses it. Only NodeSDK's
 * own requires are replaced: the exporter bundle still gets the real OTLP gRPC exporter.
 */
export const LEFT_OUT_OF_NODE_SDK = [
  '@opentelemetry/configuration',
  '@opentelemetry/exporter-logs-otlp-grpc',
  '@opentelemetry/exporter-logs-otlp-http',
  '@opentelemetry/exporter-logs-otlp-proto',
  '@opentelemetry/exporter-metrics-otlp-grpc',
  '@opentelemetry/exporter-metrics-otlp-http',
  '@opentelemetry/exporter-metrics-otlp-proto',
  '@opentelemetry/exporter-prometheus',
  '@opentelemetry/exporter-trace-otlp-grpc',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/exporter-trace-otlp-proto',
  '@opentelemetry/exporter-zipkin',
  '@opentelemetry/otlp-exporter-base',
  '@opentelemetry/otlp-grpc-exporter-base',
  '@opentelemetry/propagator-b3',
  '@opentelemetry/sdk-metrics',
];

const leftOutOfNodeSdk = {
  name: 'left-out-of-node-sdk',
  setup(pluginBuild) {
    const names = new Set(LEFT_OUT_OF_NODE_SDK);
    pluginBuild.onResolve({ filter: /^@opentelemetry\// }, ({ path: name, importer }) =>
      names.has(name) && importer.includes(`${path.sep}@opentelemetry${path.sep}sdk-node${path.sep}`)
        ? { path: name, namespace: 'left-out' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'left-out' }, ({ path: name }) => ({
      loader: 'js',
      contents: `// ${name}: left out of the bundle by scripts/build.mjs (the service configures NodeSDK explicitly).
module.exports = new Proxy({}, {
  get(_target, key) {
    if (typeof key === 'symbol' || key === '__esModule' || key === 'then') return undefined;
    throw new Error(${JSON.stringify(`${name} is not in this build: NodeSDK was asked to build a component the service does not configure (src/telemetry/sdk.ts)`)});
  },
});
`,
    }));
  },
};

/** Instrumentations whose module definitions `patchBundledModules` applies inside the bundle: [package, export]. */
const INSTRUMENTATIONS = [['@opentelemetry/instrumentation-aws-sdk', 'AwsInstrumentation']];

/** The symbol src/telemetry/aws-sdk.ts registers its patch function under. */
const PATCH_BUNDLED_MODULE = 'otel-fargate-service.patch-bundled-module';

/**
 * `version` within `range`, for the forms the instrumentations' supportedVersions use (`>=1.2.3`, `^3.1.0`,
 * `>=3.1.0 <3.35.0`); any other form fails the build, so a new one is looked at rather than silently skipped.
 */
export function satisfies(version, range) {
  const parse = (v) => v.split('.').map(Number);
  const compare = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  const v = parse(version);
  return range.split(/\s+/).every((comparator) => {
    const match = /^(>=|<=|>|<|\^|=)?(\d+)\.(\d+)\.(\d+)$/.exec(comparator);
    if (!match) throw new Error(`supported version range not understood: ${range}`);
    const bound = [Number(match[2]), Number(match[3]), Number(match[4])];
    const order = compare(v, bound);
    switch (match[1]) {
      case '>=':
        return order >= 0;
      case '<=':
        return order <= 0;
      case '>':
        return order > 0;
      case '<':
        return order < 0;
      case '^':
        return order >= 0 && (bound[0] > 0 ? v[0] === bound[0] : v[0] === 0 && v[1] === bound[1]);
      default:
        return order === 0;
    }
  });
}

/**
 * What require-in-the-middle does for an instrumentation when Node requires a module, done for the bundle: each file
 * that an instrumentation's module definitions name (a package's main module, or one of its files), in a version they
 * support, gets a last statement that hands its exports to the patch function src/telemetry/aws-sdk.ts registers
 * when tracing is on. With tracing off no function is registered and the statement does nothing.
 */
function patchBundledModules(patched) {
  const requireFromApp = createRequire(path.join(appDir, 'package.json'));
  /** Absolute file path → the definition's name, and the file's name for a file definition. */
  const wanted = [];
  for (const [pkg, exported] of INSTRUMENTATIONS) {
    const Instrumentation = requireFromApp(pkg)[exported];
    for (const definition of new Instrumentation({ enabled: false }).getModuleDefinitions()) {
      if (definition.patch)
        wanted.push({ name: definition.name, file: undefined, ranges: definition.supportedVersions });
      for (const file of definition.files) {
        wanted.push({ name: definition.name, file: path.normalize(file.name), ranges: file.supportedVersions });
      }
    }
  }
  return {
    name: 'patch-bundled-modules',
    setup(pluginBuild) {
      pluginBuild.onLoad({ filter: /[\\/]node_modules[\\/].*\.c?js$/ }, ({ path: file }) => {
        const match = /^(.*[\\/]node_modules[\\/])((?:@[^\\/]+[\\/])?[^\\/]+)[\\/](.*)$/.exec(file);
        if (!match) return undefined;
        const [, modulesDir, pkgPath, inner] = match;
        const name = pkgPath.split(path.sep).join('/');
        const candidates = wanted.filter((w) => w.name === name);
        if (candidates.length === 0) return undefined;
        const packageDir = path.join(modulesDir, pkgPath);
        const { version } = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
        const relative = path.normalize(path.join(name, inner));
        const target = candidates.find(
          (w) =>
            (w.file === undefined
              ? requireFromApp.resolve(name, { paths: [path.dirname(modulesDir)] }) === file
              : w.file === relative) && w.ranges.some((range) => satisfies(version, range)),
        );
        if (target === undefined) return undefined;
        patched.push(`${target.file ?? name}@${version}`);
        const contents = `${readFileSync(file, 'utf8')}
;{
  const patchBundledModule = globalThis[Symbol.for(${JSON.stringify(PATCH_BUNDLED_MODULE)})];
  if (typeof patchBundledModule === 'function') {
    module.exports = patchBundledModule(${JSON.stringify(name)}, ${JSON.stringify(version)}, ${JSON.stringify(target.file)}, module.exports);
  }
}
`;
        return { contents, loader: 'js' };
      });
    },
  };
}

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
const patched = [];
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
  plugins: [separateExporter, leftOutOfNodeSdk, patchBundledModules(patched)],
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

// The AWS SDK without the instrumentation's patch would make no CLIENT span, silently: fail the build instead (a new SDK
// line that moved the client class, or a range the instrumentation does not support yet).
if (Object.keys(metafile.inputs).some((input) => input.includes('node_modules/@aws-sdk/client-dynamodb/'))) {
  if (!patched.some((target) => target.startsWith('@smithy/core/dist-cjs/submodules/client/'))) {
    throw new Error(
      `the bundled AWS SDK client is not instrumented (patched: ${patched.join(', ') || 'nothing'}): check the ` +
        'module definitions of @opentelemetry/instrumentation-aws-sdk against the bundled @smithy/core',
    );
  }
}
