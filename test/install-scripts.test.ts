// npm 11 runs a dependency's install script unless the project's `allowScripts` says otherwise. Each project names
// every dependency that has one, and runs none: in the service, esbuild finds its binary through its optional
// platform package (@esbuild/linux-x64, …) and protobufjs's script only prints a version-scheme warning; the root
// and the benchmark made the same choice for their own tools. A new dependency with a script fails here until someone decides.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');

function readJson<T>(...parts: string[]): T {
  return JSON.parse(fs.readFileSync(path.join(ROOT, ...parts), 'utf8')) as T;
}

/** The names of the installed packages that declare an install script, from the lockfile. */
function withInstallScripts(project: string): string[] {
  const lock = readJson<{ packages: Record<string, { hasInstallScript?: boolean }> }>(project, 'package-lock.json');
  return Object.entries(lock.packages)
    .filter(([location, entry]) => location !== '' && entry.hasInstallScript)
    .map(([location]) => location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

describe.each([
  ['the CDK app', '.'],
  ['the service', 'app'],
  ['the benchmark', 'bench'],
])('%s', (_name, project) => {
  test('names every dependency that has an install script in allowScripts, and runs none of them', () => {
    const allowScripts = readJson<{ allowScripts?: Record<string, boolean> }>(project, 'package.json').allowScripts;
    const packages = [...new Set(withInstallScripts(project))].sort();
    expect(packages.length).toBeGreaterThan(0);
    expect(Object.fromEntries(packages.map((name) => [name, allowScripts?.[name]]))).toEqual(
      Object.fromEntries(packages.map((name) => [name, false])),
    );
  });
});
