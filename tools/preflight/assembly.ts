// What a synthesized cloud assembly (cdk.out) says the deploy will need: the stack's region, the task's platform,
// the images its task definitions name, the image `cdk deploy` will build, the service log group and whether the
// stack creates it, the bootstrap version it requires, and the cost-allocation tag with the budget that filters on it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDockerfile } from './dockerfile';
import type { ImageBuild } from './docker';
import type { Platform } from './registry';

export const ROOT = path.join(__dirname, '..', '..');

/** The cost-allocation tag the stack puts on its resources (lib/cost-budget.ts COST_TAG_KEY; a test keeps them equal). */
export const COST_ALLOCATION_TAG_KEY = 'otel-fargate-stack';
const CDK = path.join(ROOT, 'node_modules', '.bin', 'cdk');

export interface StackFacts {
  readonly stackName: string;
  /** The stack's region; undefined when the stack is environment-agnostic. */
  readonly region?: string;
  /** The task's platform, as registries name it (`linux/arm64`). */
  readonly platform: Platform;
  /** Every registry image the task definitions name (the image `cdk deploy` builds is not among them). */
  readonly images: readonly string[];
  /** The image `cdk deploy` builds from a Dockerfile, if any. */
  readonly build?: ImageBuild;
  /** The group the service's log router writes to, and whether the stack creates it. */
  readonly logGroup?: { readonly name: string; readonly created: boolean };
  readonly bootstrapMinVersion: number;
  /** The cost-allocation tag on the stack's resources, and the AWS Budgets budget that filters on it, if any. */
  readonly costAllocation?: { readonly tagKey: string; readonly budgetName?: string };
}

export class AssemblyError extends Error {}

/** Runs `cdk synth` into `outdir` the way a user does (the app from cdk.json, the given `-c key=value` pairs). */
export function synthesize(outdir: string, context: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  const args = ['synth', '--quiet', '--no-notices', '-o', outdir, ...context.flatMap((c) => ['-c', c])];
  const result = spawnSync(CDK, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() || String(result.error ?? '');
    throw new AssemblyError(`cdk synth failed (exit ${result.status}):\n${output}`);
  }
}

interface Manifest {
  artifacts: Record<
    string,
    {
      type: string;
      environment?: string;
      displayName?: string;
      properties?: { templateFile?: string; file?: string; requiresBootstrapStackVersion?: number };
    }
  >;
}

interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
}

interface Template {
  Resources?: Record<string, TemplateResource>;
}

