// Turns the raw rounds into per-variant medians, pair-by-pair ratios within each round, and the issue's targets.
import { spread } from './stats.mjs';
import { taskCost, taskCostTargets } from './task-cost.mjs';
import { wrapperCosts } from './wrapper.mjs';

const METRICS = {
  'home.rps': (c) => c.phases.home.rps,
  'home.p50Ms': (c) => c.phases.home.p50Ms,
  'home.p99Ms': (c) => c.phases.home.p99Ms,
  'home.cpuUsPerRequest': (c) => c.phases.home.cpuUsPerRequest,
  // Requests one fully busy core could serve at this CPU cost: robust to other load on the machine.
  'home.capacity': (c) => 1e6 / c.phases.home.cpuUsPerRequest,
  'home.serverBusy': (c) => c.phases.home.serverCpuShare,
  'orders.rps': (c) => c.phases.orders.rps,
  'orders.p50Ms': (c) => c.phases.orders.p50Ms,
  'orders.p99Ms': (c) => c.phases.orders.p99Ms,
  'orders.cpuUsPerRequest': (c) => c.phases.orders.cpuUsPerRequest,
  'open.rps': (c) => c.phases.open.rps,
  'open.p50Ms': (c) => c.phases.open.p50Ms,
  'open.p99Ms': (c) => c.phases.open.p99Ms,
  'open.cpuUsPerRequest': (c) => c.phases.open.cpuUsPerRequest,
  peakRssMB: (c) => c.peakRssMB,
};

export const PAIRS = [
  ['b', 'a0'],
  ['b', 'a'],
  ['b-rule', 'a'],
  ['b-rule', 'a0'],
  ['b-rule-bare', 'a'],
  ['b-none', 'a'],
  ['lean', 'a0'],
  ['a', 'a0'],
  ['c', 'a0'],
  ['d', 'a0'],
  ['b', 'c'],
  ['b', 'd'],
  ['b-rule', 'd-rule'],
  ['d-rule', 'a0'],
  ['b-semi', 'b'],
  ['b-semi', 'a'],
  ['b-cache', 'b'],
  ['b-cache', 'a'],
  ['b-bsp', 'b'],
  ['a-ddb', 'a'],
  ['b-ddb', 'b'],
  ['b-ddb', 'a-ddb'],
  ['b-rule-ddb', 'a-ddb'],
  ['b-collector', 'a'],
  ['b-collector', 'b'],
  ['b-rule-collector', 'a'],
  ['b-rule-collector', 'b-rule'],
];
export const RATIO_METRICS = [
  'home.rps',
  'home.capacity',
  'orders.rps',
  'home.cpuUsPerRequest',
  'home.p99Ms',
  'open.p99Ms',
  'peakRssMB',
];

