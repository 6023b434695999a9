// Re-renders a results file after a change to the analysis or the page, without measuring again:
// node bench/render.mjs [bench/results/full.json]  (full.json renders BENCHMARKS.md, others render beside their JSON)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyse } from './lib/analyse.mjs';
import { render } from './lib/render.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const jsonPath = path.resolve(process.argv[2] ?? path.join(benchDir, 'results', 'full.json'));
const results = JSON.parse(readFileSync(jsonPath, 'utf8'));
results.name ??= path.basename(jsonPath, '.json');
results.analysis = analyse(results);
const markdownPath =
  results.name === 'full' ? path.join(repoRoot, 'BENCHMARKS.md') : jsonPath.replace(/\.json$/, '.md');
const prettier = await import(path.join(repoRoot, 'node_modules', 'prettier', 'index.mjs'));
const format = async (file, text) => prettier.format(text, { ...(await prettier.resolveConfig(file)), filepath: file });
writeFileSync(jsonPath, await format(jsonPath, JSON.stringify(results, null, 2)));
writeFileSync(markdownPath, await format(markdownPath, render(results)));
process.stderr.write(`rendered ${path.relative(repoRoot, markdownPath)}\n`);
