// What the task really costs (issue 20): the service and the real collector together, from the (…-collector) cells
// of one run, beside (a) in the same rounds. Its targets join analyse.mjs's; its section joins render.mjs's page.
import { spread } from './stats.mjs';

export const TASK_COST_ISSUE = 20;
export const TASK_COST_HEADING = 'Targets from issue 20: what the task really costs, the real collector included';

const home = (cell) => cell.phases.home;
/** The task's CPU per GET /: the service's and the collector's, over the same measurement. */
export const taskCpuUsPerRequest = (cell) => home(cell).cpuUsPerRequest + (home(cell).collectorCpuUsPerRequest ?? 0);
/**
 * Segment documents of GET / traces per GET / served: one document per span (lib/segments.mjs), so the spans the
 * collector handled per GET /, fewer than one when a rule leaves most requests unrecorded.
 */
const spansPerHomeRequest = (cell) => (cell.spans.documentsByPath?.['/'] ?? NaN) / Math.max(cell.served['/'], 1);

/** Per-round values of `f(cells)` over the rounds that ran every one of `ids`. */
function perRound(results, ids, f) {
  const values = results.rounds.filter((r) => ids.every((id) => r[id])).map((r) => f(r));
  return { ...spread(values), values };
}

/**
 * The task's figures per (…-collector) variant (undefined when none ran): service, collector and task CPU per GET /
 * (medians over rounds), the task against (a) and the collector against the service's own tracing cost (medians of
 * per-round ratios), what the collector costs per span, and every way a span could have been lost on the way.
 */
export function taskCost(results) {
  const ids = ['b-collector', 'b-rule-collector'].filter((id) => results.rounds.some((r) => r[id]));
  if (ids.length === 0) return undefined;
  const cost = {};
  for (const id of ids) {
    const cells = results.rounds.map((r) => r[id]).filter(Boolean);
    const sum = (f) => cells.reduce((total, c) => total + f(c), 0);
    cost[id] = {
      serviceUs: spread(cells.map((c) => home(c).cpuUsPerRequest)),
      collectorUs: spread(cells.map((c) => home(c).collectorCpuUsPerRequest)),
      taskUs: spread(cells.map(taskCpuUsPerRequest)),
      aUs: perRound(results, [id, 'a'], (r) => home(r.a).cpuUsPerRequest),
      taskOverA: perRound(results, [id, 'a'], (r) => taskCpuUsPerRequest(r[id]) / home(r.a).cpuUsPerRequest),
      // The service's own tracing cost is its CPU in this very cell less (a)'s: the same build, exporting to the
      // collector as in the task, where (b) exports to the harness's sink.
      collectorOverTracing: perRound(
        results,
        [id, 'a'],
        (r) => home(r[id]).collectorCpuUsPerRequest / (home(r[id]).cpuUsPerRequest - home(r.a).cpuUsPerRequest),
      ),
      collectorPeakRssMB: Math.max(...cells.map((c) => c.collectorPeakRssMB ?? NaN)),
      spansPerRequest: spread(cells.map(spansPerHomeRequest)),
      collectorUsPerSpan: spread(cells.map((c) => home(c).collectorCpuUsPerRequest / spansPerHomeRequest(c))),
      served: sum((c) => c.served['/'] + c.served['/orders']),
      recorded: cells.every((c) => c.sampling) ? sum((c) => c.sampling.reported) : undefined,
      documents: sum((c) => c.spans.spans),
      serverSpansMissing: sum(
        (c) => Math.max(0, c.serverSpansMissing['/']) + Math.max(0, c.serverSpansMissing['/orders']),
      ),
      orphans: sum((c) => c.spans.orphans ?? 0),
      incompleteHomeTraces: sum((c) => c.spans.incompleteByPath?.['/'] ?? 0),
      complaints: cells.flatMap((c) => c.spans.complaints ?? []),
    };
  }
  return cost;
}

const fmt = (s, digits = 2) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

/** Every way a span could be lost between service, collector and stand-in, in words; empty when none was. */
export function losses(x) {
  const found = [];
  if (x.serverSpansMissing) found.push(`${x.serverSpansMissing} server segments missing`);
  if (x.orphans) found.push(`${x.orphans} subsegments without their parent`);
  if (x.incompleteHomeTraces) found.push(`${x.incompleteHomeTraces} GET / traces short of documents`);
  if (x.complaints.length) found.push(`${x.complaints.length} warn/error lines from the collector`);
  return found;
}

