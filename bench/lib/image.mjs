// What each variant adds to a container image: its code plus its production dependencies. The service's image holds
// what app/Dockerfile's runtime stage copies, its two bundles (app/dist) and package.json, and no node_modules; the
// peers hold their code and their production dependencies at the versions pinned in bench/package-lock.json, as
// `npm install --omit=dev` lays them out: that is how a user would install them. Size is the sum of file sizes, in
// MB of 10^6 bytes. The peers' installs are cached by input.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function treeBytes(target) {
  const stat = lstatSync(target);
  if (!stat.isDirectory()) return stat.size;
  let total = 0;
  for (const entry of readdirSync(target)) total += treeBytes(path.join(target, entry));
  return total;
}

function installedVersion(benchDir, name) {
  return JSON.parse(readFileSync(path.join(benchDir, 'node_modules', name, 'package.json'), 'utf8')).version;
}

function npm(args, cwd) {
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], {
    cwd,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

function peerInstall(dependencies) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-image-'));
  try {
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'probe', private: true, dependencies }));
    npm(['install', '--omit=dev', '--prefer-offline'], dir);
    return treeBytes(path.join(dir, 'node_modules'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sizes in MB per variant id; `a` and `b` are the same image. */
export function imageSizes({ repoRoot, benchDir, serviceAvailable, log }) {
  const appDir = path.join(repoRoot, 'app');
  const v = (name) => installedVersion(benchDir, name);
  const base = { express: v('express'), pino: v('pino') };
  const peers = {
    a0: base,
    c: {
      ...base,
      '@opentelemetry/api': v('@opentelemetry/api'),
      '@opentelemetry/auto-instrumentations-node': v('@opentelemetry/auto-instrumentations-node'),
    },
    d: {
      ...base,
      '@opentelemetry/api': installedVersion(benchDir, 'otel-api-1.9'),
      '@aws/aws-distro-opentelemetry-node-autoinstrumentation': v(
        '@aws/aws-distro-opentelemetry-node-autoinstrumentation',
      ),
    },
  };
  const peerCode = treeBytes(path.join(benchDir, 'peer'));
  const key = createHash('sha256').update(JSON.stringify({ peers })).digest('hex');
  const cacheDir = path.join(benchDir, '.cache');
  const cacheFile = path.join(cacheDir, 'image-deps.json');
  let deps = existsSync(cacheFile) ? JSON.parse(readFileSync(cacheFile, 'utf8')) : undefined;
  if (deps?.key !== key) {
    deps = { key, bytes: {} };
    for (const [id, dependencies] of Object.entries(peers)) {
      log(`image: installing production dependencies of ${id}`);
      deps.bytes[id] = peerInstall(dependencies);
    }
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(cacheFile, JSON.stringify(deps));
  }
  const mb = (bytes) => bytes / 1e6;
  const sizes = {};
  for (const id of Object.keys(peers))
    sizes[id] = { codeMB: mb(peerCode), depsMB: mb(deps.bytes[id]), dependencies: peers[id] };
  if (serviceAvailable) {
    const code = treeBytes(path.join(appDir, 'dist')) + treeBytes(path.join(appDir, 'package.json'));
    sizes.a = sizes.b = { codeMB: mb(code), depsMB: 0, dependencies: 'bundled into app/dist by app/scripts/build.mjs' };
  }
  for (const size of Object.values(sizes)) size.totalMB = size.codeMB + size.depsMB;
  return sizes;
}
