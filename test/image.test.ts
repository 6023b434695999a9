// The service image (app/Dockerfile) and the task that runs it: how it builds for the task's CPU architecture on
// any machine, what it pulls at build time, and the /tmp the task gives it.
import * as path from 'node:path';
import { APP_DIRECTORY } from '../lib/otel-fargate-stack';
import { SERVICE_TMP_PATH } from '../lib/observed-task-definition';
import {
  readDockerfile,
  runsOnBuildPlatform,
  stagesRunningOnTarget,
  volumePaths,
  type Stage,
} from '../tools/preflight/dockerfile';
import { container, sharedTemplate } from './helpers';

const dockerfile = readDockerfile(path.join(APP_DIRECTORY, 'Dockerfile'));
const runtime: Stage = dockerfile.stages.at(-1)!;
const keywords = (stage: Stage) => stage.instructions.map((i) => i.keyword);

describe('the image builds for the task’s architecture without emulation', () => {
  // `cdk deploy` runs `docker build --platform linux/arm64` (or amd64): a RUN on the target platform needs
  // QEMU/binfmt on a machine of the other architecture, and fails with `exec format error` without it.
  test('the build stage, which runs npm ci and the build, runs on the builder’s own platform', () => {
    const build = dockerfile.stages.find((stage) => stage.name === 'build')!;
    expect(keywords(build)).toContain('RUN');
    expect(runsOnBuildPlatform(build)).toBe(true);
  });

  test('the runtime stage is for the target platform and only copies: it has no RUN', () => {
    expect(runtime.platform).toBeUndefined();
    expect(keywords(runtime)).not.toContain('RUN');
    expect(stagesRunningOnTarget(dockerfile)).toEqual([]);
  });

  test('every stage starts from the same pinned Node image', () => {
    expect(dockerfile.globalArgs.NODE_IMAGE).toMatch(/^node:24\.\d+\.\d+-[a-z]+-slim$/);
    expect(new Set(dockerfile.stages.map((stage) => stage.base))).toEqual(new Set(['${NODE_IMAGE}']));
  });
});

describe('the image pulls nothing unpinned at build time', () => {
  test('no `# syntax=` frontend, unless pinned by digest', () => {
    const syntax = dockerfile.directives.syntax;
    if (syntax !== undefined) expect(syntax).toMatch(/@sha256:[0-9a-f]{64}$/);
  });
});

describe('/tmp is writable by the service user on Fargate', () => {
  // A Fargate bind mount is owned by root with mode 0755, unless the image declares a VOLUME at the mount's path:
  // then the image's ownership and mode are copied to it (AWS docs, Amazon ECS developer guide, "Use bind mounts
  // with Amazon ECS", considerations; awsdocs/amazon-ecs-developer-guide doc_source/bind-mounts.md). The node
  // image's /tmp is root:root 1777, like any Debian /tmp.
  const template = sharedTemplate();
  const app = container(template, 'app');
  const taskDefinition = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0].Properties as {
    Volumes: Record<string, unknown>[];
  };

  test('the task mounts a read-write bind mount of its ephemeral storage there', () => {
    const mounts = app.MountPoints as { ContainerPath: string; SourceVolume: string; ReadOnly: boolean }[];
    const tmp = mounts.find((m) => m.ContainerPath === SERVICE_TMP_PATH)!;
    expect(tmp.ReadOnly).toBe(false);
    // Only a name: no host path (Fargate has none), no Docker or EFS volume configuration.
    expect(taskDefinition.Volumes).toContainEqual({ Name: tmp.SourceVolume });
  });

  test('the runtime stage declares a VOLUME at exactly that path, so the mount gets /tmp’s 1777', () => {
    const volumes = runtime.instructions.filter((i) => i.keyword === 'VOLUME').flatMap(volumePaths);
    expect(volumes).toContain(SERVICE_TMP_PATH);
    // Nothing in the image changes /tmp's owner or mode before Fargate copies them.
    for (const instruction of runtime.instructions.filter((i) => i.keyword === 'COPY')) {
      expect(instruction.args.split(/\s+/).at(-1)).not.toMatch(/^\/tmp(\/|$)/);
    }
  });

  test('the image’s user is the task’s user, uid 1000 (the node image’s `node`)', () => {
    expect(runtime.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args)).toEqual(['node']);
    expect(app.User).toBe('1000:1000');
  });
});
