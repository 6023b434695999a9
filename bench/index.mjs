// `npm run bench` entry: checks the command line (answering --help and refusing a wrong one before anything is
// installed), installs bench/'s own dependencies when they are missing or stale, then runs the benchmark.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, parseBenchArgs, usage } from './lib/cli.mjs';

try {
  if (parseBenchArgs(process.argv.slice(2)).help) {
    process.stdout.write(usage());
    process.exit(0);
  }
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`npm run bench: ${error.message} (npm run bench -- --help)\n`);
  process.exit(2);
}

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const installed = path.join(benchDir, 'node_modules', '.package-lock.json');
const wanted = JSON.parse(readFileSync(path.join(benchDir, 'package-lock.json'), 'utf8')).packages;
const stale =
  !existsSync(installed) ||
  Object.entries(JSON.parse(readFileSync(installed, 'utf8')).packages).length !== Object.keys(wanted).length - 1;
if (stale) {
  process.stderr.write('[bench] installing bench/ dependencies (npm ci)\n');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: benchDir, stdio: 'inherit' });
}
await import('./run.mjs');
