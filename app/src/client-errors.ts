// What a client is told when its request cannot be read: a fixed message per kind of error, never the error's own
// message. body-parser 2.4 and Express 5's router put input in theirs (read.js: `unsupported charset "<the
// request's charset>"`, `unsupported content encoding "<its Content-Encoding>"`; router layer.js: `Failed to decode
// param '<the raw path segment>'`; JSON.parse: the offending text), control characters included. Errors Node's own
// HTTP parser raises (a malformed request line or header) never reach Express: Node answers them with a bare
// `400 Bad Request` and no body.

export interface ClientErrorAnswer {
  readonly status: number;
  /** The `error` field: a stable code a client can branch on. */
  readonly error: string;
  /** The `message` field: fixed text, the same for every request of this kind. */
  readonly message: string;
}

/** By body-parser's and raw-body's `type`, which they set on every error they raise. */
const BY_TYPE: Readonly<Record<string, ClientErrorAnswer>> = {
  'entity.parse.failed': { status: 400, error: 'bad_request', message: 'the body is not valid JSON' },
  'entity.too.large': { status: 413, error: 'payload_too_large', message: 'the body is larger than 16 KB' },
  'charset.unsupported': {
    status: 415,
    error: 'unsupported_media_type',
    message: 'the body must be JSON in UTF-8 (charset utf-8, or none)',
  },
  'encoding.unsupported': {
    status: 415,
    error: 'unsupported_media_type',
    message: 'the Content-Encoding is not supported: use identity, gzip, deflate or br',
  },
  'request.aborted': { status: 400, error: 'bad_request', message: 'the request ended before its body did' },
  'request.size.invalid': {
    status: 400,
    error: 'bad_request',
    message: 'the body is not as long as its Content-Length says',
  },
};

const PATH_NOT_DECODABLE: ClientErrorAnswer = {
  status: 400,
  error: 'bad_request',
  message: 'the path is not valid percent-encoded UTF-8',
};
const BODY_NOT_DECOMPRESSED: ClientErrorAnswer = {
  status: 400,
  error: 'bad_request',
  message: 'the body could not be decompressed as its Content-Encoding says',
};

/** Every message a client can get for a request that could not be read; the tests hold answers to this list. */
export const CLIENT_ERROR_MESSAGES: readonly string[] = [
  ...Object.values(BY_TYPE).map((answer) => answer.message),
  PATH_NOT_DECODABLE.message,
  BODY_NOT_DECOMPRESSED.message,
  'the request could not be read',
];

/** The answer for an error Express or body-parser marked as the client's (a 4xx status); undefined for others. */
export function clientErrorAnswer(error: unknown): ClientErrorAnswer | undefined {
  const { status, type, code } = (error ?? {}) as { status?: unknown; type?: unknown; code?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  if (typeof type === 'string' && Object.hasOwn(BY_TYPE, type)) return BY_TYPE[type];
  if (error instanceof URIError) return PATH_NOT_DECODABLE;
  if (typeof code === 'string' && code.startsWith('Z_')) return BODY_NOT_DECOMPRESSED;
  return {
    status,
    error: status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request',
    message: 'the request could not be read',
  };
}
