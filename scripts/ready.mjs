// Run by npm before `npm test` (pretest) and `npm run start:app` (prestart:app): when what the command needs is
// missing, it says what to run instead of letting the command fail with `sh: 1: jest: not found` or a module stack
// trace. Plain Node and no dependencies, because it has to work before `npm ci`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What a command can need: how to tell it is there, what it needs first, and the command that provides it. */
const STEPS = {
  installed: {
    files: ['node_modules/.bin/jest', 'app/node_modules/.package-lock.json'],
    requires: [],
    missing: 'the dependencies are not installed',
    run: 'npm ci',
  },
  built: {
    files: ['app/dist/main.js', 'app/dist/otlp-exporter.js'],
    requires: ['installed'],
    missing: 'the service is not built (app/dist)',
    run: 'npm run build',
  },
};

/** What each command needs. The built service runs without node_modules: its two bundles are self-contained. */
const NEEDS = {
  test: ['installed', 'built'],
  'start:app': ['built'],
  // tsx runs the tool, and the tool runs the built service.
  local: ['installed', 'built'],
};

/** The message for `command` when something it needs is missing, else undefined. */
export function readiness(command, exists = (file) => existsSync(path.join(ROOT, file))) {
  const needs = NEEDS[command];
  if (needs === undefined) throw new Error(`unknown command '${command}': one of ${Object.keys(NEEDS).join(', ')}`);
  const present = (step) => STEPS[step].files.every(exists);
  const toRun = [];
  const add = (step) => {
    if (present(step) || toRun.includes(step)) return;
    STEPS[step].requires.forEach(add);
    toRun.push(step);
  };
  needs.forEach(add);
  if (toRun.length === 0) return undefined;
  const npmCommand = command === 'test' ? 'npm test' : `npm run ${command}`;
  return (
    `\`${npmCommand}\` cannot run yet: ${toRun.map((step) => STEPS[step].missing).join(' and ')}. ` +
    `Run ${toRun.map((step) => `\`${STEPS[step].run}\``).join(', then ')}, then \`${npmCommand}\` again.`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const message = readiness(process.argv[2]);
  if (message !== undefined) {
    process.stderr.write(`${message}\n`);
    process.exitCode = 1;
  }
}
