// The image check against a local registry that speaks public.ecr.aws's anonymous API: tokens, indexes, lists,
// single-platform manifests, unknown tags and rate limits.
import { checkImages, parseBearerChallenge, parseImage, type RegistryOptions } from '../registry';
import { DOCKER_LIST, DOCKER_MANIFEST, FakeRegistry, OCI_INDEX, digestOf } from './fake-registry';

const ARM64 = { os: 'linux', architecture: 'arm64' };
const COLLECTOR = 'aws-observability/aws-otel-collector';
const ROUTER = 'aws-observability/aws-for-fluent-bit';
const image = (repo: string, tag: string) => `public.ecr.aws/${repo}:${tag}`;

let registry: FakeRegistry;
let waits: number[];
let options: RegistryOptions;

beforeEach(async () => {
  registry = await FakeRegistry.start();
  waits = [];
  options = { baseUrl: registry.url, sleep: (ms) => (waits.push(ms), Promise.resolve()) };
});

afterEach(() => registry.stop());

describe('an image with a manifest for the task platform', () => {
  test('passes, naming the index digest and the platform manifest, asked with an anonymous token', async () => {
    const digest = registry.index(COLLECTOR, 'v0.49.0', ['linux/amd64', 'linux/arm64']);
    const [finding] = await checkImages([image(COLLECTOR, 'v0.49.0')], ARM64, options);

    expect(finding.result).toMatchObject({ status: 'PASS', check: `image ${image(COLLECTOR, 'v0.49.0')}` });
    expect(finding.result.detail).toMatch(new RegExp(`linux/arm64 manifest sha256:[0-9a-f]{64} in index ${digest}`));
    expect(finding.pinned).toBe(`${image(COLLECTOR, 'v0.49.0')}@${digest}`);
    // The flow docker pull uses: refused, token for this repository only, then the manifest with it.
    expect(registry.requests.map((r) => r.path)).toEqual([
      `/v2/${COLLECTOR}/manifests/v0.49.0`,
      `/token/?service=public.ecr.aws&scope=repository%3A${encodeURIComponent(COLLECTOR)}%3Apull`,
      `/v2/${COLLECTOR}/manifests/v0.49.0`,
    ]);
    expect(registry.requests[2].authorization).toBe(`Bearer token-for-${COLLECTOR}`);
    expect(registry.requests[2].accept).toContain(OCI_INDEX);
    expect(registry.requests[2].accept).toContain(DOCKER_LIST);
  });

  test('passes for a Docker manifest list too, and reuses the token for the next request', async () => {
    registry.index(ROUTER, '3.4.16', ['linux/arm64', 'linux/amd64'], DOCKER_LIST);
    const findings = await checkImages([image(ROUTER, '3.4.16'), image(ROUTER, '3.4.16')], ARM64, options);
    expect(findings.map((f) => f.result.status)).toEqual(['PASS', 'PASS']);
    expect(registry.requests.filter((r) => r.path.startsWith('/token/'))).toHaveLength(1);
  });

  test('passes for a single-platform manifest whose config says linux/arm64', async () => {
    const digest = registry.single(COLLECTOR, 'arm-only', 'linux/arm64', DOCKER_MANIFEST);
    const [finding] = await checkImages([image(COLLECTOR, 'arm-only')], ARM64, options);
    expect(finding.result).toMatchObject({ status: 'PASS', detail: `single-platform linux/arm64 manifest ${digest}` });
  });

  test('an image pinned by digest is asked for by that digest, and keeps its tag in the pinned form', async () => {
    const digest = registry.index(COLLECTOR, 'v0.49.0', ['linux/arm64']);
    const [finding] = await checkImages([`${image(COLLECTOR, 'v0.49.0')}@${digest}`], ARM64, options);
    expect(finding.result.status).toBe('PASS');
    expect(finding.pinned).toBe(`${image(COLLECTOR, 'v0.49.0')}@${digest}`);
    expect(registry.requests.at(-1)?.path).toBe(`/v2/${COLLECTOR}/manifests/${digest}`);
  });
});