interface ContainerDefinition {
  Name?: string;
  Image?: unknown;
  LogConfiguration?: { LogDriver?: string; Options?: Record<string, unknown> };
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new AssemblyError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Reads the one stack of the assembly in `outdir`. */
export function readAssembly(outdir: string): StackFacts {
  const manifest = readJson<Manifest>(path.join(outdir, 'manifest.json'));
  const stacks = Object.entries(manifest.artifacts).filter(([, a]) => a.type === 'aws:cloudformation:stack');
  if (stacks.length !== 1) {
    throw new AssemblyError(`${outdir} holds ${stacks.length} stacks; preflight checks exactly one`);
  }
  const [stackName, stack] = stacks[0];
  const template = readJson<Template>(
    path.join(outdir, stack.properties?.templateFile ?? `${stackName}.template.json`),
  );
  const resources = Object.values(template.Resources ?? {});

  const region = /^aws:\/\/[^/]+\/(.+)$/.exec(stack.environment ?? '')?.[1];
  const taskDefinitions = resources.filter((r) => r.Type === 'AWS::ECS::TaskDefinition');
  const architectures = new Set(
    taskDefinitions.map((t) => {
      const runtime = t.Properties?.RuntimePlatform as { CpuArchitecture?: string } | undefined;
      return runtime?.CpuArchitecture === 'ARM64' ? 'arm64' : 'amd64';
    }),
  );
  if (architectures.size !== 1) {
    throw new AssemblyError(`expected one task CPU architecture, found ${[...architectures].join(', ') || 'none'}`);
  }
  const platform = { os: 'linux', architecture: [...architectures][0] };

  const containers = taskDefinitions.flatMap(
    (t) => (t.Properties?.ContainerDefinitions as ContainerDefinition[] | undefined) ?? [],
  );
  // A string is a registry image; the image built from a Dockerfile is an intrinsic naming the asset repository.
  const images = [...new Set(containers.map((c) => c.Image).filter((i): i is string => typeof i === 'string'))];

  // A group the stack creates is named by a Ref to it (or by its name); an adopted one by its name only.
  const firelens = containers.find((c) => c.LogConfiguration?.LogDriver === 'awsfirelens');
  const groupName = firelens?.LogConfiguration?.Options?.log_group_name;
  const ref = (groupName as { Ref?: string } | undefined)?.Ref;
  const createdGroup = ref !== undefined ? template.Resources?.[ref] : undefined;
  const logGroup =
    typeof groupName === 'string'
      ? {
          name: groupName,
          created: resources.some((r) => r.Type === 'AWS::Logs::LogGroup' && r.Properties?.LogGroupName === groupName),
        }
      : createdGroup?.Type === 'AWS::Logs::LogGroup' && typeof createdGroup.Properties?.LogGroupName === 'string'
        ? { name: createdGroup.Properties.LogGroupName, created: true }
        : undefined;

  const assetManifests = Object.values(manifest.artifacts).filter((a) => a.type === 'cdk:asset-manifest');
  const bootstrapMinVersion = Math.max(
    0,
    stack.properties?.requiresBootstrapStackVersion ?? 0,
    ...assetManifests.map((a) => a.properties?.requiresBootstrapStackVersion ?? 0),
  );
  const build = dockerBuild(
    outdir,
    assetManifests.map((a) => a.properties?.file).filter((f) => f !== undefined),
  );

  const costAllocation = costAllocationOf(resources);

  return {
    stackName,
    ...(region && !region.startsWith('unknown') ? { region } : {}),
    platform,
    images,
    ...(build ? { build } : {}),
    ...(logGroup ? { logGroup } : {}),
    bootstrapMinVersion,
    ...(costAllocation ? { costAllocation } : {}),
  };
}

/**
 * The budget's tag filter (`user:<key>$<value>`, Budgets' form for a user-defined tag) names the tag that matters;
 * without a budget, the stack's own tag when its resources carry it.
 */
function costAllocationOf(resources: TemplateResource[]): StackFacts['costAllocation'] {
  const budget = resources.find((r) => r.Type === 'AWS::Budgets::Budget')?.Properties?.Budget as
    { BudgetName?: unknown; CostFilters?: { TagKeyValue?: unknown[] } } | undefined;
  const filter = budget?.CostFilters?.TagKeyValue?.find((f): f is string => typeof f === 'string');
  const filteredKey = filter === undefined ? undefined : /^user:([^$]+)\$/.exec(filter)?.[1];
  if (filteredKey !== undefined) {
    return {
      tagKey: filteredKey,
      ...(typeof budget?.BudgetName === 'string' ? { budgetName: budget.BudgetName } : {}),
    };
  }
  const tagged = resources.some(
    (r) =>
      Array.isArray(r.Properties?.Tags) &&
      (r.Properties.Tags as { Key?: unknown }[]).some((tag) => tag.Key === COST_ALLOCATION_TAG_KEY),
  );
  return tagged ? { tagKey: COST_ALLOCATION_TAG_KEY } : undefined;
}

interface AssetManifest {
  dockerImages?: Record<
    string,
    { displayName?: string; source: { directory?: string; dockerFile?: string; platform?: string } }
  >;
}

function dockerBuild(outdir: string, files: readonly string[]): ImageBuild | undefined {
  for (const file of files) {
    const assets = readJson<AssetManifest>(path.join(outdir, file));
    for (const { displayName, source } of Object.values(assets.dockerImages ?? {})) {
      if (!source.directory) continue;
      const dockerFile = source.dockerFile ?? 'Dockerfile';
      return {
        platform: source.platform ?? 'linux/amd64',
        dockerfile: readDockerfile(path.join(outdir, source.directory, dockerFile)),
        dockerfileLabel: `the ${dockerFile} of ${displayName ?? source.directory}`,
      };
    }
  }
  return undefined;
}
