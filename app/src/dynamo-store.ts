// Orders in a DynamoDB table (ORDERS_TABLE_NAME), through the AWS SDK for JavaScript v3's document client. Required by
// server.ts only when a table is configured, so a run without one never initialises the SDK. Each call is a CLIENT
// span (`DynamoDB.PutItem`, `DynamoDB.GetItem`) made by @opentelemetry/instrumentation-aws-sdk (telemetry/aws-sdk.ts).
//
// Time budget of one call, which must stay far inside the load balancer's 60 s idle timeout and the client's patience:
// each attempt has 1 s to connect and 2 s for the whole exchange, at most 3 attempts (the SDK's standard retry mode,
// with its jittered backoff between them), and the whole call is abandoned at 5 s by an abort signal whatever the
// attempts are doing. Throttling, a missing table, a server fault, a network error or a timeout becomes a
// StoreUnavailableError (503 with Retry-After); anything else (a bad request, access denied) is a bug or a
// misconfiguration and is thrown as it is.
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { StoreUnavailableError, type NewOrder, type Order, type OrderStore, type UnavailableReason } from './store';

/** Per attempt: time to open the connection. */
export const CONNECTION_TIMEOUT_MS = 1_000;
/** Per attempt: time for the request and the whole response. */
export const ATTEMPT_TIMEOUT_MS = 2_000;
/** Attempts per call, the first one included. */
export const MAX_ATTEMPTS = 3;
/** The whole call, attempts and backoff included. */
export const CALL_TIMEOUT_MS = 5_000;

export interface DynamoOrderStoreProps {
  readonly tableName: string;
  readonly region: string;
  /** @default the SDK's (AWS_ENDPOINT_URL_DYNAMODB, else the region's endpoint) */
  readonly endpoint?: string;
  /** @default CALL_TIMEOUT_MS */
  readonly callTimeoutMs?: number;
  /** @default randomUUID */
  readonly newId?: () => string;
  /** @default a DynamoDBClient with the timeouts above (tests pass their own) */
  readonly client?: DynamoDBClient;
}

/** DynamoDB's error names that mean "slow down". */
const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
const TIMEOUT = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException']);
/** A table that is missing or being created, the service itself failing, or no credentials to call it with. */
const UNAVAILABLE = new Set([
  'ResourceNotFoundException',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'CredentialsProviderError',
]);
/** Node's socket errors: the endpoint cannot be reached at all. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

interface SdkError {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
  $retryable?: { throttling?: boolean };
}

function reasonFor(error: SdkError, name: string, code: string | undefined): UnavailableReason | undefined {
  if (THROTTLED.has(name) || error.$retryable?.throttling === true) return 'throttled';
  if (TIMEOUT.has(name) || code === 'ETIMEDOUT') return 'timeout';
  if (UNAVAILABLE.has(name) || (code !== undefined && NETWORK_CODES.has(code))) return 'unavailable';
  const status = error.$metadata?.httpStatusCode;
  if (error.$fault === 'server' || (status !== undefined && status >= 500)) return 'unavailable';
  return undefined;
}

/** The SDK's error as a StoreUnavailableError when it may pass; the error itself otherwise. */
export function translateError(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return error;
  const sdk = error as SdkError;
  const name = typeof sdk.name === 'string' ? sdk.name : 'Error';
  const code = typeof sdk.code === 'string' ? sdk.code : undefined;
  const reason = reasonFor(sdk, name, code);
  if (reason === undefined) return error;
  const meta = sdk.$metadata ?? {};
  return new StoreUnavailableError(reason, name, {
    ...(code !== undefined ? { code } : {}),
    ...(meta.httpStatusCode !== undefined ? { httpStatus: meta.httpStatusCode } : {}),
    ...(meta.requestId !== undefined ? { requestId: meta.requestId } : {}),
    ...(meta.attempts !== undefined ? { attempts: meta.attempts } : {}),
  });
}

/** The SDK client with the time budget above. */
export function createDynamoClient(region: string, endpoint?: string): DynamoDBClient {
  return new DynamoDBClient({
    region,
    // Undefined leaves the SDK to read AWS_ENDPOINT_URL_DYNAMODB itself.
    ...(endpoint !== undefined ? { endpoint } : {}),
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: ATTEMPT_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
  });
}

function isOrder(item: Record<string, unknown>): boolean {
  return (
    typeof item.id === 'string' &&
    typeof item.sku === 'string' &&
    typeof item.quantity === 'number' &&
    typeof item.unitPriceCents === 'number' &&
    typeof item.totalCents === 'number' &&
    typeof item.currency === 'string' &&
    typeof item.createdAt === 'string'
  );
}

export class DynamoOrderStore implements OrderStore {
  readonly kind = 'aws.dynamodb';
  readonly tableName: string;
  private readonly client: DynamoDBClient;
  private readonly documents: DynamoDBDocumentClient;
  private readonly callTimeoutMs: number;
  private readonly newId: () => string;

  constructor(props: DynamoOrderStoreProps) {
    this.tableName = props.tableName;
    this.client = props.client ?? createDynamoClient(props.region, props.endpoint);
    this.documents = DynamoDBDocumentClient.from(this.client);
    this.callTimeoutMs = props.callTimeoutMs ?? CALL_TIMEOUT_MS;
    this.newId = props.newId ?? randomUUID;
  }

  async put(order: NewOrder): Promise<Order> {
    const stored: Order = { id: this.newId(), ...order, createdAt: new Date().toISOString() };
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: stored,
          // A new order never replaces one: with random v4 IDs a collision is a bug, not bad luck.
          ConditionExpression: 'attribute_not_exists(id)',
        }),
        { abortSignal: AbortSignal.timeout(this.callTimeoutMs) },
      );
    } catch (error) {
      throw translateError(error);
    }
    return stored;
  }

  async get(id: string): Promise<Order | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const answer = await this.documents.send(
        // Consistent, so that a GET right after the POST (from the same client, through any task) finds the order.
        new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true }),
        { abortSignal: AbortSignal.timeout(this.callTimeoutMs) },
      );
      item = answer.Item;
    } catch (error) {
      throw translateError(error);
    }
    if (item === undefined || !isOrder(item)) return undefined;
    // The POST's field order, so both routes answer the same JSON.
    const { sku, quantity, unitPriceCents, totalCents, currency, createdAt } = item as unknown as Order;
    return { id: item.id as string, sku, quantity, unitPriceCents, totalCents, currency, createdAt };
  }

  close(): void {
    this.client.destroy();
  }
}
