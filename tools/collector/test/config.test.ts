// The configuration the task delivers, loaded by the real collector (built from the ADOT release's components,
// tools/collector/manifest.yaml) with its `validate` command, exactly as the sidecar receives it: the template's
// AOT_CONFIG_CONTENT, AWS_REGION and the Go runtime settings, for every variant of the stack that could change them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { TASK_CONFIG_PATH, taskEnvironment, validateTaskConfig } from '../collector';
import { container, environmentOf, synthTemplate, TEST_REGION } from '../../../test/helpers';
import type { OtelFargateStackProps } from '../../../lib/otel-fargate-stack';

const binary = process.env.OTELCOL_TASK_BINARY!;
const taskConfig = fs.readFileSync(TASK_CONFIG_PATH, 'utf8');

/** Each way the stack can be configured that touches the collector's container or its environment. */
const VARIANTS: Record<string, OtelFargateStackProps> = {
  default: {},
  'every request recorded': { recordEveryRequest: true },
  'governed profile': {
    profile: 'governed',
    certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555',
  },
};

describe('the task’s collector configuration, loaded by the real collector', () => {
  const environments = new Map<string, Record<string, unknown>>();
  beforeAll(() => {
    for (const [variant, props] of Object.entries(VARIANTS)) {
      environments.set(variant, environmentOf(container(synthTemplate(props), 'aws-otel-collector')));
    }
  }, 120_000); // three syntheses, the first loading aws-cdk-lib: slow on a loaded machine

  test.each(Object.keys(VARIANTS))('validates as the %s stack delivers it', async (variant) => {
    const environment = environments.get(variant)!;
    expect(environment.AOT_CONFIG_CONTENT).toBe(taskConfig);
    expect(environment.AWS_REGION).toBe(TEST_REGION);
    // Every local run (tests, npm run local, the bench) gives the collector the task's whole environment.
    expect(taskEnvironment(taskConfig, TEST_REGION)).toMatchObject(environment);
    const validation = await validateTaskConfig(binary, environment.AOT_CONFIG_CONTENT as string, TEST_REGION);
    expect(validation).toEqual({ ok: true, output: '' });
  });

  test('fails on a key the release does not know, as the sidecar would fail to start', async () => {
    const broken = taskConfig.replace('send_batch_size: 50', 'send_batch_size: 50\n    send_batch_sise: 50');
    const validation = await validateTaskConfig(binary, broken, TEST_REGION);
    expect(validation.ok).toBe(false);
    expect(validation.output).toMatch(/"batch\/traces".*has invalid keys: send_batch_sise/s);
  });

  test('fails on a component the release does not ship', async () => {
    const broken = taskConfig.replace('exporters: [awsxray]', 'exporters: [awsxray, debug]');
    const validation = await validateTaskConfig(binary, broken, TEST_REGION);
    expect(validation.ok).toBe(false);
    expect(validation.output).toMatch(/references exporter "debug" which is not configured/);
  });

  test('fails on an ${env:…} reference it cannot resolve, and takes a bare ${AWS_REGION} from the environment as ADOT does', async () => {
    const badReference = taskConfig.replace('region: ${env:AWS_REGION}', 'region: ${env:AWS-REGION}');
    const bad = await validateTaskConfig(binary, badReference, TEST_REGION);
    expect(bad.ok).toBe(false);
    expect(bad.output).toMatch(/AWS-REGION/);
    const bare = await validateTaskConfig(
      binary,
      taskConfig.replaceAll('${env:AWS_REGION}', '${AWS_REGION}'),
      TEST_REGION,
    );
    expect(bare).toEqual({ ok: true, output: '' });
  });

  test('fails on a Go runtime setting the runtime cannot parse, as the sidecar would fail to start', () => {
    const run = (goMemLimit: string) =>
      spawnSync(binary, ['validate', '--config', 'env:AOT_CONFIG_CONTENT'], {
        env: { ...taskEnvironment(taskConfig, TEST_REGION), GOMEMLIMIT: goMemLimit },
        encoding: 'utf8',
      });
    expect(run('204MiB').status).toBe(0);
    const broken = run('204MB'); // Go reads B, KiB, MiB, GiB and TiB only
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/GOMEMLIMIT/);
  });
});
