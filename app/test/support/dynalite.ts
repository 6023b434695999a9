// The real DynamoDB API, locally: dynalite (an implementation of DynamoDB's HTTP API on an in-memory LevelDB, which
// validates requests as DynamoDB does), on a free port, with the orders table as the stack defines it (partition key
// `id`, a string; no sort key, no index). The SDK reaches it through AWS_ENDPOINT_URL_DYNAMODB, as in the service.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { createTableMs?: number }) => http.Server;

export const TEST_REGION = 'eu-west-1';

/** Credentials the SDK signs with; dynalite checks that a request is signed, not by whom. */
export const TEST_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDTESTTESTTEST', AWS_SECRET_ACCESS_KEY: 'test-secret' };

export class Dynalite {
  private constructor(
    private readonly server: http.Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<Dynalite> {
    const server = dynalite({ createTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new Dynalite(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }

  /** A client of this server (signing with the test credentials). */
  client(): DynamoDBClient {
    return new DynamoDBClient({
      region: TEST_REGION,
      endpoint: this.endpoint,
      credentials: {
        accessKeyId: TEST_CREDENTIALS.AWS_ACCESS_KEY_ID,
        secretAccessKey: TEST_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      },
    });
  }

  /** The orders table's key schema, as lib/orders-table.ts makes it. */
  async createOrdersTable(tableName: string): Promise<void> {
    const client = this.client();
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } finally {
      client.destroy();
    }
  }

  /** The environment the stack gives the task, pointed at this server. */
  serviceEnv(tableName: string): Record<string, string> {
    return {
      ORDERS_TABLE_NAME: tableName,
      AWS_REGION: TEST_REGION,
      AWS_ENDPOINT_URL_DYNAMODB: this.endpoint,
      ...TEST_CREDENTIALS,
    };
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
