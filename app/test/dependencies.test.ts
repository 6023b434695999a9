// The installed dependency graph: no peer dependency conflicts (the source of npm's "ERESOLVE overriding peer
// dependency" warnings). The X-Ray IDs are the service's own (src/telemetry/ids.ts, test/request-context.test.ts).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { APP_DIR } from './support/service';

jest.setTimeout(60_000);

describe('the dependency graph', () => {
  it.each([
    ['the service', APP_DIR],
    ['the repository root', path.join(APP_DIR, '..')],
  ])('when %s is installed, then npm finds no invalid or missing dependency', (_name, dir) => {
    const result = spawnSync('npm', ['ls', '--all'], { cwd: dir, encoding: 'utf8' });
    expect(result.stderr).not.toMatch(/invalid|missing|ERESOLVE/);
    expect(result.status).toBe(0);
  });
});
