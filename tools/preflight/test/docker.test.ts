// The Docker checks against a stand-in `docker` CLI (a real executable, run the way CDK runs its CDK_DOCKER) and
// against the repo's own app/Dockerfile.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkDocker, dockerRunner, type ImageBuild } from '../docker';
import { parseDockerfile, readDockerfile } from '../dockerfile';
import { writeFakeDocker } from './fake-docker';

const APP_DOCKERFILE = path.join(__dirname, '..', '..', '..', 'app', 'Dockerfile');

let dir: string;
let fakeDocker: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-docker-'));
  fakeDocker = writeFakeDocker(dir);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const appBuild: ImageBuild = {
  platform: 'linux/arm64',
  dockerfile: readDockerfile(APP_DOCKERFILE),
  dockerfileLabel: 'app/Dockerfile',
};

/** A Dockerfile of the kind that needs emulation: it runs npm ci on the target platform. */
const emulatedBuild: ImageBuild = {
  platform: 'linux/arm64',
  dockerfile: parseDockerfile('FROM node:24 AS build\nRUN npm ci\nFROM node:24\nCOPY --from=build /app /app\n'),
  dockerfileLabel: 'a Dockerfile',
};

async function check(build: ImageBuild | undefined, env: Record<string, string> = {}, command = fakeDocker) {
  const fullEnv = { PATH: process.env.PATH, ...env };
  return checkDocker(build, dockerRunner(command, fullEnv), fullEnv, command);
}

describe('Docker for the service image', () => {
  test('the repo’s Dockerfile builds an arm64 image on an amd64 engine without emulation', async () => {
    const results = await check(appBuild);
    expect(results).toEqual([
      { status: 'PASS', check: 'Docker engine', detail: 'Docker 28.2.2 on linux/amd64' },
      {
        status: 'PASS',
        check: 'Docker build for linux/arm64',
        detail:
          'github.com/docker/buildx v0.24.0 d0e5e86; app/Dockerfile runs every RUN on the build platform, so ' +
          'building on linux/amd64 needs no emulation',
      },
    ]);
  });

  test('an engine that is not running fails with how to start it', async () => {
    const [engine] = await check(appBuild, { FAKE_DOCKER: 'down' });
    expect(engine).toMatchObject({ status: 'FAIL', check: 'Docker engine' });
    expect(engine.detail).toMatch(/not reachable: Cannot connect to the Docker daemon/);
    expect(engine.fix).toMatch(/start Docker/);
  });

  test('no Docker CLI at all fails, and the build check is skipped', async () => {
    const results = await check(appBuild, {}, path.join(dir, 'no-such-docker'));
    expect(results.map((r) => [r.status, r.check])).toEqual([
      ['FAIL', 'Docker engine'],
      ['SKIP', 'Docker build for linux/arm64'],
    ]);
    expect(results[0].fix).toMatch(/CDK_DOCKER/);
  });

  test('without buildx (BuildKit), the build fails: --platform and $BUILDPLATFORM need it', async () => {
    const [, build] = await check(appBuild, { FAKE_DOCKER: 'nobuildx' });
    expect(build).toMatchObject({ status: 'FAIL', fix: expect.stringMatching(/docker-buildx-plugin/) });
  });

  test('DOCKER_BUILDKIT=0 fails: the legacy builder has no --platform', async () => {
    const [, build] = await check(appBuild, { DOCKER_BUILDKIT: '0' });
    expect(build).toMatchObject({ status: 'FAIL', fix: 'unset DOCKER_BUILDKIT' });
  });

  test('a RUN on the target platform fails on another architecture unless the builder emulates it', async () => {
    const [, without] = await check(emulatedBuild);
    expect(without).toMatchObject({ status: 'FAIL' });
    expect(without.detail).toMatch(/stage build of a Dockerfile has RUN for linux\/arm64/);
    expect(without.fix).toMatch(/FROM --platform=\$BUILDPLATFORM|binfmt/);

    const [, emulated] = await check(emulatedBuild, { FAKE_PLATFORMS: 'linux/amd64, linux/arm64' });
    expect(emulated).toMatchObject({ status: 'PASS' });
    const [, native] = await check(emulatedBuild, { FAKE_ENGINE: 'linux/arm64' });
    expect(native).toMatchObject({ status: 'PASS', detail: expect.stringMatching(/the engine is linux\/arm64/) });
  });

  test('a stack given its own image needs no Docker', async () => {
    expect(await check(undefined)).toEqual([expect.objectContaining({ status: 'SKIP', check: 'Docker' })]);
  });
});
