// Reads a Dockerfile into its parser directives, global ARGs and stages, enough to check how an image builds:
// which platform each stage runs on and what it runs. Used by `npm run preflight` and by the image tests.
import * as fs from 'node:fs';

export interface Instruction {
  /** Upper-case keyword: RUN, COPY, VOLUME, … */
  readonly keyword: string;
  /** The rest of the instruction, continuation lines joined with a space. */
  readonly args: string;
}

export interface Stage {
  /** The `--platform=` of its FROM, if any (`$BUILDPLATFORM` runs the stage on the builder's own platform). */
  readonly platform?: string;
  /** The base image as written (`${NODE_IMAGE}`). */
  readonly base: string;
  readonly name?: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** Parser directives from the file's first comment lines (`syntax`, `escape`, `check`), lower-case keys. */
  readonly directives: Readonly<Record<string, string>>;
  /** ARGs before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string | undefined>>;
  readonly stages: readonly Stage[];
}

export function readDockerfile(file: string): Dockerfile {
  return parseDockerfile(fs.readFileSync(file, 'utf8'));
}

export function parseDockerfile(text: string): Dockerfile {
  const directives: Record<string, string> = {};
  const globalArgs: Record<string, string | undefined> = {};
  const stages: { platform?: string; base: string; name?: string; instructions: Instruction[] }[] = [];
  let inDirectives = true;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (pending === '' && line.trimStart().startsWith('#')) {
      const directive = inDirectives ? /^#\s*([a-zA-Z]+)\s*=\s*(.*)$/.exec(line) : null;
      if (directive) directives[directive[1].toLowerCase()] = directive[2].trim();
      else inDirectives = false;
      continue;
    }
    inDirectives = false;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const whole = `${pending}${line.trim()}`.trim();
    pending = '';
    if (whole === '' || whole.startsWith('#')) continue;
    const [, keyword, args = ''] = /^(\S+)\s*(.*)$/.exec(whole)!;
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const words = args.split(/\s+/);
      const platform = words.find((w) => w.startsWith('--platform='))?.slice('--platform='.length);
      const rest = words.filter((w) => !w.startsWith('--'));
      const asAt = rest.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({
        ...(platform !== undefined ? { platform } : {}),
        base: rest[0],
        ...(asAt > 0 ? { name: rest[asAt + 1] } : {}),
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (upper === 'ARG') {
        const [name, value] = args.split('=', 2);
        globalArgs[name.trim()] = value?.trim();
      }
    } else {
      stages.at(-1)!.instructions.push({ keyword: upper, args });
    }
  }
  return { directives, globalArgs, stages };
}

/** The paths a VOLUME instruction declares, in either the JSON or the plain form. */
export function volumePaths(instruction: Instruction): string[] {
  const args = instruction.args.trim();
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return args.split(/\s+/);
}

/** True when the stage runs on the builder's own platform, whatever the target platform. */
export function runsOnBuildPlatform(stage: Stage): boolean {
  return stage.platform === '$BUILDPLATFORM' || stage.platform === '${BUILDPLATFORM}';
}

/** The stages whose RUN instructions would execute on the target platform (under emulation on another one). */
export function stagesRunningOnTarget(dockerfile: Dockerfile): Stage[] {
  return dockerfile.stages.filter(
    (stage) => !runsOnBuildPlatform(stage) && stage.instructions.some((i) => i.keyword === 'RUN'),
  );
}
