// Shutdown and collector outages, with the service as a child process and a real OTLP/gRPC receiver.
import { OtlpReceiver, SPAN_KIND } from './support/otlp-receiver';
import http from 'node:http';
import { closeAgent, freePort, peakRss, postOrder, request, startService, type Reply } from './support/service';

jest.setTimeout(60_000);

afterAll(() => closeAgent());

describe('SIGTERM', () => {
  it('when SIGTERM arrives with requests in flight, then they finish, every span is delivered and the exit code is 0', async () => {
    const receiver = await OtlpReceiver.start();
    // A long schedule delay: without the flush at shutdown, most spans would still be queued.
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '30000',
    });
    try {
      // One connection per request, so no request waits client-side for a socket the server is closing.
      const noKeepAlive = new http.Agent({ keepAlive: false });
      let killedAt = 0;
      const arrivals: number[] = [];
      const inFlight = Array.from({ length: 100 }, (_, i) => {
        const reply: Promise<Reply> =
          i % 2 === 0
            ? request(service.url('/'), { agent: noKeepAlive })
            : postOrder(service, { sku: `SKU-${i}`, quantity: 1 }, {}, noKeepAlive);
        return reply.then(
          (r) => (arrivals.push(Date.now()), r),
          (error: NodeJS.ErrnoException) => error.code ?? 'error',
        );
      });
      await service.waitForLine((l) => l.msg === 'request completed');
      killedAt = Date.now();
      service.proc.kill('SIGTERM');
      const outcomes = await Promise.all(inFlight);
      const exit = await service.exited;

      expect(exit.code).toBe(0);
      const replies = outcomes.filter((o): o is Reply => typeof o !== 'string');
      // Requests the server had accepted all finish, some of them after SIGTERM; the rest were refused at the door.
      expect(replies.map((r) => r.status).filter((s) => s !== 200 && s !== 201)).toEqual([]);
      expect(arrivals.filter((t) => t >= killedAt).length).toBeGreaterThan(0);
      expect(outcomes.filter((o) => typeof o === 'string' && !['ECONNREFUSED', 'ECONNRESET'].includes(o))).toEqual([]);
      const stopped = service.lines.find((l) => l.msg === 'stopped')!;
      expect(stopped).toMatchObject({ drained: true, spans_flushed: true });
      // Zero spans lost: one public server span per reply, and every span of every order.
      const publicServerSpans = receiver.spans.filter((s) => s.kind === SPAN_KIND.SERVER && s.parentSpanId === '');
      expect(publicServerSpans).toHaveLength(replies.length);
      const homes = replies.filter((r) => r.body === 'Welcome to the Home Page!').length;
      const orders = replies.length - homes;
      expect(receiver.spans.filter((s) => s.name === 'about')).toHaveLength(homes);
      for (const name of ['cache.read', 'pricing.call', 'store.write', 'GET /prices/:sku']) {
        expect(receiver.spans.filter((s) => s.name === name)).toHaveLength(orders);
      }
      expect(service.stderr).toBe('');
    } finally {
      await service.stop();
      await receiver.stop();
    }
  });

  it('when the queue holds more batches than the exporter allows by default (30), then the flush at SIGTERM still delivers every span', async () => {
    // Batches of 16 answered after 300 ms each: the queue grows to far more than 30 batches before SIGTERM.
    const slow = await OtlpReceiver.start(0, 'slow');
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: slow.endpoint,
      OTEL_BSP_MAX_QUEUE_SIZE: '4096',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '16',
      OTEL_BSP_SCHEDULE_DELAY: '30000',
    });
    try {
      const count = 800;
      let sent = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (sent < count) {
            sent += 1;
            expect((await request(service.url('/'))).status).toBe(200);
          }
        }),
      );
      service.proc.kill('SIGTERM');
      expect((await service.exited).code).toBe(0);
      expect(service.lines.find((l) => l.msg === 'stopped')).toMatchObject({ spans_flushed: true });
      expect(slow.spans.filter((s) => s.kind === SPAN_KIND.SERVER)).toHaveLength(count);
      expect(slow.spans.filter((s) => s.name === 'about')).toHaveLength(count);
      expect(service.stderr).toBe('');
    } finally {
      await service.stop();
      await slow.stop();
    }
  });

  // The default deadline (SHUTDOWN_TIMEOUT_MS=10000, export timeout 10000): the flush fails or times out, and the
  // service still exits 0 with its `stopped` line and nothing on stderr.
  it('when the collector accepts connections but never answers, then SIGTERM exits 0 by the default deadline', async () => {
    const stuck = await OtlpReceiver.start(0, 'hang');
    const service = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: stuck.endpoint });
    try {
      // Enough spans for several batches, some queued behind the export that hangs.
      for (let i = 0; i < 20; i++) {
        await Promise.all(Array.from({ length: 40 }, () => request(service.url('/'))));
      }
      const killedAt = Date.now();
      service.proc.kill('SIGTERM');
      const exit = await service.exited;
      expect(exit.code).toBe(0);
      expect(Date.now() - killedAt).toBeLessThan(10_000 + 2_000);
      expect(service.lines.find((l) => l.msg === 'stopped')).toMatchObject({ spans_flushed: false });
      expect(service.stderr).toBe('');
      expect(service.nonJson).toEqual([]);
    } finally {
      await service.stop();
      await stuck.stop();
    }
  });

  it('when the collector is down at SIGTERM, then the failed flush is one warning and the exit code is still 0', async () => {
    const port = await freePort();
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '30000',
    });
    try {
      expect((await request(service.url('/'))).status).toBe(200);
      service.proc.kill('SIGTERM');
      const exit = await service.exited;
      expect(exit.code).toBe(0);
      // One line that says what happened to the spans and where they were going; grpc-js's error message ends in an
      // empty "Resolution note: ", which says nothing and is cut.
      const flush = service.lines.find((l) => l.msg.startsWith('span flush failed'))!;
      expect(flush).toMatchObject({
        level: 'warn',
        msg: 'span flush failed: the spans still queued at shutdown are lost',
        component: 'opentelemetry',
        endpoint: `http://127.0.0.1:${port}`,
        lost_spans: 2,
        detail: expect.stringMatching(/^14 UNAVAILABLE: .*ECONNREFUSED 127\.0\.0\.1:\d+$/),
      });
      expect(flush.detail).not.toMatch(/Resolution note/);
      expect(service.lines.at(-1)).toMatchObject({ msg: 'stopped', spans_flushed: false, spans_lost: 2 });
      expect(service.stderr).toBe('');
      expect(service.nonJson).toEqual([]);
    } finally {
      await service.stop();
    }
  });

  it('when spans were lost in an outage, then the stopped line says spans_flushed false even though the last flush worked', async () => {
    const port = await freePort();
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    let receiver: OtlpReceiver | undefined;
    try {
      expect((await request(service.url('/'))).status).toBe(200);
      await service.waitForLine((l) => l.msg.startsWith('span export failing'));
      receiver = await OtlpReceiver.start(port);
      // Requests until an export gets through again (grpc-js waits out its reconnect backoff first).
      const deadline = Date.now() + 20_000;
      while (!service.lines.some((l) => l.msg === 'span export resumed') && Date.now() < deadline) {
        expect((await request(service.url('/'))).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      service.proc.kill('SIGTERM');
      expect((await service.exited).code).toBe(0);
      const lost = service.lines.find((l) => l.msg === 'span export resumed')!.lost_spans as number;
      expect(lost).toBeGreaterThanOrEqual(2);
      expect(service.lines.at(-1)).toMatchObject({ msg: 'stopped', spans_flushed: false, spans_lost: lost });
    } finally {
      await service.stop();
      await receiver?.stop();
    }
  });

  it('when SIGTERM arrives during a request on a keep-alive connection, then its response says Connection: close and the drain completes', async () => {
    const service = await startService({ OTEL_SDK_DISABLED: 'true' });
    const keepAlive = new http.Agent({ keepAlive: true });
    try {
      // Warm the connection, so that the order below reuses a persistent one.
      expect((await request(service.url('/'), { agent: keepAlive })).headers.connection).toBe('keep-alive');
      const body = JSON.stringify({ sku: 'KA-1', quantity: 1 });
      const reply = new Promise<http.IncomingMessage>((resolve, reject) => {
        // `Expect: 100-continue`: the server's 100 proves it has read the headers, so the request is in flight when
        // SIGTERM arrives (a request still unread in the socket would look like an idle connection, and be closed).
        const req = http.request(service.url('/orders'), {
          method: 'POST',
          agent: keepAlive,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            expect: '100-continue',
          },
        });
        req.on('response', (res) => res.resume().on('end', () => resolve(res)));
        req.on('error', reject);
        req.on('continue', () => {
          void service.waitForLine((l) => l.msg === 'shutting down').then(() => req.end(body));
          service.proc.kill('SIGTERM');
        });
        req.flushHeaders();
      });
      const res = await reply;
      expect(res.statusCode).toBe(201);
      expect(res.headers.connection).toBe('close');
      expect((await service.exited).code).toBe(0);
      expect(service.lines.find((l) => l.msg === 'stopped')).toMatchObject({ drained: true });
    } finally {
      keepAlive.destroy();
      await service.stop();
    }
  });

  it('when SIGINT arrives, then the service stops the same way', async () => {
    const service = await startService({ OTEL_SDK_DISABLED: 'true' });
    service.proc.kill('SIGINT');
    expect((await service.exited).code).toBe(0);
    expect(service.lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGINT' });
  });
});