describe('an image the task cannot run', () => {
  test('an index without arm64 fails, listing the platforms it has and not the attestations', async () => {
    registry.index(COLLECTOR, 'v0.49.0', ['linux/amd64', 'unknown/unknown']);
    const [finding] = await checkImages([image(COLLECTOR, 'v0.49.0')], ARM64, options);
    expect(finding.result).toMatchObject({ status: 'FAIL' });
    expect(finding.result.detail).toMatch(
      /^no linux\/arm64 manifest; the image index \(sha256:\w+\) has linux\/amd64$/,
    );
    expect(finding.result.fix).toMatch(/cpuArchitecture/);
  });

  test('a single-platform amd64 image fails for an arm64 task', async () => {
    registry.single(COLLECTOR, 'amd-only', 'linux/amd64');
    const [finding] = await checkImages([image(COLLECTOR, 'amd-only')], ARM64, options);
    expect(finding.result).toMatchObject({ status: 'FAIL' });
    expect(finding.result.detail).toMatch(/single-platform image for linux\/amd64, not linux\/arm64/);
  });

  test('a missing tag fails, pointing at the gallery and the context key', async () => {
    registry.index(ROUTER, '3.4.16', ['linux/arm64']);
    const [finding] = await checkImages([image(ROUTER, '3.4.99')], ARM64, options);
    expect(finding.result).toEqual({
      status: 'FAIL',
      check: `image ${image(ROUTER, '3.4.99')}`,
      detail: `3.4.99 not found in ${ROUTER}`,
      fix: `use a tag listed at https://gallery.ecr.aws/${ROUTER} (the stack's collectorVersion / fluentBitVersion context keys)`,
    });
    expect(finding.pinned).toBeUndefined();
  });
});

describe('rate limits and other registries', () => {
  test('a 429 is retried after its Retry-After, then passes', async () => {
    registry.index(COLLECTOR, 'v0.49.0', ['linux/arm64']);
    registry.throttle.set(COLLECTOR, { remaining: 1, retryAfter: '2' });
    const [finding] = await checkImages([image(COLLECTOR, 'v0.49.0')], ARM64, options);
    expect(finding.result.status).toBe('PASS');
    expect(waits).toEqual([2000]);
  });

  test('429 on every attempt fails with what to do, after three attempts', async () => {
    registry.index(COLLECTOR, 'v0.49.0', ['linux/arm64']);
    registry.throttle.set(COLLECTOR, { remaining: Infinity });
    const [finding] = await checkImages([image(COLLECTOR, 'v0.49.0')], ARM64, options);
    expect(finding.result).toMatchObject({ status: 'FAIL', fix: 'run again in a minute' });
    expect(finding.result.detail).toMatch(/rate-limited .* \(HTTP 429/);
    expect(registry.requests.filter((r) => r.authorization !== undefined)).toHaveLength(3);
    expect(waits).toEqual([1000, 2000]);
  });

  test('an image from another registry is skipped with a note, and not asked for', async () => {
    const [finding] = await checkImages(['example.com/service:1.0.0'], ARM64, options);
    expect(finding.result).toMatchObject({ status: 'SKIP' });
    expect(registry.requests).toEqual([]);
  });

  test('a token service on another host is refused', async () => {
    registry.index(COLLECTOR, 'v0.49.0', ['linux/arm64']);
    registry.realm = 'http://tokens.example.com/token/';
    const [finding] = await checkImages([image(COLLECTOR, 'v0.49.0')], ARM64, options);
    expect(finding.result).toMatchObject({ status: 'FAIL' });
    expect(finding.result.detail).toMatch(/token service on another host/);
  });

  test('an unreachable registry fails with the reason', async () => {
    const url = registry.url;
    await registry.stop();
    const [finding] = await checkImages([image(COLLECTOR, 'v0.49.0')], ARM64, { ...options, baseUrl: url });
    expect(finding.result.detail).toMatch(/could not ask http:\/\/127\.0\.0\.1:\d+: fetch failed \(ECONNREFUSED\)/);
    registry = await FakeRegistry.start();
  });
});

describe('parsing', () => {
  test('image references with a tag, a digest, or neither', () => {
    const digest = digestOf('x');
    expect(parseImage(image(COLLECTOR, 'v0.49.0'))).toMatchObject({ repository: COLLECTOR, reference: 'v0.49.0' });
    expect(parseImage(`public.ecr.aws/${COLLECTOR}@${digest}`)).toMatchObject({ reference: digest });
    expect(parseImage(`public.ecr.aws/${COLLECTOR}:v0.49.0@${digest}`)).toMatchObject({
      reference: digest,
      tag: 'v0.49.0',
    });
    expect(parseImage(`public.ecr.aws/${COLLECTOR}`)).toMatchObject({ reference: 'latest' });
    expect(parseImage('node:24')).toBeUndefined();
  });

  test('a Bearer challenge', () => {
    expect(
      parseBearerChallenge('Bearer realm="https://public.ecr.aws/token/",service="public.ecr.aws",scope="aws"'),
    ).toEqual({
      realm: 'https://public.ecr.aws/token/',
      service: 'public.ecr.aws',
      scope: 'aws',
    });
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
  });
});
