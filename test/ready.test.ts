// `npm test` and `npm run start:app` on a checkout that is not ready: npm's pretest and prestart:app run
// scripts/ready.mjs, which says what to run instead of `sh: 1: jest: not found` or a module stack trace. Each case
// runs the real npm in a temporary copy of package.json and the script, with only the files that case has.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');

/** A copy of the root package and the script, plus the given files (path → content), in a fresh directory. */
function checkout(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ready-'));
  for (const file of ['package.json', 'scripts/ready.mjs']) {
    fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, file), path.join(dir, file));
  }
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
  return dir;
}

function npm(dir: string, ...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('npm', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, PORT: '0' } });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const INSTALLED = { 'node_modules/.bin/jest': '', 'app/node_modules/.package-lock.json': '{}' };
const BUILT = {
  'app/dist/main.js': "console.log('the built service started');",
  'app/dist/otlp-exporter.js': '',
};

const made: string[] = [];
function fresh(files: Record<string, string>): string {
  const dir = checkout(files);
  made.push(dir);
  return dir;
}
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

describe('npm test', () => {
  test('before npm ci, says to run npm ci and npm run build, and never reaches jest', () => {
    const { status, output } = npm(fresh({}), 'test');
    expect(status).not.toBe(0);
    expect(output).toContain(
      '`npm test` cannot run yet: the dependencies are not installed and the service is not built (app/dist). ' +
        'Run `npm ci`, then `npm run build`, then `npm test` again.',
    );
    expect(output).not.toMatch(/jest: not found/);
  });

  test('installed but not built, says to run npm run build', () => {
    const { status, output } = npm(fresh(INSTALLED), 'test');
    expect(status).not.toBe(0);
    expect(output).toContain(
      '`npm test` cannot run yet: the service is not built (app/dist). Run `npm run build`, then `npm test` again.',
    );
  });
});

describe('npm run start:app', () => {
  test('before a build, says to run npm run build, with no module stack trace', () => {
    const { status, output } = npm(fresh(INSTALLED), 'run', 'start:app');
    expect(status).not.toBe(0);
    expect(output).toContain(
      '`npm run start:app` cannot run yet: the service is not built (app/dist). ' +
        'Run `npm run build`, then `npm run start:app` again.',
    );
    expect(output).not.toMatch(/Cannot find module|MODULE_NOT_FOUND|node:internal/);
  });

  test('before npm ci, says to install first, since the build needs it', () => {
    const { output } = npm(fresh({}), 'run', 'start:app');
    expect(output).toContain('Run `npm ci`, then `npm run build`, then `npm run start:app` again.');
  });

  test('once built, starts the service, even without node_modules: the bundles are self-contained', () => {
    const { status, output } = npm(fresh(BUILT), 'run', 'start:app');
    expect(output).toContain('the built service started');
    expect(status).toBe(0);
  });
});

describe('in this checkout, installed and built as the tests need', () => {
  test.each(['test', 'start:app'])('scripts/ready.mjs %s lets the command run and prints nothing', (command) => {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'ready.mjs'), command], {
      encoding: 'utf8',
    });
    expect([result.status, result.stdout, result.stderr]).toEqual([0, '', '']);
  });
});
