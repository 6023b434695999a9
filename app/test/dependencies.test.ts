// The installed dependency graph: no peer dependency conflicts (the source of npm's "ERESOLVE overriding peer
// dependency" warnings), and the X-Ray ID generator, whose own dependency is overridden in package.json, still makes
// trace IDs X-Ray accepts.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { AWSXRayIdGenerator } from '@opentelemetry/id-generator-aws-xray';
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

describe('the X-Ray ID generator', () => {
  // @opentelemetry/id-generator-aws-xray 2.1 declares sdk-trace-base 2.x for one type (IdGenerator); package.json
  // overrides it with sdk-trace 3.1, which has the same type, so that npm installs no 2.x SDK wanting an older API.
  it('when it makes trace IDs, then each is 32 hex digits starting with the current Unix time, as X-Ray requires', () => {
    const generator = new AWSXRayIdGenerator();
    const before = Math.floor(Date.now() / 1000);
    const ids = Array.from({ length: 1000 }, () => generator.generateTraceId());
    const after = Math.floor(Date.now() / 1000);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      const seconds = parseInt(id.slice(0, 8), 16);
      expect(seconds).toBeGreaterThanOrEqual(before);
      expect(seconds).toBeLessThanOrEqual(after);
    }
    expect(new Set(ids.map((id) => id.slice(8))).size).toBe(1000);
  });

  it('when it makes span IDs, then each is 16 hex digits, not all zero', () => {
    const generator = new AWSXRayIdGenerator();
    const ids = Array.from({ length: 1000 }, () => generator.generateSpanId());
    for (const id of ids) expect(id).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
    expect(new Set(ids).size).toBe(1000);
  });
});
