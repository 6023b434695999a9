// Problems that stop the verifier before it can judge anything. Each becomes one line on stderr and exit code 2,
// never a stack trace: the reader is someone who just ran `cdk deploy` and needs to know what to fix.

export class VerifyError extends Error {
  override readonly name = 'VerifyError';
}

interface ErrorLike {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly cause?: unknown;
}

function asErrorLike(err: unknown): ErrorLike {
  return typeof err === 'object' && err !== null ? err : { message: String(err) };
}

const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'TokenProviderError',
]);

const ACCESS_ERRORS = new Set(['AccessDenied', 'AccessDeniedException']);

const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Turns an AWS SDK failure into a VerifyError with one actionable line.
 * @param action what the verifier was doing, e.g. `reading the outputs of stack OtelFargateStack`
 * @param permission the IAM action needed, named when access is denied
 */
export function describeAwsError(err: unknown, action: string, permission?: string): VerifyError {
  const e = asErrorLike(err);
  const name = e.name ?? 'Error';
  const message = (e.message ?? '').split('\n')[0];
  if (CREDENTIAL_ERRORS.has(name)) {
    return new VerifyError(
      `No usable AWS credentials while ${action} (${name}: ${message}). ` +
        'Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`.',
    );
  }
  if (/Region is missing/i.test(message)) {
    return new VerifyError('No AWS region configured. Set AWS_REGION (or a region in your profile), or pass --region.');
  }
  if (ACCESS_ERRORS.has(name)) {
    const need = permission ? ` Your identity needs ${permission}.` : '';
    return new VerifyError(`Access denied while ${action}: ${message}.${need}`);
  }
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new VerifyError(
      `AWS did not answer in time while ${action} (${name}). Check the network, a VPN or proxy, and the region.`,
    );
  }
  if (e.code && NETWORK_CODES.has(e.code)) {
    return new VerifyError(`Cannot reach AWS while ${action} (${e.code}). Check the network and the region.`);
  }
  return new VerifyError(`AWS error while ${action}: ${name}: ${message}`);
}

/** Error text without a stack, for errors the verifier did not anticipate. */
export function oneLine(err: unknown): string {
  const e = asErrorLike(err);
  const text = e.name && e.name !== 'Error' && e.name !== 'VerifyError' ? `${e.name}: ${e.message}` : e.message;
  return (text ?? String(err)).split('\n')[0];
}
