#!/bin/sh
# Deletes from a production node_modules the files the service never loads at run time, after
# `npm ci --omit=dev`. Used by the Dockerfile's deps stage, by test/install.test.ts (which proves the pruned tree
# starts, traces and correlates logs) and by the benchmark's image-size measurement, so all three see one tree.
# Usage: sh scripts/prune-production.sh [node_modules directory, default ./node_modules]
#
# Why each pattern is safe (checked against the lockfile's tree: no package's main, exports, imports or bin
# target matches one, and the service started with the image's CMD opens none of them while serving):
# - *.d.ts, *.d.mts, *.d.cts: TypeScript declarations, read by the compiler only; Node never loads them
#   (the only references in JavaScript are JSDoc `import('./x.d.ts')` type comments).
# - *.map: source maps, read only with --enable-source-maps, which the image's CMD does not set; without them
#   stack traces show the shipped JavaScript's positions, as they already do.
# - *.md: READMEs, changelogs, docs; nothing requires or reads them.
# - build/esm, build/esnext: the ESM copies that OpenTelemetry 2.x packages (the SDK copy under
#   id-generator-aws-xray) publish for bundlers, named by the `module` and `esnext` fields, which Node ignores.
#   Node loads their `main`, build/src (CommonJS); none of them has an `exports` map. The 3.x packages ship
#   dist/*.cjs + dist/*.mjs instead and are untouched.
# - node_modules/@types: declarations only (@types/node comes in as a dependency of protobufjs); no JavaScript.
# Not deleted: *.mjs. Some CommonJS packages' `require` condition resolves to one (async-function under Express
# loads require.mjs), and the service then fails to start.
set -eu

dir=${1:-node_modules}
if [ ! -d "$dir" ]; then
  echo "prune-production: no directory $dir" >&2
  exit 1
fi

find "$dir" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' \) -delete
find "$dir" -type d \( -path '*/build/esm' -o -path '*/build/esnext' \) -prune -exec rm -rf {} +
find "$dir" -type d -path '*node_modules/@types' -prune -exec rm -rf {} +
