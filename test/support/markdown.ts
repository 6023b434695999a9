// What the documentation tests read in a Markdown file: its headings' anchors as GitHub makes them, its relative
// links, its table rows and its shell commands, with fenced code blocks told apart from prose.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

/** The documentation a reader follows links through: the front door, docs/, and the READMEs of app/ and tools/. */
export function documentationFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  const tools = fs
    .readdirSync(path.join(ROOT, 'tools'), { recursive: true, encoding: 'utf8' })
    .filter((name) => path.basename(name) === 'README.md' && !name.includes('node_modules'))
    .map((name) => `tools/${name.split(path.sep).join('/')}`);
  return ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', 'app/README.md', ...docs, ...tools].sort();
}

export function read(file: string): string {
  return fs.readFileSync(path.join(ROOT, file), 'utf8');
}

/** The lines outside fenced code blocks, with their 1-based line numbers. */
export function proseLines(text: string): { line: string; number: number }[] {
  const out: { line: string; number: number }[] = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (marker !== undefined && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) out.push({ line, number: i + 1 });
  });
  return out;
}

/** GitHub's anchor for a heading: its text lowercased, punctuation dropped, spaces made hyphens (github-slugger). */
export function slug(heading: string): string {
  const text = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '').replace(/ /g, '-');
}

/** Every anchor a file's headings make, a repeated one numbered as GitHub numbers it (`-1`, `-2`, …). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
}

/** Every link target outside code (fenced blocks and inline code spans), with its line number. */
export function links(text: string): { target: string; number: number }[] {
  const out: { target: string; number: number }[] = [];
  for (const { line, number } of proseLines(text)) {
    const prose = line.replace(/`[^`]*`/g, '``');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ target: match[1], number });
  }
  return out;
}

/** The lines of every Markdown table outside code. */
export function tableLines(text: string): { line: string; number: number }[] {
  return proseLines(text).filter(({ line }) => line.trimStart().startsWith('|'));
}

/** The shell commands of a text's `sh` blocks: continuation lines joined, comments cut. */
export function shellCommands(text: string): string[] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((block) => block[1].replace(/\\\n\s*/g, ' ').split('\n'))
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}
