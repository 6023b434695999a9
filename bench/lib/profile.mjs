// Summarises a V8 .cpuprofile (node --cpu-prof): within the load window, where the CPU time goes, per request,
// by the package of the function that ran ("self") and by the nearest package code up the stack that caused it
// ("on behalf of": node internals and builtins are charged to the package that called them), and split into the
// buckets of issue 22 (the span's own work, the batch, the export, the collection, the rest of the request).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * For a file of the service's esbuild bundles, the modules it holds: esbuild starts each module's code with a
 * `// node_modules/pkg/file.js` or `// src/file.ts` comment, so a line number names the module it came from.
 */
const bundleSections = new Map();
function sectionsOf(url) {
  if (!bundleSections.has(url)) {
    const lines = readFileSync(url.startsWith('file:') ? fileURLToPath(url) : url, 'utf8').split('\n');
    const sections = [];
    lines.forEach((line, index) => {
      const source = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(line)?.[1];
      if (source !== undefined) sections.push({ line: index, source });
    });
    bundleSections.set(url, sections);
  }
  return bundleSections.get(url);
}

/** The module a bundle's line (0-based) belongs to, as a path like those Node reports for unbundled files. */
function bundledSource(url, lineNumber) {
  let found;
  for (const section of sectionsOf(url)) {
    if (section.line > lineNumber) break;
    found = section.source;
  }
  return found === undefined ? url : `/${found}`;
}

const isBundle = (url) => /\/app\/dist\/[^/]+\.js$/.test(url);

function packageOf(url, functionName, lineNumber) {
  if (functionName === '(garbage collector)') return '(garbage collector)';
  if (functionName === '(program)') return '(program: V8/native)';
  if (functionName === '(idle)') return '(idle)';
  if (!url) return '(builtin)';
  if (isBundle(url)) url = bundledSource(url, lineNumber);
  const marker = url.lastIndexOf('/node_modules/');
  if (marker !== -1) {
    const rest = url.slice(marker + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:'))
    return (
      'node:' +
      url
        .slice(5)
        .split('/')[0]
        .replace(/^internal\/?/, 'internal')
    );
  if (url.startsWith('/src/')) return 'service code (app/src)';
  if (url.includes('/app/dist/')) return 'service code (app/dist)';
  if (url.includes('/bench/peer/')) return 'peer app code';
  return url;
}

const isUserland = (pkg) => !pkg.startsWith('(') && !pkg.startsWith('node:') && pkg !== '(builtin)';

/** The buckets of a request's CPU time, in the order issue 22 names them. */
export const BUCKETS = ['span', 'batch', 'export', 'collection', 'request'];

// The exporter's packages (bundled apart, in app/dist/otlp-exporter.js), and the service's wrapper that calls them.
const EXPORT_MODULE =
  /\/node_modules\/(@opentelemetry\/(exporter-trace-otlp-|otlp-)|@grpc\/|protobufjs\/)|\/src\/telemetry\/exporter\.ts$/;
const BATCH_MODULE =
  /\/node_modules\/@opentelemetry\/sdk-trace(-base)?\/dist\/(export\/(BatchSpanProcessorBase|SpanProcessorMetrics)|platform\/node\/export\/BatchSpanProcessor)\.cjs$/;
const SPAN_MODULE = /\/node_modules\/@opentelemetry\/|\/src\/telemetry\/|\/src\/step\.ts$/;

/** The bucket a userland frame's module puts its work in; `export` is decided by the whole stack, not only here. */
function moduleBucket(url, lineNumber) {
  if (url.endsWith('/app/dist/otlp-exporter.js')) return 'export';
  const source = isBundle(url) ? bundledSource(url, lineNumber) : url;
  if (EXPORT_MODULE.test(source)) return 'export';
  if (BATCH_MODULE.test(source)) return 'batch';
  if (SPAN_MODULE.test(source)) return 'span';
  return 'request';
}

/**
 * Each node's bucket: `collection` for the garbage collector; `export` when an exporter frame is anywhere on the
 * stack (grpc-js calls into node internals); otherwise the bucket of the nearest userland frame to the leaf, not of
 * any frame up the stack, since the service's HTTP wrapper runs the whole Express listener inside `context.with`.
 */
function bucketsOfNodes(profile, parent, pkgOf) {
  const ownBucket = new Map();
  for (const { id, callFrame } of profile.nodes) {
    if (isUserland(pkgOf.get(id))) ownBucket.set(id, moduleBucket(callFrame.url, callFrame.lineNumber));
  }
  const buckets = new Map();
  for (const { id } of profile.nodes) {
    if (pkgOf.get(id) === '(garbage collector)') {
      buckets.set(id, 'collection');
      continue;
    }
    let nearest;
    let underExport = false;
    for (let up = id; up !== undefined && !underExport; up = parent.get(up)) {
      const own = ownBucket.get(up);
      nearest ??= own;
      underExport = own === 'export';
    }
    buckets.set(id, underExport ? 'export' : (nearest ?? 'request'));
  }
  return buckets;
}

export function summarizeProfile(profile, { windowStartUs, windowEndUs, requests }) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const pkgOf = new Map(
    profile.nodes.map((n) => [n.id, packageOf(n.callFrame.url, n.callFrame.functionName, n.callFrame.lineNumber)]),
  );

  const bucketOf = bucketsOfNodes(profile, parent, pkgOf);

  const self = new Map();
  const buckets = new Map(BUCKETS.map((bucket) => [bucket, 0]));
  const onBehalf = new Map();
  const functions = new Map();
  let t = profile.startTime;
  let inWindowUs = 0;
  let totalUs = 0;
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);
  const useWindow = windowStartUs !== undefined;
  for (let i = 0; i < profile.samples.length; i += 1) {
    t += profile.timeDeltas[i];
    const us = profile.timeDeltas[i + 1] ?? 0;
    totalUs += us;
    if (useWindow && (t < windowStartUs || t > windowEndUs)) continue;
    const leaf = profile.samples[i];
    const pkg = pkgOf.get(leaf);
    if (pkg === '(idle)') continue;
    inWindowUs += us;
    add(self, pkg, us);
    add(buckets, bucketOf.get(leaf), us);
    let owner = pkg;
    for (let id = leaf; id !== undefined && !isUserland(owner); id = parent.get(id)) owner = pkgOf.get(id);
    add(onBehalf, isUserland(owner) ? owner : pkg, us);
    const frame = byId.get(leaf).callFrame;
    add(functions, `${pkg} ${frame.functionName || '(anonymous)'}:${frame.lineNumber + 1}`, us);
  }
  const perRequest = (map, limit) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, usPerRequest: us / requests, share: us / inWindowUs }));
  return {
    requests,
    busyUsPerRequest: inWindowUs / requests,
    windowed: useWindow,
    sampledSeconds: totalUs / 1e6,
    self: perRequest(self, 20),
    onBehalf: perRequest(onBehalf, 20),
    functions: perRequest(functions, 25),
    buckets: Object.fromEntries([...buckets].map(([bucket, us]) => [bucket, us / requests])),
  };
}
