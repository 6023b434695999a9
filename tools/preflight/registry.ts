// Does an image exist in Amazon ECR Public with a manifest for the task's platform? Asked the way `docker pull`
// asks, without credentials: the registry API v2 over HTTPS, with the anonymous bearer token public.ecr.aws hands
// out (a 401's `WWW-Authenticate: Bearer realm=…,service=…` says where), and the manifest media types of a
// multi-platform image (OCI image index, Docker manifest list) and of a single-platform one (whose config blob
// names its platform).
import { createHash } from 'node:crypto';
import { fail, pass, skip, type CheckResult } from './report';

export const PUBLIC_ECR_HOST = 'public.ecr.aws';
export const DEFAULT_REGISTRY_URL = `https://${PUBLIC_ECR_HOST}`;

const INDEX_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface Platform {
  /** `linux` */
  readonly os: string;
  /** `arm64` or `amd64`, as registries name them. */
  readonly architecture: string;
}

export const platformName = (platform: Platform) => `${platform.os}/${platform.architecture}`;

export interface ImageReference {
  /** The whole reference as the template has it. */
  readonly image: string;
  readonly host: string;
  /** The repository path, `aws-observability/aws-otel-collector`. */
  readonly repository: string;
  /** The tag or `sha256:…` digest asked for (the digest when both are given). */
  readonly reference: string;
  readonly tag?: string;
}

/** Splits `host/path:tag` or `host/path@sha256:…`; undefined when it names no registry host. */
export function parseImage(image: string): ImageReference | undefined {
  const match = /^([^/]+\.[^/]+)\/([^:@]+)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(image);
  if (!match) return undefined;
  const [, host, repository, tag, digest] = match;
  return { image, host, repository, reference: digest ?? tag ?? 'latest', ...(tag ? { tag } : {}) };
}

export interface RegistryOptions {
  /** Where public.ecr.aws's API is; tests give a local fake. @default DEFAULT_REGISTRY_URL */
  readonly baseUrl?: string;
  /** Attempts per request when the registry answers 429 or 5xx. @default 3 */
  readonly attempts?: number;
  /** Waits between attempts (tests pass a fast one). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Per request. @default 15000 */
  readonly timeoutMs?: number;
}

/** What was found for one image, for the report and for pinning. */
export interface ImageFinding {
  readonly result: CheckResult;
  /** `repository:tag@sha256:…` of what the tag points to, when it exists. */
  readonly pinned?: string;
}

class RegistryError extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

interface Response {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

const MAX_RETRY_WAIT_MS = 10_000;

/** Checks each image: in public ECR, found, with a manifest for `platform`. Other registries are not checked. */
export async function checkImages(
  images: readonly string[],
  platform: Platform,
  options: RegistryOptions = {},
): Promise<ImageFinding[]> {
  const client = new PublicEcrClient(options);
  const findings: ImageFinding[] = [];
  for (const image of images) findings.push(await client.check(image, platform));
  return findings;
}

class PublicEcrClient {
  private readonly baseUrl: string;
  private readonly tokens = new Map<string, string>();

