// Can this machine build the service image for the task's platform? `cdk deploy` runs `docker build --platform …`
// (the CLI named by CDK_DOCKER, else `docker`): it needs a reachable engine, BuildKit (for `--platform` and the
// Dockerfile's `$BUILDPLATFORM`), and emulation only if a stage for the target platform has a RUN.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { stagesRunningOnTarget, type Dockerfile } from './dockerfile';
import { fail, pass, skip, type CheckResult } from './report';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the Docker CLI; `code` -1 when it cannot be started at all. */
export type RunDocker = (args: readonly string[]) => Promise<CommandResult>;

export function dockerRunner(command: string, env: NodeJS.ProcessEnv = process.env): RunDocker {
  return async (args) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(command, [...args], { env, timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: number | string };
      if (typeof e.code !== 'number') return { code: -1, stdout: '', stderr: e.message };
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
}

export interface ImageBuild {
  /** `linux/arm64`, as the asset manifest says. */
  readonly platform: string;
  readonly dockerfile: Dockerfile;
  /** Which Dockerfile, for messages: `the Dockerfile of ObservedTask/TaskDefinition/App/AssetImage`. */
  readonly dockerfileLabel: string;
}

const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';

/** The engine check and the build check; `build` undefined when the stack builds no image. */
export async function checkDocker(
  build: ImageBuild | undefined,
  run: RunDocker,
  env: NodeJS.ProcessEnv = process.env,
  command = 'docker',
): Promise<CheckResult[]> {
  if (build === undefined)
    return [skip('Docker', 'the stack builds no image (it was given one), Docker is not needed')];
  const results: CheckResult[] = [];

  const version = await run(['version', '--format', '{{.Server.Version}} {{.Server.Os}}/{{.Server.Arch}}']);
  let enginePlatform: string | undefined;
  if (version.code === -1) {
    results.push(
      fail(
        'Docker engine',
        `'${command}' cannot be run (${firstLine(version.stderr)})`,
        'install Docker (Docker Desktop, or Docker Engine with the buildx plugin), or set CDK_DOCKER to your CLI',
      ),
    );
  } else if (version.code !== 0) {
    results.push(
      fail(
        'Docker engine',
        `not reachable: ${firstLine(version.stderr) || `exit ${version.code}`}`,
        'start Docker (Docker Desktop, or `sudo systemctl start docker`), and check `docker version` answers',
      ),
    );
  } else {
    const [serverVersion, platform] = version.stdout.trim().split(' ');
    enginePlatform = platform;
    results.push(pass('Docker engine', `Docker ${serverVersion} on ${platform}`));
  }

  const check = `Docker build for ${build.platform}`;
  if (version.code === -1) {
    results.push(skip(check, 'no Docker CLI'));
    return results;
  }
  if (env.DOCKER_BUILDKIT === '0') {
    results.push(
      fail(check, 'DOCKER_BUILDKIT=0 selects the legacy builder, which has no --platform', 'unset DOCKER_BUILDKIT'),
    );
    return results;
  }
  const buildx = await run(['buildx', 'version']);
  if (buildx.code !== 0) {
    results.push(
      fail(
        check,
        `BuildKit's buildx plugin is missing (${firstLine(buildx.stderr) || `exit ${buildx.code}`})`,
        'install the buildx plugin (package docker-buildx-plugin; Docker Desktop includes it)',
      ),
    );
    return results;
  }
  const onTarget = stagesRunningOnTarget(build.dockerfile);
  const crossBuild = enginePlatform !== undefined && enginePlatform !== build.platform;
  if (onTarget.length === 0) {
    results.push(
      pass(
        check,
        `${firstLine(buildx.stdout)}; ${build.dockerfileLabel} runs every RUN on the build platform, so ` +
          `${crossBuild ? `building on ${enginePlatform} ` : ''}needs no emulation`,
      ),
    );
    return results;
  }
  if (!crossBuild) {
    results.push(pass(check, `${firstLine(buildx.stdout)}; the engine is ${build.platform} itself`));
    return results;
  }
  const stages = onTarget.map((stage) => stage.name ?? stage.base).join(', ');
  const inspect = await run(['buildx', 'inspect']);
  const platforms = /^Platforms:\s*(.*)$/m.exec(inspect.stdout)?.[1] ?? '';
  if (platforms.split(/,\s*/).includes(build.platform)) {
    results.push(pass(check, `stage ${stages} runs under emulation, which the builder offers (${platforms})`));
  } else {
    results.push(
      fail(
        check,
        `stage ${stages} of ${build.dockerfileLabel} has RUN for ${build.platform}, which this ${enginePlatform} ` +
          `builder cannot emulate (it offers ${platforms || 'nothing else'})`,
        `move those RUNs into a stage FROM --platform=$BUILDPLATFORM, or install QEMU binfmt ` +
          '(`docker run --privileged --rm tonistiigi/binfmt --install all`)',
      ),
    );
  }
  return results;
}
