// Prints a sample of `npm run preflight` output for tools/preflight/README.md: a real `cdk synth`, the local registry in place of
// public.ecr.aws, the stand-in Docker CLI, and a mocked account (bootstrapped, the log group kept by an earlier
// destroy). Run: npx tsx tools/preflight/test/sample.ts
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULTS } from '../../../lib/settings';
import { main } from '../cli';
import { accountWith } from './fake-account';
import { writeFakeDocker } from './fake-docker';
import { FakeRegistry } from './fake-registry';

async function sample(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-sample-'));
  const registry = await FakeRegistry.start();
  try {
    registry.index('aws-observability/aws-otel-collector', DEFAULTS.collectorVersion, ['linux/amd64', 'linux/arm64']);
    registry.index('aws-observability/aws-for-fluent-bit', DEFAULTS.fluentBitVersion, ['linux/amd64', 'linux/arm64']);
    const env = { ...process.env, PREFLIGHT_REGISTRY_URL: registry.url, CDK_DOCKER: writeFakeDocker(dir) };
    const lines: string[] = [];
    const code = await main(
      [],
      env,
      (line) => lines.push(line),
      accountWith({ existingGroups: ['otel-test'] }).clients,
    );
    process.stdout.write(`$ npm run preflight\n${lines.join('\n')}\n$ echo $?\n${code}\n`);
  } finally {
    await registry.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void sample();