describe('collector outage', () => {
  it('when the collector never answers under load, then the queue fills and memory stays bounded', async () => {
    const stuck = await OtlpReceiver.start(0, 'hang');
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: stuck.endpoint,
      LOG_LEVEL: 'warn',
      PORT: String(await freePort()),
    });
    try {
      // 2 spans per request: 12,000 requests are 24,000 spans against the default queue of 16,384.
      const baseline = peakRss(service.proc.pid!);
      let sent = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (sent < 12_000) {
            sent += 1;
            expect((await request(service.url('/'))).status).toBe(200);
          }
        }),
      );
      // Each hanging export holds the next batch for its 10 s deadline, so at most a few batches (512 spans each)
      // left the queue while 24,000 spans arrived: the queue was full and the rest dropped.
      const peak = peakRss(service.proc.pid!);
      // A full queue is 28-52 MB (docs/service.md), on top of the heap's own growth under this load (about 70 MB). The old
      // 65,536-span queue would add about 150 MB more and fail this bound.
      expect(peak - baseline).toBeLessThan(160 * 1024 * 1024);
      expect(service.stderr).toBe('');
    } finally {
      await service.stop();
      await stuck.stop();
    }
  });

  it('when the collector is down at start and comes back, then requests are served, the outage is one line, and export resumes by itself', async () => {
    const port = await freePort();
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '20',
    });
    let receiver: OtlpReceiver | undefined;
    try {
      // Several failed batches while the collector is away.
      for (let i = 0; i < 5; i++) {
        expect((await request(service.url('/'))).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await service.waitForLine((l) => /span export failing/.test(l.msg));
      expect(service.lines.filter((l) => l.component === 'opentelemetry')).toHaveLength(1);

      receiver = await OtlpReceiver.start(port);
      // The gRPC channel reconnects with backoff; keep sending until a span gets through.
      const until = Date.now() + 30_000;
      while (receiver.spans.length === 0 && Date.now() < until) {
        expect((await request(service.url('/'))).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(receiver.spans.length).toBeGreaterThan(0);
      const resumed = await service.waitForLine((l) => l.msg === 'span export resumed');
      expect(resumed.failed_batches).toBeGreaterThanOrEqual(1);
      expect(resumed).not.toHaveProperty('trace_id');
      expect(service.stderr).toBe('');
      expect(service.nonJson).toEqual([]);
    } finally {
      await service.stop();
      await receiver?.stop();
    }
  });
});
