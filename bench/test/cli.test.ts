// `npm run bench`'s command line, without running the benchmark: --help and a wrong option answer before anything
// is installed, the options are documented in BENCHMARKS.md, and failed targets fail the command.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const BENCH = path.join(ROOT, 'bench');

/** Runs an ES module snippet in the repo root (the bench is ESM; this test runs as CommonJS). */
function esm(script: string): unknown {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

const OPTION_NAMES = esm(
  "import { OPTIONS } from './bench/lib/cli.mjs'; console.log(JSON.stringify(Object.keys(OPTIONS)))",
) as string[];

/**
 * A copy of bench/ without its node_modules, beside a package.json holding the root's `bench` script: what a fresh
 * clone has before its first `npm run bench`.
 */
function freshClone(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cli-'));
  fs.cpSync(BENCH, path.join(dir, 'bench'), {
    recursive: true,
    filter: (source) => !/[/\\](node_modules|\.cache|results)$/.test(source),
  });
  const rootPackage = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'fresh', private: true, scripts: { bench: rootPackage.scripts.bench } }),
  );
  return dir;
}

function npmRunBench(dir: string, ...args: string[]) {
  const result = spawnSync('npm', ['run', '--silent', 'bench', '--', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm run bench on a fresh clone', () => {
  let dir: string;
  beforeAll(() => {
    dir = freshClone();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('--help lists every option and exits 0, installing nothing', () => {
    const { status, stdout, stderr } = npmRunBench(dir, '--help');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: npm run bench/);
    for (const name of OPTION_NAMES) expect(stdout).toMatch(new RegExp(`^ {2}--${name}\\b`, 'm'));
    expect(fs.existsSync(path.join(dir, 'bench', 'node_modules'))).toBe(false);
  });

  test.each([
    [['--bogus'], /^npm run bench: unknown option '--bogus'; the options are --help, --quick, /],
    [['--quick=yes'], /^npm run bench: --quick takes no value/],
    [['--rounds'], /^npm run bench: --rounds needs a value/],
    [['--rounds', 'three'], /^npm run bench: --rounds <n> is 'three'; it takes a whole number of at least 1/],
    [['--duration', '0'], /^npm run bench: --duration <s> is '0'/],
    [
      ['--variants', 'a,b,zz'],
      /^npm run bench: --variants <ids> names unknown variant zz; known: a0, a, b, b-rule, b-rule-bare, b-none, lean, c, d, d-rule, b-semi/,
    ],
    [['quick'], /^npm run bench: unexpected argument quick; every option starts with --/],
  ])('%j is refused in one line with exit code 2, installing nothing', (args, message) => {
    const { status, stdout, stderr } = npmRunBench(dir, ...args);
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stdout).toBe('');
    expect(status).toBe(2);
    expect(fs.existsSync(path.join(dir, 'bench', 'node_modules'))).toBe(false);
  });
});

describe('the options run.mjs gets', () => {
  test('good values come through as given, and absent ones stay unset for run.mjs to default', () => {
    expect(
      esm(
        "import { parseBenchArgs } from './bench/lib/cli.mjs'; console.log(JSON.stringify(parseBenchArgs(" +
          "['--quick', '--variants', 'a,b,b-bsp', '--rounds', '3', '--no-soak', '--out', 'x'])))",
      ),
    ).toEqual({ quick: true, variants: 'a,b,b-bsp', rounds: '3', 'no-soak': true, out: 'x' });
  });

  test('the ids --variants accepts are exactly the variants the benchmark defines', () => {
    const { accepted, defined } = esm(
      "import { parseBenchArgs } from './bench/lib/cli.mjs'; import { defineVariants } from './bench/lib/variants.mjs';" +
        "const defined = defineVariants({ repoRoot: '.', benchDir: 'bench', sinkPort: 1, cacheDir: '/tmp', serviceNodeOptions: '', proxies: { all: { endpoint: 'http://127.0.0.1:1' }, default: { endpoint: 'http://127.0.0.1:2' }, none: { endpoint: 'http://127.0.0.1:3' } } }).map((v) => v.id);" +
        "const accepted = defined.filter((id) => { try { parseBenchArgs(['--variants', id]); return true; } catch { return false; } });" +
        'console.log(JSON.stringify({ accepted, defined }))',
    ) as { accepted: string[]; defined: string[] };
    expect(accepted).toEqual(defined);
  });
});

describe('the exit code of a run', () => {
  test('is 1 when a target failed, as in the committed full run, and 0 when none did', () => {
    const codes = esm(
      "import { readFileSync } from 'node:fs'; import { exitCodeFor } from './bench/lib/cli.mjs';" +
        "import { analyse } from './bench/lib/analyse.mjs';" +
        "const results = JSON.parse(readFileSync('bench/results/full.json', 'utf8'));" +
        'const targets = analyse(results).targets;' +
        'console.log(JSON.stringify({ failed: targets.filter((t) => t.pass === false).length,' +
        '  run: exitCodeFor(targets), passing: exitCodeFor(targets.map((t) => ({ ...t, pass: t.pass === null ? null : true }))) }))',
    ) as { failed: number; run: number; passing: number };
    expect(codes.failed).toBeGreaterThan(0);
    expect(codes.run).toBe(1);
    expect(codes.passing).toBe(0);
  });

  test('run.mjs sets it after writing the results and their rendered page', () => {
    const source = fs.readFileSync(path.join(BENCH, 'run.mjs'), 'utf8');
    const written = source.indexOf('writeFileSync(markdownPath, render(results))');
    const exitCode = source.indexOf('process.exitCode = exitCodeFor(results.analysis.targets)');
    expect(written).toBeGreaterThan(0);
    expect(exitCode).toBeGreaterThan(written);
  });
});

describe('BENCHMARKS.md', () => {
  test('documents every option, in a section the renderer writes', () => {
    const page = fs.readFileSync(path.join(ROOT, 'BENCHMARKS.md'), 'utf8');
    const rendered = esm(
      "import { readFileSync } from 'node:fs'; import { analyse } from './bench/lib/analyse.mjs';" +
        "import { render } from './bench/lib/render.mjs';" +
        "const results = JSON.parse(readFileSync('bench/results/full.json', 'utf8')); results.analysis = analyse(results);" +
        'console.log(JSON.stringify(render(results)))',
    ) as string;
    for (const text of [page, rendered]) {
      const section = text.slice(text.indexOf('## Running it'));
      for (const name of OPTION_NAMES) expect(section).toMatch(new RegExp(`^\\| \`--${name}\\b`, 'm'));
    }
  });
});