export function analyse(results) {
  const ids = results.variants.map((v) => v.id).filter((id) => results.rounds.some((r) => r[id]));
  if (ids.length === 0) return { perVariant: {}, ratios: {}, targets: [] };
  const perVariant = {};
  for (const id of ids) {
    const cells = results.rounds.map((r) => r[id]).filter(Boolean);
    const entry = {};
    for (const [name, pick] of Object.entries(METRICS)) entry[name] = spread(cells.map(pick));
    const served = cells.reduce((s, c) => s + c.served['/'] + c.served['/orders'], 0);
    entry.serverSpansExtra = cells.reduce(
      (s, c) => s + Math.max(0, -c.serverSpansMissing['/']) + Math.max(0, -c.serverSpansMissing['/orders']),
      0,
    );
    const missing = cells.reduce(
      (s, c) => s + Math.max(0, c.serverSpansMissing['/']) + Math.max(0, c.serverSpansMissing['/orders']),
      0,
    );
    entry.traced = Boolean(results.variants.find((x) => x.id === id)?.traced);
    entry.served = served;
    entry.sdkSaysDropped = cells.reduce((s, c) => s + (c.sdkSaysDropped ?? 0), 0);
    entry.serverSpansMissing = missing;
    const sampledCells = cells.filter((c) => c.sampling);
    if (sampledCells.length > 0) {
      entry.sampling = {
        reported: sampledCells.reduce((sum, c) => sum + c.sampling.reported, 0),
        decisions: sampledCells.reduce((sum, c) => sum + c.sampling.decisions, 0),
        received: sampledCells.reduce((sum, c) => sum + c.sampling.received, 0),
        share: spread(sampledCells.map((c) => c.sampling.share)),
      };
    }
    entry.spansTotal = cells.reduce((s, c) => s + c.spans.spans, 0);
    entry.spanNames = cells[0]?.spans.byName ?? {};
    entry.startupMs = spread(results.startup?.[id] ?? []);
    entry.imageMB = results.image?.[id]?.totalMB;
    entry.stopMs = spread(cells.map((c) => c.stop.stopMs));
    entry.foreignServerCore = spread(cells.map((c) => c.phases.home.foreignShare?.server));
    entry.foreignLoadCore = spread(cells.map((c) => c.phases.home.foreignShare?.load));
    entry.attempts = cells.reduce((sum, c) => sum + (c.attempt ?? 1), 0);
    entry.killed = cells.filter((c) => c.stop.killed).length;
    perVariant[id] = entry;
  }

  const ratios = {};
  for (const [x, y] of PAIRS) {
    if (!perVariant[x] || !perVariant[y]) continue;
    const key = `${x}/${y}`;
    ratios[key] = {};
    for (const metric of RATIO_METRICS) {
      const values = results.rounds
        .filter((r) => r[x] && r[y])
        .map((r) => METRICS[metric](r[x]) / METRICS[metric](r[y]));
      ratios[key][metric] = { ...spread(values), values };
    }
    ratios[key].startupMs = { median: perVariant[x].startupMs.median / perVariant[y].startupMs.median };
  }

  const instructions = instructionFigures(results);
  const task = taskCost(results);
  return {
    perVariant,
    ratios,
    instructions,
    targets: [...taskCostTargets(task), ...targets(results, perVariant, ratios, instructions)],
    dynamodb: dynamodbCosts(results),
    taskCost: task,
  };
}

/**
 * Instructions per GET / (callgrind, lib/instructions.mjs): each variant's figure and its ratio to its base ((a) for
 * the service's tracing variants, (a0) for (a), the peers and (lean)), and what tracing's unrecorded path adds, the service's against the lean
 * version's: (b-none) − (a) against (lean) − (a0).
 */
export function instructionFigures(results) {
  const counted = results.instructions?.variants ?? {};
  // The main thread's count: the helper threads' (concurrent marking, optimizing compiles) comes in bursts that make
  // the all-threads figure of one window vary by ±30% (lib/instructions.mjs); it is reported beside.
  const per = (id) => counted[id]?.mainPerRequest;
  if (Object.keys(counted).length === 0) return undefined;
  const base = (id) => (['a0', 'a', 'c', 'd', 'd-rule', 'lean'].includes(id) ? 'a0' : 'a');
  const perVariant = {};
  for (const id of Object.keys(counted)) {
    const b = per(base(id));
    perVariant[id] = {
      perRequest: per(id),
      allThreads: counted[id].perRequest,
      base: base(id),
      ratio: b === undefined ? undefined : per(id) / b,
    };
  }
  const have = (...ids) => ids.every((id) => per(id) !== undefined);
  const wrapper = have('a', 'b-none', 'a0', 'lean')
    ? { service: per('b-none') - per('a'), lean: per('lean') - per('a0') }
    : undefined;
  if (wrapper) wrapper.ratio = wrapper.service / wrapper.lean;
  const alone = results.instructions?.wrapper?.variants ?? {};
  const wrapperAlone = wrapperCosts(Object.fromEntries(Object.entries(alone).map(([id, c]) => [id, c.mainPerRequest])));
  return { perVariant, wrapper, wrapperAlone };
}

