// The first layer against throttling is the SDK's own standard retry strategy. These tests run real SDK clients,
// configured as the verifier configures them, against a local endpoint that throttles: no mock bypasses the
// retry middleware here (aws-sdk-client-mock replaces `send`, so it cannot show this).
import { CloudWatchLogsClient, LimitExceededException, StartQueryCommand } from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetTracesCommand, ThrottledException, XRayClient } from '@aws-sdk/client-xray';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeAwsError } from '../errors';
import { SDK_MAX_ATTEMPTS, awsClientConfig, backoffMs, isNoAnswer, isThrottling } from '../retry';

const credentials = { accessKeyId: 'AKID', secretAccessKey: 'secret' };

let server: Server;
let endpoint: string;
let handler: (req: IncomingMessage, res: ServerResponse, n: number) => void;
let requests: number;

beforeEach(async () => {
  requests = 0;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res, ++requests));
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.close();
  await once(server, 'close');
});

describe("the SDK's retry strategy, as the verifier configures it", () => {
  it("retries X-Ray's ThrottledException with backoff until the call succeeds", async () => {
    handler = (_req, res, n) => {
      if (n <= 2) {
        res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'ThrottledException' });
        res.end(JSON.stringify({ message: 'Rate exceeded' }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ Traces: [] }));
      }
    };
    const xray = new XRayClient({ ...awsClientConfig('us-east-1'), endpoint, credentials });
    const res = await xray.send(new BatchGetTracesCommand({ TraceIds: ['1-6b06cdc0-000000000000000000000001'] }));
    expect(res.Traces).toEqual([]);
    expect(requests).toBe(3);
  });

  it("retries Logs Insights' LimitExceededException (too many concurrent queries)", async () => {
    handler = (req, res, n) => {
      const type = req.headers['content-type'] ?? 'application/x-amz-json-1.1';
      if (n === 1) {
        res.writeHead(400, { 'content-type': type });
        res.end(JSON.stringify({ __type: 'LimitExceededException', message: 'Account maximum query concurrency' }));
      } else {
        res.writeHead(200, { 'content-type': type }).end(JSON.stringify({ queryId: 'q-1' }));
      }
    };
    const logs = new CloudWatchLogsClient({ ...awsClientConfig('us-east-1'), endpoint, credentials });
    const res = await logs.send(
      new StartQueryCommand({ logGroupNames: ['otel-test'], startTime: 0, endTime: 1, queryString: 'fields @message' }),
    );
    expect(res.queryId).toBe('q-1');
    expect(requests).toBe(2);
  });

  it(`allows ${SDK_MAX_ATTEMPTS} attempts per call, in standard mode`, async () => {
    const xray = new XRayClient({ ...awsClientConfig('us-east-1'), credentials });
    expect(await xray.config.maxAttempts()).toBe(SDK_MAX_ATTEMPTS);
    expect(xray.config.retryMode).toBe('standard');
  });
});

describe('request timeouts and the abort signal, as the verifier configures them', () => {
  it('sets connection and request timeouts that throw, not only warn', () => {
    expect(awsClientConfig('us-east-1').requestHandler).toEqual({
      connectionTimeout: 3_000,
      requestTimeout: 15_000,
      throwOnRequestTimeout: true,
    });
  });

  it('fails a stalled call with a TimeoutError after its attempts, mapped to one line', async () => {
    const stalled: ServerResponse[] = [];
    handler = (_req, res) => stalled.push(res);
    const xray = new XRayClient({
      ...awsClientConfig('us-east-1', { requestTimeoutMs: 100 }),
      maxAttempts: 2,
      endpoint,
      credentials,
    });
    const err = await xray.send(new BatchGetTracesCommand({ TraceIds: ['1-6b06cdc0-000000000000000000000001'] })).then(
      () => undefined,
      (e: unknown) => e,
    );
    server.closeAllConnections();
    expect(isNoAnswer(err)).toBe(true);
    expect(requests).toBe(2);
    expect(describeAwsError(err, 'reading traces from X-Ray').message).toMatch(
      /^AWS did not answer in time while reading traces from X-Ray \(TimeoutError\)\./,
    );
  });

  it('stops a call at once when its abort signal fires, whatever the retries left', async () => {
    handler = () => undefined; // never answers
    const logs = new CloudWatchLogsClient({ ...awsClientConfig('us-east-1'), endpoint, credentials });
    const err = await logs
      .send(new StartQueryCommand({ logGroupNames: ['g'], startTime: 0, endTime: 1, queryString: 'x' }), {
        abortSignal: AbortSignal.timeout(200),
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    server.closeAllConnections();
    expect(isNoAnswer(err)).toBe(true);
    expect(requests).toBe(1);
  });
});

describe('after the SDK gives up, the polling loops', () => {
  it("recognise throttling as the SDK classifies it: X-Ray's, CloudWatch Logs', CloudFormation's codes, 429, the trait", () => {
    expect(isThrottling(new ThrottledException({ message: 'Rate exceeded', $metadata: {} }))).toBe(true);
    expect(isThrottling(new LimitExceededException({ message: 'too many queries', $metadata: {} }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('slow'), { $metadata: { httpStatusCode: 429 } }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('x'), { $retryable: { throttling: true } }))).toBe(true);
    expect(isThrottling(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }))).toBe(false);
  });

  it('doubles the pause per consecutive throttled round, up to a cap', () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffMs(5000, n))).toEqual([5000, 10_000, 20_000, 30_000, 30_000]);
  });
});