/** The issue's targets, as analyse.mjs lists them: { issue, name, pass (null: not in this run), detail }. */
export function taskCostTargets(cost) {
  const list = [];
  const add = (name, pass, detail) => list.push({ issue: TASK_COST_ISSUE, name, pass, detail });
  const rule = cost?.['b-rule-collector'];
  const all = cost?.['b-collector'];
  const us = (s) => `${s.median.toFixed(0)} µs`;
  if (rule?.taskOverA.n > 0) {
    add(
      "(b-rule-collector) at the default rule: service + collector CPU per GET / ≤ 1.25 × (a)'s",
      rule.taskOverA.median <= 1.25,
      `(service ${us(rule.serviceUs)} + collector ${us(rule.collectorUs)}) / (a) = ${fmt(rule.taskOverA)}`,
    );
  } else add('(b-rule-collector) service + collector CPU per GET / ≤ 1.25 × (a)', null, 'not in this run');
  if (all?.collectorOverTracing.n > 0) {
    add(
      "(b-collector) every request recorded: the collector's CPU per GET / ≤ 0.5 × the service's own tracing cost",
      all.collectorOverTracing.median <= 0.5,
      `collector ${us(all.collectorUs)} / (service ${us(all.serviceUs)} − (a) ${us(all.aUs)}) = ` +
        fmt(all.collectorOverTracing),
    );
  } else add("(b-collector) the collector's share ≤ 0.5 × the service's tracing cost", null, 'not in this run');
  for (const [id, x] of Object.entries(cost ?? {})) {
    const found = losses(x);
    const of = x.recorded === undefined ? `${x.served} requests` : `${x.recorded} requests recorded of ${x.served}`;
    add(
      `(${id}) no span lost between service, collector and stand-in at saturation`,
      found.length === 0,
      `${of}, ${x.documents} segment documents received; ${found.length ? found.join(', ') : 'none lost'}`,
    );
  }
  if (!cost) add('no span lost between service, collector and stand-in', null, 'not in this run');
  return list;
}

/** The section of BENCHMARKS.md on the task's cost: one row per (…-collector) variant, then the method. */
export function renderTaskCost(cost) {
  if (!cost) return [];
  const n = (value, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
  const out = [
    '## What the task costs: the service and the real collector',
    '',
    "CPU µs per GET / at saturation (median over rounds, range in brackets), the service's and the collector's " +
      "over the same measurement; the task's against (a)'s in the same round. A span is one segment document at " +
      'the X-Ray stand-in, so the collector per span is its CPU per GET / over the documents of GET / traces per ' +
      'GET / served (at the rule, its idle work is spread over the few spans recorded).',
    '',
    '| Variant | service | collector | task | task / (a) | collector / (service − (a)) | spans per GET / served | collector µs per span | collector peak RSS MB | documents received | lost |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const [id, x] of Object.entries(cost)) {
    const found = losses(x);
    out.push(
      `| (${id}) | ${fmt(x.serviceUs, 0)} | ${fmt(x.collectorUs, 0)} | ${fmt(x.taskUs, 0)} | ${fmt(x.taskOverA)} | ` +
        `${fmt(x.collectorOverTracing)} | ${n(x.spansPerRequest.median, 2)} | ${fmt(x.collectorUsPerSpan, 1)} | ` +
        `${n(x.collectorPeakRssMB, 1)} | ` +
        `${x.documents} | ${found.length ? found.join(', ') : 'none'} |`,
    );
  }
  out.push(
    '',
    'How: each (…-collector) variant has its own collector for the whole run, built from `tools/collector/manifest.yaml` ' +
      'and started as the task starts it (`tools/collector/collector.ts`: `AOT_CONFIG_CONTENT` = ' +
      '`lib/config/collector.yaml`, with a second `--config` merged over it pointing the awsxray exporter and the ' +
      "awsproxy at an X-Ray API stand-in, `app/test/support/xray-proxy.ts`), pinned to the server's core: in a task " +
      "the sidecar shares the task's CPU with the service. The service gets the task's environment " +
      '(`tools/collector/local-task.ts`): OTLP to the collector, its X-Ray sampler through the awsproxy, the log ' +
      "group's resource attributes. The stand-in runs in a process of its own on the load generator's core and " +
      'records each PutTraceSegments call; after the service stops (flushing its spans) the harness waits until no ' +
      'document has arrived for 2.5 s, then counts them: every response (or, at the rule, every request the sampler ' +
      'reported recorded) must have its segment, every subsegment its parent, every GET / trace as many documents as ' +
      "the others, and the collector must log nothing at warn level or above. The collector's CPU is its " +
      '`/proc/<pid>/stat` user + system time over each measurement.',
    '',
  );
  for (const [id, x] of Object.entries(cost)) {
    for (const line of x.complaints.slice(0, 3)) out.push(`- (${id}) collector: \`${line.replace(/`/g, "'")}\``);
  }
  return out;
}