/**
 * What an order stored in DynamoDB costs the service, in CPU µs per POST /orders, from per-round differences (each
 * round runs every variant): the SDK call itself (tracing off), what tracing adds with the table and with memory, and
 * the difference of those two, which is what the AWS SDK instrumentation adds (its CLIENT span), recorded (every
 * request, (b)) and at X-Ray's default rule ((b-rule), where nearly every order is unrecorded).
 */
function dynamodbCosts(results) {
  const cpu = METRICS['orders.cpuUsPerRequest'];
  const per = (ids, f) =>
    spread(results.rounds.filter((r) => ids.every((id) => r[id])).map((r) => f((id) => cpu(r[id]))));
  const costs = {
    call: per(['a-ddb', 'a'], (o) => o('a-ddb') - o('a')),
    tracedMemory: per(['b', 'a'], (o) => o('b') - o('a')),
    tracedTable: per(['b-ddb', 'a-ddb'], (o) => o('b-ddb') - o('a-ddb')),
    instrumentationRecorded: per(['a', 'b', 'a-ddb', 'b-ddb'], (o) => o('b-ddb') - o('a-ddb') - (o('b') - o('a'))),
    ruleMemory: per(['b-rule', 'a'], (o) => o('b-rule') - o('a')),
    ruleTable: per(['b-rule-ddb', 'a-ddb'], (o) => o('b-rule-ddb') - o('a-ddb')),
    instrumentationAtRule: per(
      ['a', 'b-rule', 'a-ddb', 'b-rule-ddb'],
      (o) => o('b-rule-ddb') - o('a-ddb') - (o('b-rule') - o('a')),
    ),
  };
  return Object.values(costs).some((c) => c.n > 0) ? costs : undefined;
}

