// Names for resources whose names are unique per account and region, not per stack (X-Ray sampling rules and
// groups): the service's name, readable in the console, cut to fit, and a short hash that keeps two stacks apart.
import { createHash } from 'node:crypto';
import { Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Hex digits of the hash: 8 keep a few dozen stacks in one account and region apart with room to spare. */
const HASH_LENGTH = 8;

/** The seed that makes a name unique to one construct in one stack: the stack's name and the construct's path. */
export function stackUniqueSeed(construct: IConstruct): string {
  return `${Stack.of(construct).stackName}/${construct.node.path}`;
}

/**
 * `<service name, cut>-<8 hex of a hash of the seed>`, at most `maxLength` characters. Characters other than
 * letters, digits, `_` and `-` become `-` (X-Ray's rule and group names take those).
 */
export function nameUniqueToStack(serviceName: string, uniqueSeed: string, maxLength: number): string {
  const hash = createHash('sha256').update(uniqueSeed).digest('hex').slice(0, HASH_LENGTH);
  const readable = Token.isUnresolved(serviceName) ? 'service' : serviceName.replace(/[^A-Za-z0-9_-]/g, '-');
  return `${readable.slice(0, maxLength - hash.length - 1)}-${hash}`;
}
