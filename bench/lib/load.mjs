// Load generators: autocannon for the closed loop at saturation, and a paced open-loop client of our own whose
// latency counts from each request's scheduled send time (so a stalled server cannot hide its queue: no
// coordinated omission) with microsecond resolution (autocannon's histogram has whole milliseconds).
import http from 'node:http';
import autocannon from 'autocannon';
import { quantile } from './stats.mjs';
import { headersFor } from './alb.mjs';

export const WORKLOADS = {
  home: { path: '/', method: 'GET' },
  orders: {
    path: '/orders',
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sku: 'SKU-1', quantity: 2 }),
  },
};

/**
 * Closed loop: `connections` clients each send the next request as soon as the previous one is answered. With `alb`
 * every request carries a fresh load-balancer header (alb.mjs), built as autocannon sends it (`setupRequest`).
 */
export async function closedLoop({ port, workload, durationS, connections, alb = true }) {
  const request = { method: workload.method, path: workload.path, headers: workload.headers, body: workload.body };
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${workload.path}`,
    requests: [
      alb ? { ...request, setupRequest: (req) => ({ ...req, headers: headersFor(workload, true) }) } : request,
    ],
    connections,
    duration: durationS,
  });
  const responses = result['2xx'] + result.non2xx;
  return {
    responses,
    // Requests still in flight when the time is up were sent and handled but their answers not counted: the
    // server saw `sent` requests, and that is how many server spans there must be.
    sent: result.requests.sent,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    elapsedS: result.duration,
    rps: responses / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}

/** Open loop: requests sent on a fixed schedule whatever the server does; latency from the scheduled time. */
export function openLoop({ port, workload, rate, durationS, maxInFlight = 1000, alb = true }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const intervalNs = 1e9 / rate;
  const total = Math.round(rate * durationS);
  const latenciesUs = [];
  let sent = 0;
  let done = 0;
  let inFlight = 0;
  let non2xx = 0;
  let errors = 0;
  let shed = 0;
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const finish = () => {
      if (sent < total || done < sent) return;
      agent.destroy();
      const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
      latenciesUs.sort((a, b) => a - b);
      const responses = latenciesUs.length;
      resolve({
        rate,
        responses,
        sent: responses + errors,
        non2xx,
        errors,
        shed,
        elapsedS,
        rps: responses / elapsedS,
        p50Ms: quantile(latenciesUs, 0.5) / 1000,
        p99Ms: quantile(latenciesUs, 0.99) / 1000,
        maxMs: (latenciesUs.at(-1) ?? NaN) / 1000,
      });
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(Number(process.hrtime.bigint() - started) / intervalNs) + 1);
      while (sent < due) {
        const scheduled = started + BigInt(Math.round(sent * intervalNs));
        sent += 1;
        if (inFlight >= maxInFlight) {
          shed += 1;
          done += 1;
          continue;
        }
        inFlight += 1;
        const request = http.request(
          {
            agent,
            host: '127.0.0.1',
            port,
            path: workload.path,
            method: workload.method,
            headers: headersFor(workload, alb),
          },
          (response) => {
            if (response.statusCode < 200 || response.statusCode > 299) non2xx += 1;
            response.resume();
            response.on('end', () => {
              latenciesUs.push(Number(process.hrtime.bigint() - scheduled) / 1000);
              inFlight -= 1;
              done += 1;
              finish();
            });
          },
        );
        request.on('error', () => {
          errors += 1;
          inFlight -= 1;
          done += 1;
          finish();
        });
        request.end(workload.body);
      }
      if (sent < total) setTimeout(tick, 1);
      else finish();
    };
    tick();
  });
}
