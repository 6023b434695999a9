// AWS SDK calls as CLIENT spans, from @opentelemetry/instrumentation-aws-sdk, inside the bundle. The instrumentation
// patches the SDK's modules as Node `require`s them (require-in-the-middle), and inside dist/main.js nothing is
// required by name, so on its own it would patch nothing. The build (scripts/build.mjs, `patchBundledModules`) appends
// to each bundled file that the instrumentation's module definitions name (with a version they support) a call to the
// function registered here, with that file's exports: the instrumentation's own `patch` then runs on them, as it would
// have on `require`. The instrumentation is never enabled, and the require hook its base class installs as it is
// constructed (@opentelemetry/instrumentation's RequireInTheMiddleSingleton, for every instrumentation, enabled or not)
// is taken off again at once: nothing here is required by name, so it would only slow every later `require`. The
// instrumentation is loaded and built at the first call, when the SDK's module initialises: a service whose orders are
// in memory never loads it (it cost about 100 ms of start when built with the SDK). With tracing off this module is
// not loaded at all, and the appended calls find no function and do nothing.
import Module from 'node:module';
import path from 'node:path';
import type { AwsInstrumentation } from '@opentelemetry/instrumentation-aws-sdk';

type ModuleDefinitions = ReturnType<AwsInstrumentation['getModuleDefinitions']>;

/** Where the bundled modules look for the patch function (the name is also written by scripts/build.mjs). */
export const PATCH_BUNDLED_MODULE = Symbol.for('otel-fargate-service.patch-bundled-module');

/** `file` is undefined for a package's main module, else its path from node_modules (`@smithy/core/dist-cjs/…`). */
export type PatchBundledModule = (name: string, version: string, file: string | undefined, exports: unknown) => unknown;

/**
 * Registers the patch function; call before the service's modules (and so the SDK's) are initialised.
 * @param region the client's region, for `cloud.region` where the instrumentation cannot read it: it reads the region
 * from the client's config, which it attaches in `send` to the command sent, and the document client (lib-dynamodb)
 * sends an inner command of its own, without it.
 */
export function instrumentBundledAwsSdk(region: string | undefined): void {
  let definitions: ModuleDefinitions | undefined;
  const load = (): ModuleDefinitions => {
    type Package = typeof import('@opentelemetry/instrumentation-aws-sdk');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk') as Package;
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const nodeRequire = Module.prototype.require;
    const instrumentation = new AwsInstrumentation({
      enabled: false,
      preRequestHook: (span, { request }) => {
        if (request.region === undefined && region !== undefined) span.setAttribute('cloud.region', region);
      },
    });
    Module.prototype.require = nodeRequire;
    return instrumentation.getModuleDefinitions();
  };
  const patch: PatchBundledModule = (name, version, file, exports) => {
    definitions ??= load();
    const definition = definitions.find((d) => d.name === name);
    const target =
      file === undefined ? definition : definition?.files.find((f) => path.normalize(f.name) === path.normalize(file));
    if (target?.patch === undefined) return exports;
    return (target.patch(exports, version) as unknown) ?? exports;
  };
  (globalThis as Record<symbol, unknown>)[PATCH_BUNDLED_MODULE] = patch;
}