function targets(results, v, ratios, instructions) {
  const list = [];
  const have = (...ids) => ids.every((id) => v[id]);
  let issue = 22;
  const add = (name, pass, detail) => list.push({ issue, name, pass, detail });
  const fmt = (s) => `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;

  // Issue 22: the cost of tracing on the traffic a load balancer sends, in instructions as well as time.
  const ins = instructions?.perVariant ?? {};
  const k = (id) => `${(ins[id].perRequest / 1000).toFixed(1)} k`;
  if (ins['b-rule']?.ratio !== undefined) {
    add(
      '(b-rule) instructions per GET / (main thread) ≤ 1.08 × (a), at the default rule',
      ins['b-rule'].ratio <= 1.08,
      `${k('b-rule')} vs ${k('a')} = ${ins['b-rule'].ratio.toFixed(3)}`,
    );
  } else add('(b-rule) instructions per GET / ≤ 1.08 × (a)', null, 'not counted in this run');
  if (ins.a?.ratio !== undefined) {
    add(
      '(a) ≥ 0.9 × (a0) in instructions (main thread): (a0) / (a) ≥ 0.9',
      1 / ins.a.ratio >= 0.9,
      `${k('a0')} / ${k('a')} = ${(1 / ins.a.ratio).toFixed(3)}`,
    );
  } else add('(a) ≥ 0.9 × (a0) in instructions', null, 'not counted in this run');
  // Judged on the wrapper alone (lib/wrapper.mjs): in the whole service the two differences are a tenth of each count,
  // and the windows' spread is of the same size; the whole-service figure is given beside it.
  const w = instructions?.wrapper;
  const alone = instructions?.wrapperAlone;
  const kk = (x) => `${(x / 1000).toFixed(1)} k`;
  const whole = w
    ? `; in the whole service ((b-none) − (a)) / ((lean) − (a0)) = ${kk(w.service)} vs ${kk(w.lean)} = ${w.ratio.toFixed(2)}`
    : '';
  if (alone) {
    add(
      "the service's unrecorded-request wrapper within 1.2 × the lean version's instructions (bench/wrapper.mjs)",
      alone.ratio <= 1.2,
      `${kk(alone.service)} vs ${kk(alone.lean)} = ${alone.ratio.toFixed(2)}${whole}`,
    );
  } else if (w) {
    add(
      "the service's unrecorded path within 1.2 × the lean version's: ((b-none) − (a)) / ((lean) − (a0))",
      w.ratio <= 1.2,
      `${kk(w.service)} vs ${kk(w.lean)} = ${w.ratio.toFixed(2)}`,
    );
  } else add("the service's unrecorded path within 1.2 × the lean version's", null, 'not counted in this run');
  if (have('a', 'a0')) {
    const r = ratios['a/a0']['home.rps'];
    add('(a) GET / throughput ≥ 0.9 × (a0)', r.median >= 0.9, `a/a0 = ${fmt(r)}`);
  }

  issue = 10;

  // Issue 10: sampling by X-Ray rules, and what an unrecorded request costs.
  if (have('a', 'b-rule')) {
    const r = ratios['b-rule/a']['home.rps'];
    add('(b-rule) GET / throughput ≥ 0.85 × (a), at the default rule', r.median >= 0.85, `b-rule/a = ${fmt(r)}`);
    const c = ratios['b-rule/a']['home.cpuUsPerRequest'];
    add('(b-rule) CPU per GET / request ≤ 1.15 × (a)', c.median <= 1.15, `b-rule/a = ${fmt(c)}`);
    const s = v['b-rule'].sampling;
    add(
      '(b-rule) no recorded server span lost',
      v['b-rule'].serverSpansMissing === 0,
      s
        ? `${s.reported} requests recorded by the rule (${(s.share.median * 100).toFixed(1)}% of those served), ` +
            `${s.received} server spans received, ${v['b-rule'].serverSpansMissing} missing`
        : 'no sampling counts',
    );
    const startup = v['b-rule'].startupMs.median - v.a.startupMs.median;
    add(
      '(b-rule) first response ≤ (a) + 150 ms',
      startup <= 150,
      `${v['b-rule'].startupMs.median.toFixed(0)} ms vs ${v.a.startupMs.median.toFixed(0)} ms = +${startup.toFixed(0)} ms`,
    );
  } else add('(b-rule) at the default rule', null, 'not in this run');
  if (have('a', 'b')) {
    const r = ratios['b/a']['home.rps'];
    add('(b) every request recorded: GET / throughput ≥ 0.5 × (a)', r.median >= 0.5, `b/a = ${fmt(r)}`);
    const o = ratios['b/a']['open.p99Ms'];
    add(
      `(b) every request recorded: open-loop p99 at ${results.config.openRate} req/s ≤ 3 × (a)`,
      o.median <= 3,
      `b/a p99 = ${fmt(o)}`,
    );
    add(
      '(b) every request recorded: none lost',
      v.b.serverSpansMissing === 0,
      `${v.b.served} requests, ${v.b.serverSpansMissing} without a server span`,
    );
  }
  if (have('b-rule', 'd-rule')) {
    const r = ratios['b-rule/d-rule']['home.rps'];
    add(
      '(b-rule) ahead of (d-rule), the ADOT distro under the same rule, on GET /',
      r.median > 1,
      `b-rule/d-rule = ${fmt(r)}`,
    );
  }

  // Issue 4's targets, kept so that runs stay comparable.
  issue = 4;

  if (have('a', 'b')) {
    const r = ratios['b/a']['home.rps'];
    const cap = ratios['b/a']['home.capacity'];
    add(
      '(b) throughput ≥ 0.65 × (a) at saturation, GET /',
      r.median >= 0.65,
      `b/a = ${fmt(r)}; by CPU cost per request ${fmt(cap)}`,
    );
    const o = ratios['b/a']['orders.rps'];
    add('(b) throughput ≥ 0.65 × (a) at saturation, POST /orders', o.median >= 0.65, `b/a = ${fmt(o)}`);
    add(
      'every response of (b) has its server span',
      v.b.serverSpansMissing === 0,
      `${v.b.served} requests, ${v.b.serverSpansMissing} without a server span`,
    );
  } else add('(b) throughput ≥ 0.65 × (a)', null, 'not in this run');
  if (have('a', 'a0')) {
    const r = ratios['a/a0']['home.rps'];
    const cap = ratios['a/a0']['home.capacity'];
    add(
      '(a) throughput ≥ 0.9 × (a0): disabled costs nothing',
      r.median >= 0.9,
      `a/a0 = ${fmt(r)}; by CPU cost per request ${fmt(cap)}`,
    );
  } else add('(a) throughput ≥ 0.9 × (a0)', null, 'not in this run');
  if (have('b')) {
    add(
      'zero spans lost at saturation (all rounds, both routes)',
      v.b.serverSpansMissing === 0,
      `${v.b.serverSpansMissing} lost`,
    );
  } else add('zero spans lost at saturation', null, 'not in this run');
  if (results.soak?.variant === 'b') {
    add(
      `zero spans lost over a ${results.soak.durationS}-second run`,
      results.soak.serverSpansMissing === 0,
      `${results.soak.sent} requests, ${results.soak.serverSpansMissing} without a server span`,
    );
  } else
    add('zero spans lost over a 60-second run', null, results.soak ? `ran ${results.soak.variant}, not b` : 'not run');
  if (have('a', 'b')) {
    const r = ratios['b/a']['home.p99Ms'];
    add('(b) p99 ≤ 2 × (a) at saturation, GET /', r.median <= 2, `b/a p99 = ${fmt(r)}`);
    const o = ratios['b/a']['open.p99Ms'];
    add(`(b) p99 ≤ 2 × (a) open loop at ${results.config.openRate} req/s`, o.median <= 2, `b/a p99 = ${fmt(o)}`);
    const diff = results.rounds.filter((r) => r.a && r.b).map((r) => r.b.peakRssMB - r.a.peakRssMB);
    const d = spread(diff);
    add(
      '(b) peak RSS ≤ (a) + 50 MB',
      d.median <= 50,
      `b − a = ${d.median.toFixed(1)} MB (${d.min.toFixed(1)}–${d.max.toFixed(1)})`,
    );
    const s = v.b.startupMs.median / v.a.startupMs.median;
    add(
      '(b) first response ≤ 1.5 × (a)',
      s <= 1.5,
      `${v.b.startupMs.median.toFixed(0)} ms vs ${v.a.startupMs.median.toFixed(0)} ms = ${s.toFixed(2)}×`,
    );
  }
  if (v.b?.imageMB !== undefined) add('what the image adds ≤ 25 MB', v.b.imageMB <= 25, `${v.b.imageMB.toFixed(1)} MB`);
  if (have('b')) {
    for (const peer of ['c', 'd']) {
      if (!v[peer]) continue;
      const figures = [
        ['GET / req/s', v.b['home.rps'].median, v[peer]['home.rps'].median, 'higher'],
        ['POST /orders req/s', v.b['orders.rps'].median, v[peer]['orders.rps'].median, 'higher'],
        ['GET / p99', v.b['home.p99Ms'].median, v[peer]['home.p99Ms'].median, 'lower'],
        ['open-loop p99', v.b['open.p99Ms'].median, v[peer]['open.p99Ms'].median, 'lower'],
        ['CPU µs/request', v.b['home.cpuUsPerRequest'].median, v[peer]['home.cpuUsPerRequest'].median, 'lower'],
        ['peak RSS', v.b.peakRssMB.median, v[peer].peakRssMB.median, 'lower'],
        ['start-up', v.b.startupMs.median, v[peer].startupMs.median, 'lower'],
        ['image', v.b.imageMB, v[peer].imageMB, 'lower'],
        ['spans lost', v.b.serverSpansMissing, v[peer].serverSpansMissing, 'lower-or-zero'],
      ];
      const behind = figures.filter(([, mine, theirs, better]) => {
        if (mine === undefined || theirs === undefined) return false;
        if (better === 'higher') return !(mine > theirs);
        if (better === 'lower-or-zero') return !(mine === 0 || mine < theirs);
        return !(mine < theirs);
      });
      add(
        `(b) ahead of (${peer}) on every figure`,
        behind.length === 0,
        behind.length === 0 ? 'ahead on all' : `behind on ${behind.map(([n]) => n).join(', ')}`,
      );
    }
  }
  return list;
}
