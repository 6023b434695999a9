// The builder's manifest held to what docs/collector.md says of it: one release for every module, exactly the
// components the task's configuration uses and no other, each one the task's ADOT v0.49.0 ships, and the release
// named where a reader looks. What the built binary contains is read from the binary itself: its `components`
// command (the builder's generated components.go) and its Go build information (`go version -m`).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { MANIFEST_PATH, readManifest } from '../build';
import { TASK_CONFIG_PATH } from '../collector';
import { read } from '../../../test/support/markdown';

const run = promisify(execFile);
const binary = process.env.OTELCOL_TASK_BINARY!;
const manifest = readManifest();
const release = `v${manifest.dist.version}`;

const CONTRIB = 'github.com/open-telemetry/opentelemetry-collector-contrib/';
const CORE = 'go.opentelemetry.io/collector/';
const KINDS = ['receivers', 'processors', 'exporters', 'extensions', 'connectors'] as const;
type Kind = (typeof KINDS)[number];

interface Module {
  readonly module: string;
  readonly version: string;
}

/** A manifest entry's `gomod`: "<module> <version>", as the builder reads it. */
function gomod(entry: { readonly gomod: string }): Module {
  const [module, version, ...rest] = entry.gomod.trim().split(/\s+/);
  if (module === undefined || version === undefined || rest.length > 0) {
    throw new Error(`${MANIFEST_PATH}: gomod "${entry.gomod}" is not "<module path> <version>"`);
  }
  return { module, version };
}

const components: Record<Kind, Module[]> = {
  receivers: manifest.receivers.map(gomod),
  processors: manifest.processors.map(gomod),
  exporters: manifest.exporters.map(gomod),
  extensions: manifest.extensions.map(gomod),
  connectors: [],
};
const providers = manifest.providers.map(gomod);

/** The component types the task's configuration defines, by kind: `batch/traces` is a `batch`. */
function configuredTypes(): Record<Kind, string[]> {
  const config = parse(fs.readFileSync(TASK_CONFIG_PATH, 'utf8')) as Partial<Record<Kind, Record<string, unknown>>>;
  const types = (kind: Kind) => [...new Set(Object.keys(config[kind] ?? {}).map((name) => name.split('/')[0]))].sort();
  return Object.fromEntries(KINDS.map((kind) => [kind, types(kind)])) as Record<Kind, string[]>;
}

interface BuiltComponent {
  readonly name: string;
  /** "<module path> <version>" */
  readonly module: string;
}

/** What the built collector says it contains (`otelcol-task components`). */
async function builtComponents(): Promise<Record<Kind, BuiltComponent[]>> {
  const { stdout } = await run(binary, ['components']);
  return parse(stdout) as Record<Kind, BuiltComponent[]>;
}

/** Every module linked into the binary with its version (`go version -m`: the `dep` lines). */
async function linkedModules(): Promise<Module[]> {
  const { stdout } = await run('go', ['version', '-m', binary]);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([kind]) => kind === 'dep')
    .map(([, module, version]) => ({ module, version }));
}

describe('the collector manifest (tools/collector/manifest.yaml)', () => {
  test('takes every component, contrib and core alike, at the one release it names', () => {
    expect(release).toMatch(/^v0\.\d+\.\d+$/);
    const all = KINDS.flatMap((kind) => components[kind]);
    expect(all.length).toBeGreaterThan(0);
    expect(all.filter(({ module }) => !module.startsWith(CONTRIB) && !module.startsWith(CORE))).toEqual([]);
    expect(all.filter(({ version }) => version !== release)).toEqual([]);
  });

  test('takes every confmap provider at one stable (v1) release', () => {
    expect(providers.length).toBeGreaterThan(0);
    expect(providers.filter(({ module }) => !module.startsWith(`${CORE}confmap/provider/`))).toEqual([]);
    expect(new Set(providers.map(({ version }) => version)).size).toBe(1);
    expect(providers[0].version).toMatch(/^v1\.\d+\.\d+$/);
  });

  test("builds a collector that mixes no releases: contrib and core's v0 modules at the manifest's, core's v1 modules at the providers'", async () => {
    // Go's minimum version selection takes the highest version any module requires, so a provider from another
    // core release would pull some of core's v1 modules to its version and leave others behind.
    const linked = (await linkedModules()).filter(
      ({ module }) => module.startsWith(CONTRIB) || module.startsWith(CORE),
    );
    expect(linked.map(({ module }) => module)).toEqual(
      expect.arrayContaining([`${CORE}confmap`, `${CORE}otelcol`, `${CONTRIB}internal/aws/xray`]),
    );
    const stable = providers[0].version;
    const mixed = linked.filter(({ version }) => version !== release && version !== stable);
    expect(mixed).toEqual([]);
    const contribOnStable = linked.filter(({ module, version }) => module.startsWith(CONTRIB) && version !== release);
    expect(contribOnStable).toEqual([]);
  }, 30_000);

  test('lists exactly the components that lib/config/collector.yaml configures, by type', async () => {
    const built = await builtComponents();
    const configured = configuredTypes();
    for (const kind of KINDS) {
      expect({ kind, types: built[kind].map(({ name }) => name).sort() }).toEqual({ kind, types: configured[kind] });
    }
  }, 30_000);

  test('builds each component from the module the manifest names for it', async () => {
    const built = await builtComponents();
    for (const kind of KINDS) {
      const fromManifest = components[kind].map(({ module, version }) => `${module} ${version}`).sort();
      expect({ kind, modules: built[kind].map(({ module }) => module).sort() }).toEqual({
        kind,
        modules: fromManifest,
      });
    }
  }, 30_000);

  test('lists only components that the task’s ADOT collector v0.49.0 ships', () => {
    // test/fixtures/adot-collector-v0.49.0-components.json: aws-otel-collector v0.49.0, pkg/defaultcomponents.
    const adot = JSON.parse(read('test/fixtures/adot-collector-v0.49.0-components.json')) as Record<Kind, string[]> & {
      release: string;
    };
    expect(adot.release).toBe('v0.49.0');
    const configured = configuredTypes();
    for (const kind of KINDS) {
      expect({ kind, missing: configured[kind].filter((type) => !adot[kind].includes(type)) }).toEqual({
        kind,
        missing: [],
      });
    }
  });
});

describe('the release is named where a reader looks', () => {
  test("docs/collector.md names the manifest's release, its providers' release and ADOT's", () => {
    const page = read('docs/collector.md');
    expect(page).toContain(`**${release}**`);
    expect(page).toContain(providers[0].version);
    expect(page).toContain('**v0.49.0**');
  });

  test("tools/collector/README.md names the manifest's release and links docs/collector.md", () => {
    const readme = read('tools/collector/README.md');
    expect(readme).toContain(release);
    expect(readme).toContain('(../../docs/collector.md)');
  });
});
