'use strict';
// The leanest implementation we could write of the service's contract for a request it does not record, outside
// the service (issue 22), so that the benchmark shows what the contract costs at least, in the same run as the
// service. Per request: the caller's context from `traceparent` or `X-Amzn-Trace-Id` (Root, Parent, Sampled), kept
// at the public edge (its sampled flag ignored there, honoured on the internal hop); otherwise a new X-Ray-valid trace
// ID (epoch seconds then 96 random bits); the rules' decision; a span ID; `traceresponse`; the five correlation
// fields on every line written during the request; the load balancer's Root on the access line when the request did
// not continue it; the internal hop's headers. Nothing is exported: a request the rules record is only marked
// sampled, so this is the floor of the unrecorded path, not a tracer.
//
// What makes it lean: random hex from a pooled crypto buffer, the epoch's hex made once a second, rules compiled once
// (a rule whose method, path and host are all `*` reads nothing of the request), one record per request in
// AsyncLocalStorage (no context chain, no span object), the correlation string made once per request.
const { AsyncLocalStorage } = require('node:async_hooks');
const { randomFillSync } = require('node:crypto');

const POOL_BYTES = 8192;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

function take(bytes) {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

function randomHex(bytes) {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** A uniform number in [0, 1) from 32 pooled random bits. */
function randomUnit() {
  return pool.readUInt32LE(take(4)) / 4294967296;
}

let epochSecond = -1;
let epochHex = '';
/** An X-Ray-valid trace ID: 8 hex of epoch seconds, then 24 random hex. */
function newTraceId() {
  const second = Math.floor(Date.now() / 1000);
  if (second !== epochSecond) {
    epochSecond = second;
    epochHex = second.toString(16).padStart(8, '0');
  }
  return epochHex + randomHex(12);
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ROOT = /^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$/;

/** `traceparent` as W3C Trace Context level 1 reads it (version 00), or undefined. */
function fromTraceparent(value) {
  if (typeof value !== 'string' || value.length !== 55 || value[2] !== '-' || !value.startsWith('00-')) return;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = parseInt(value.slice(53, 55), 16);
  if (!HEX32.test(traceId) || !HEX16.test(spanId) || Number.isNaN(flags)) return;
  if (traceId === '00000000000000000000000000000000' || spanId === '0000000000000000') return;
  return { traceId, spanId, sampled: (flags & 1) === 1 };
}

/**
 * `X-Amzn-Trace-Id`: its Root (to keep on the access line when not continued) and, when it also has a valid Parent
 * and Sampled, the caller's context, as the X-Ray propagator continues it (a Root-only header, the load balancer's
 * own, is not continued).
 */
function fromXray(value) {
  if (typeof value !== 'string' || value.length > 512) return {};
  let root;
  let parent;
  let sampled;
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const field = part.slice(eq + 1).trim();
    if (key === 'Root') root = field;
    else if (key === 'Parent') parent = field;
    else if (key === 'Sampled') sampled = field;
  }
  if (root === undefined || !ROOT.test(root)) return {};
  root = root.toLowerCase();
  if (parent === undefined || !HEX16.test(parent) || (sampled !== '0' && sampled !== '1')) return { root };
  return { root, caller: { traceId: root.slice(2, 10) + root.slice(11), spanId: parent, sampled: sampled === '1' } };
}

/** A rule's glob (`*` and `?`) as a test, or undefined for `*`, which matches anything without reading it. */
function glob(pattern) {
  if (pattern === '*') return undefined;
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const regex = new RegExp(`^${source}$`, 'i');
  return (value) => value !== undefined && regex.test(value);
}

/** Rules compiled once, highest priority (lowest number) first, each with its reservoir per second and fixed rate. */
function compileRules(rules) {
  return [...rules]
    .sort((a, b) => a.priority - b.priority)
    .map((rule) => ({
      method: glob(rule.method ?? '*'),
      path: glob(rule.path ?? '*'),
      host: glob(rule.host ?? '*'),
      reservoir: rule.reservoirPerSecond,
      fixedRate: rule.fixedRate,
      second: -1,
      used: 0,
    }));
}

function pathOf(url) {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

function decide(rules, req) {
  for (const rule of rules) {
    if (rule.method !== undefined && !rule.method(req.method)) continue;
    if (rule.path !== undefined && !rule.path(pathOf(req.url ?? '/'))) continue;
    if (rule.host !== undefined && !rule.host(req.headers.host)) continue;
    const second = Math.floor(Date.now() / 1000);
    if (rule.second !== second) {
      rule.second = second;
      rule.used = 0;
    }
    if (rule.used < rule.reservoir) {
      rule.used += 1;
      return true;
    }
    return rule.fixedRate > 0 && randomUnit() < rule.fixedRate;
  }
  return false;
}

const requests = new AsyncLocalStorage();

/** The request's five correlation fields as the end of a JSON line, as the service's logger writes them. */
function correlation(traceId, spanId, sampled) {
  const xray = `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
  return (
    `,"trace_id":"${traceId}","span_id":"${spanId}","trace_flags":"${sampled ? '01' : '00'}"` +
    `,"AWS-XRAY-TRACE-ID":"${xray}@${spanId}","xray_trace_id":"${xray}"}\n`
  );
}

/**
 * Wraps a request listener: each request but the health check runs with its record active. `edge` is `public` (the
 * caller's trace kept, its sampled flag ignored: the rules decide) or `internal` (the parent's decision honoured).
 */
function traceRequests(listener, edge, rules) {
  const compiled = compileRules(rules);
  return (req, res) => {
    if (req.url === '/healthz') {
      listener(req, res);
      return;
    }
    const headers = req.headers;
    const xray = headers['x-amzn-trace-id'] === undefined ? {} : fromXray(headers['x-amzn-trace-id']);
    const caller =
      (headers.traceparent === undefined ? undefined : fromTraceparent(headers.traceparent)) ?? xray.caller;
    const sampled = edge === 'internal' && caller !== undefined ? caller.sampled : decide(compiled, req);
    const traceId = caller?.traceId ?? newTraceId();
    const spanId = randomHex(8);
    const record = {
      traceId,
      spanId,
      sampled,
      albRoot:
        xray.root !== undefined && xray.root.slice(2, 10) + xray.root.slice(11) !== traceId ? xray.root : undefined,
      suffix: correlation(traceId, spanId, sampled),
    };
    res.setHeader('traceresponse', `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`);
    requests.run(record, listener, req, res);
  };
}

/** A pino destination that appends the active request's correlation fields to each line. */
function correlating(destination) {
  return {
    write(line) {
      const record = requests.getStore();
      destination.write(record === undefined || !line.endsWith('}\n') ? line : line.slice(0, -2) + record.suffix);
    },
  };
}

/** The load balancer's Root, when the request did not continue it: for the access line. */
function albRoot() {
  return requests.getStore()?.albRoot;
}

/** The headers the internal pricing hop carries: this request as its parent, with its decision. */
function outgoingHeaders() {
  const record = requests.getStore();
  if (record === undefined) return {};
  const flag = record.sampled ? '01' : '00';
  return { traceparent: `00-${record.traceId}-${record.spanId}-${flag}` };
}

/** X-Ray's Default rule from the environment (reservoir per second, fixed rate); by default it records nothing. */
function rulesFromEnv(env) {
  return [
    {
      priority: 10000,
      reservoirPerSecond: Number(env.BENCH_LEAN_RESERVOIR ?? 0),
      fixedRate: Number(env.BENCH_LEAN_FIXED_RATE ?? 0),
    },
  ];
}

module.exports = { traceRequests, correlating, albRoot, outgoingHeaders, rulesFromEnv, fromXray, fromTraceparent };
