// A local stand-in for public.ecr.aws: a real HTTP server speaking the registry API v2 the way the real one does
// for anonymous pulls: a 401 with a Bearer challenge, a token endpoint, manifests (image indexes, Docker manifest
// lists, single-platform manifests with their config blobs), 404 for an unknown tag, and 429 when told to.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export const digestOf = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

interface Stored {
  readonly mediaType: string;
  readonly body: string;
}

export interface RecordedRequest {
  readonly path: string;
  readonly accept?: string;
  readonly authorization?: string;
}

export class FakeRegistry {
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** `repo` → answer this many 429s (with `Retry-After`) before serving normally; Infinity for always. */
  readonly throttle = new Map<string, { remaining: number; retryAfter?: string }>();
  /** Overrides the token realm the 401 names (tests of where a token may come from). */
  realm?: string;
  private readonly manifests = new Map<string, Stored>();
  private readonly blobs = new Map<string, string>();

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<FakeRegistry> {
    const server = http.createServer();
    const registry = new FakeRegistry(server);
    server.on('request', (req, res) => registry.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return registry;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A multi-platform image: an index (OCI or Docker list) of one manifest per `os/arch`. Returns its digest. */
  index(repo: string, tag: string, platforms: readonly string[], mediaType = OCI_INDEX): string {
    const manifests = platforms.map((p) => {
      const [os, architecture] = p.split('/');
      const child = this.single(repo, undefined, p);
      return { mediaType: OCI_MANIFEST, digest: child, size: 100, platform: { os, architecture } };
    });
    const annotations = { 'org.opencontainers.image.ref.name': `${repo}:${tag}` };
    return this.put(repo, tag, mediaType, { schemaVersion: 2, mediaType, manifests, annotations });
  }

  /** A single-platform image whose config blob says `os/arch`. Returns the manifest's digest. */
  single(repo: string, tag: string | undefined, platform: string, mediaType = OCI_MANIFEST): string {
    const [os, architecture] = platform.split('/');
    const config = JSON.stringify({ os, architecture, config: { Labels: { repo } }, rootfs: { type: 'layers' } });
    this.blobs.set(`${repo}@${digestOf(config)}`, config);
    const manifest = {
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [],
    };
    return this.put(repo, tag, mediaType, manifest);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private put(repo: string, tag: string | undefined, mediaType: string, document: unknown): string {
    const body = JSON.stringify(document);
    const digest = digestOf(body);
    this.manifests.set(`${repo}@${digest}`, { mediaType, body });
    if (tag !== undefined) this.manifests.set(`${repo}:${tag}`, { mediaType, body });
    return digest;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({
      path: `${url.pathname}${url.search}`,
      ...(req.headers.accept ? { accept: req.headers.accept } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

    if (url.pathname === '/token/') {
      const scope = /^repository:(.+):pull$/.exec(url.searchParams.get('scope') ?? '');
      if (!scope || url.searchParams.get('service') !== 'public.ecr.aws') return json(400, { errors: [] });
      return json(200, { token: `token-for-${scope[1]}` });
    }
    const route = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!route) return json(404, { errors: [{ code: 'NOT_FOUND' }] });
    const [, repo, kind, reference] = route;

    if (req.headers.authorization !== `Bearer token-for-${repo}`) {
      const realm = this.realm ?? `${this.url}/token/`;
      return json(
        401,
        { errors: [{ code: 'DENIED' }] },
        {
          'www-authenticate': `Bearer realm="${realm}",service="public.ecr.aws",scope="aws"`,
        },
      );
    }
    const throttled = this.throttle.get(repo);
    if (throttled && throttled.remaining > 0) {
      throttled.remaining--;
      return json(
        429,
        { errors: [{ code: 'TOOMANYREQUESTS' }] },
        throttled.retryAfter ? { 'retry-after': throttled.retryAfter } : {},
      );
    }
    if (kind === 'blobs') {
      const blob = this.blobs.get(`${repo}@${reference}`);
      return blob === undefined ? json(404, { errors: [{ code: 'BLOB_UNKNOWN' }] }) : json(200, JSON.parse(blob));
    }
    const separator = reference.startsWith('sha256:') ? '@' : ':';
    const stored = this.manifests.get(`${repo}${separator}${reference}`);
    if (!stored) return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'Requested image not found' }] });
    const accepted = (req.headers.accept ?? '').split(/,\s*/);
    if (!accepted.includes(stored.mediaType)) return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    res.writeHead(200, { 'content-type': stored.mediaType, 'docker-content-digest': digestOf(stored.body) });
    res.end(stored.body);
  }
}
