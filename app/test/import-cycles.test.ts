// The service's modules import one another in one direction only: a cycle (sampler.ts and xray-sampling.ts, and
// config.ts and logger.ts, used to import each other for one type) means neither can be read, tested or loaded
// without the other. Imports are read
// with the TypeScript compiler's own pre-processor, type-only imports and re-exports included.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.join(__dirname, '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Each module of src/ and the modules of src/ it imports. */
function importGraph(): Map<string, string[]> {
  const files = new Set(sourceFiles(SRC));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const local = importedFiles
      .map((imported) => imported.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => path.resolve(path.dirname(file), name))
      .flatMap((base) => [`${base}.ts`, path.join(base, 'index.ts')].filter((candidate) => files.has(candidate)));
    graph.set(file, local);
  }
  return graph;
}

/** The graph's strongly connected components of more than one module: its import cycles (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const lowlinks = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    lowlinks.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        lowlinks.set(node, Math.min(lowlinks.get(node)!, lowlinks.get(next)!));
      } else if (onStack.has(next)) {
        lowlinks.set(node, Math.min(lowlinks.get(node)!, indices.get(next)!));
      }
    }
    if (lowlinks.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(path.relative(SRC, member));
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return found;
}

describe('imports between the modules of src/', () => {
  it('when the modules of src/ are read, then the graph has their imports (the check below sees something)', () => {
    const graph = importGraph();
    const imported = (file: string): string[] => graph.get(path.join(SRC, file))!.map((f) => path.relative(SRC, f));
    expect(imported(path.join('telemetry', 'sampler.ts'))).toEqual(
      expect.arrayContaining([path.join('telemetry', 'root-decision.ts'), path.join('telemetry', 'xray-sampling.ts')]),
    );
    expect(imported('config.ts')).toEqual(['logger.ts']);
  });

  it('when two modules import each other, then the check finds the cycle', () => {
    const graph = new Map([
      ['/src/a.ts', ['/src/b.ts']],
      ['/src/b.ts', ['/src/c.ts']],
      ['/src/c.ts', ['/src/a.ts']],
      ['/src/d.ts', ['/src/a.ts']],
    ]);
    expect(cycles(graph).map((cycle) => cycle.map((file) => path.basename(file)))).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('no module in src/ is part of an import cycle, directly or through others', () => {
    expect(cycles(importGraph())).toEqual([]);
  });
});