  constructor(private readonly options: RegistryOptions) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_REGISTRY_URL).replace(/\/+$/, '');
  }

  async check(image: string, platform: Platform): Promise<ImageFinding> {
    const check = `image ${image}`;
    const ref = parseImage(image);
    if (!ref || ref.host !== PUBLIC_ECR_HOST) {
      return {
        result: skip(check, `not in Amazon ECR Public, not checked; make sure it has ${platformName(platform)}`),
      };
    }
    const gallery = `https://gallery.ecr.aws/${ref.repository}`;
    try {
      const manifest = await this.get(ref, `manifests/${ref.reference}`, [...INDEX_TYPES, ...MANIFEST_TYPES]);
      if (manifest.status === 404) {
        return {
          result: fail(
            check,
            `${ref.tag ?? ref.reference}${ref.tag && ref.reference !== ref.tag ? ` at ${ref.reference}` : ''} not found in ${ref.repository}`,
            `use a tag listed at ${gallery} (the stack's collectorVersion / fluentBitVersion context keys)`,
          ),
        };
      }
      expectOk(manifest, 'the manifest');
      const digest = manifest.headers.get('docker-content-digest') ?? sha256(manifest.body);
      const pinned = `${PUBLIC_ECR_HOST}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}@${digest}`;
      const mediaType = (manifest.headers.get('content-type') ?? '').split(';')[0].trim();
      const document = JSON.parse(manifest.body.toString('utf8')) as ManifestDocument;
      const type = mediaType || document.mediaType || '';
      if (INDEX_TYPES.includes(type)) {
        const entries = (document.manifests ?? []).filter((m) => m.platform && m.platform.os !== 'unknown');
        const match = entries.find(
          (m) => m.platform!.os === platform.os && m.platform!.architecture === platform.architecture,
        );
        if (!match) {
          const offered = [...new Set(entries.map((m) => `${m.platform!.os}/${m.platform!.architecture}`))];
          return {
            result: fail(
              check,
              `no ${platformName(platform)} manifest; the image index (${digest}) has ${offered.join(', ') || 'none'}`,
              `set -c cpuArchitecture to one the image has, or use a tag built for ${platformName(platform)} (${gallery})`,
            ),
            pinned,
          };
        }
        return {
          result: pass(check, `${platformName(platform)} manifest ${match.digest} in index ${digest}`),
          pinned,
        };
      }
      if (MANIFEST_TYPES.includes(type)) {
        const configDigest = document.config?.digest;
        if (!configDigest) throw new RegistryError('the manifest names no config blob', 'try again later');
        const config = await this.get(ref, `blobs/${configDigest}`, ['application/json', '*/*']);
        expectOk(config, 'the image config');
        const { os, architecture } = JSON.parse(config.body.toString('utf8')) as Partial<Platform>;
        if (os !== platform.os || architecture !== platform.architecture) {
          return {
            result: fail(
              check,
              `single-platform image for ${os}/${architecture}, not ${platformName(platform)} (${digest})`,
              `set -c cpuArchitecture to match, or use a multi-platform tag (${gallery})`,
            ),
            pinned,
          };
        }
        return { result: pass(check, `single-platform ${platformName(platform)} manifest ${digest}`), pinned };
      }
      throw new RegistryError(`unexpected manifest type '${type}'`, `look at the image at ${gallery}`);
    } catch (err) {
      if (err instanceof RegistryError) return { result: fail(check, err.message, err.fix) };
      // fetch's own message is "fetch failed"; the reason (ENOTFOUND, ECONNREFUSED, a timeout) is its cause.
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message;
      const message = `${(err as { message?: string }).message ?? String(err)}${reason ? ` (${reason})` : ''}`;
      return {
        result: fail(
          check,
          `could not ask ${this.baseUrl}: ${message}`,
          'check the network (a proxy or firewall must let HTTPS to public.ecr.aws through), then run again',
        ),
      };
    }
  }

  /** GET under /v2/<repository>/, with the anonymous token the registry asks for, retrying 429 and 5xx. */
  private async get(ref: ImageReference, path: string, accept: readonly string[]): Promise<Response> {
    const url = `${this.baseUrl}/v2/${ref.repository}/${path}`;
    let response = await this.request(url, accept, this.tokens.get(ref.repository));
    if (response.status === 401) {
      const token = await this.token(ref, response.headers.get('www-authenticate'));
      this.tokens.set(ref.repository, token);
      response = await this.request(url, accept, token);
    }
    return response;
  }

  private async token(ref: ImageReference, challenge: string | null): Promise<string> {
    const params = parseBearerChallenge(challenge);
    if (!params?.realm) {
      throw new RegistryError(`the registry refused anonymous access (${challenge ?? 'no challenge'})`, 'try again');
    }
    const realm = new URL(params.realm);
    // The token request goes to the registry's own host only.
    if (realm.origin !== new URL(this.baseUrl).origin) {
      throw new RegistryError(`the registry named a token service on another host (${realm.origin})`, 'try again');
    }
    if (params.service) realm.searchParams.set('service', params.service);
    realm.searchParams.set('scope', `repository:${ref.repository}:pull`);
    const response = await this.request(realm.toString(), ['application/json']);
    expectOk(response, 'an anonymous token');
    const body = JSON.parse(response.body.toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('the token service answered without a token', 'try again');
    return token;
  }

  private async request(url: string, accept: readonly string[], token?: string): Promise<Response> {
    const attempts = this.options.attempts ?? 3;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(url, {
        headers: { Accept: accept.join(', '), ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
      });
      const response = { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
      const retryable = res.status === 429 || res.status >= 500;
      if (!retryable || attempt >= attempts) return response;
      await sleep(retryWaitMs(res.headers.get('retry-after'), attempt));
    }
  }
}

interface ManifestDocument {
  readonly mediaType?: string;
  readonly manifests?: readonly { digest: string; platform?: { os: string; architecture: string } }[];
  readonly config?: { digest?: string };
}

function expectOk(response: Response, what: string): void {
  if (response.status === 200) return;
  if (response.status === 429) {
    throw new RegistryError(
      `public.ecr.aws rate-limited the request for ${what} (HTTP 429, anonymous pulls share a per-IP quota)`,
      'run again in a minute',
    );
  }
  throw new RegistryError(
    `HTTP ${response.status} for ${what}`,
    'run again; if it persists, check status.aws.amazon.com',
  );
}

/** Seconds from Retry-After (capped), else 1 s, 2 s, … */
function retryWaitMs(retryAfter: string | null, attempt: number): number {
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : attempt;
  return Math.min(seconds * 1000, MAX_RETRY_WAIT_MS);
}

/** `Bearer realm="…",service="…",scope="…"` into its parameters. */
export function parseBearerChallenge(header: string | null): Record<string, string> | undefined {
  if (!header || !/^Bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, value] of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[key.toLowerCase()] = value;
  return params;
}

function sha256(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}
