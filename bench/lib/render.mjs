// Renders BENCHMARKS.md from one run's JSON: verdicts first, then the figures, the ratios, a chart and the method.
import { PAIRS, RATIO_METRICS } from './analyse.mjs';
import { optionsTable } from './cli.mjs';
import { BUCKETS } from './profile.mjs';
import { renderTaskCost, TASK_COST_HEADING, TASK_COST_ISSUE } from './task-cost.mjs';

const n = (value, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const range = (s, digits = 2) =>
  s && Number.isFinite(s.median) ? `${n(s.median, digits)} (${n(s.min, digits)}–${n(s.max, digits)})` : '–';
const verdict = (pass) => (pass === null ? 'n/a' : pass ? '**pass**' : '**FAIL**');
const METRIC_LABELS = {
  'home.rps': 'GET / req/s',
  'home.capacity': 'GET / req per CPU-second',
  'orders.rps': 'POST /orders req/s',
  'home.cpuUsPerRequest': 'GET / CPU µs/req',
  'home.p99Ms': 'GET / p99 (closed)',
  'open.p99Ms': 'GET / p99 (open loop)',
  peakRssMB: 'peak RSS',
};

/** Server spans missing: of every response, or, for a variant sampled by a rule, of the requests it recorded. */
function missingCell(x) {
  if (!x.traced) return '–';
  const of = x.sampling ? x.sampling.reported : x.served;
  return `${x.serverSpansMissing} of ${of}${x.sampling ? ' recorded' : ''} (${n((100 * x.serverSpansMissing) / Math.max(of, 1), 1)}%)`;
}

/**
 * Issue 22's split of what recording costs: the profiles' buckets in (b) (every request recorded) less those in
 * (b-none) (none recorded), with (a) beside them when it was profiled.
 */
function renderRecordingCost(profiles, line) {
  const recorded = profiles.b?.buckets;
  const unrecorded = profiles['b-none']?.buckets;
  if (!recorded || !unrecorded) return;
  const disabled = profiles.a?.buckets;
  const total = (buckets) => (buckets ? BUCKETS.reduce((sum, bucket) => sum + buckets[bucket], 0) : NaN);
  const recordingCost = total(recorded) - total(unrecorded);
  line('### What a recorded request costs beyond an unrecorded one');
  line();
  line('| Bucket | (a) µs/req | (b-none) µs/req | (b) µs/req | (b) − (b-none) | share |');
  line('| --- | ---: | ---: | ---: | ---: | ---: |');
  const row = (name, a, none, all) =>
    line(
      `| ${name} | ${n(a, 1)} | ${n(none, 1)} | ${n(all, 1)} | ${n(all - none, 1)} | ` +
        `${n((100 * (all - none)) / recordingCost, 1)}% |`,
    );
  for (const bucket of BUCKETS) row(`\`${bucket}\``, disabled?.[bucket], unrecorded[bucket], recorded[bucket]);
  row('all', total(disabled), total(unrecorded), total(recorded));
  line();
  line(
    'Each busy sample goes to one bucket: `collection` when the garbage collector ran, `export` when the OTLP ' +
      "exporter (its bundle, `app/dist/otlp-exporter.js`, or the service's wrapper of it) is anywhere on the stack, " +
      'otherwise the module of the nearest package or service frame to the leaf decides: the batch span processor is ' +
      "`batch`, any other OpenTelemetry package and the service's telemetry modules (`src/telemetry/`, `src/step.ts`) " +
      '`span`, the rest (Express, pino, node:http, the handlers) `request`. `request` growing in (b) is mostly the same ' +
      "work running slower (colder caches, the collector's allocation), but it also holds samples with no package " +
      "frame above them (V8's `(program)`, builtins such as the export's socket writes, compiling the SDK's code).",
  );
  line();
}

export function render(results) {
  const { analysis, config, machine } = results;
  const v = analysis.perVariant;
  const ids = Object.keys(v);
  const out = [];
  const line = (text = '') => out.push(text);

  line('# Benchmarks: what tracing costs');
  line();
  line(
    `Rendered by \`bench/run.mjs\` from \`bench/results/${results.name}.json\`, a real run on ${results.date.slice(0, 10)} ` +
      `(commit \`${results.commit}\`, ${n(results.elapsedS / 60, 1)} minutes). Do not edit by hand: run \`npm run bench\`.`,
  );
  if (results.mode !== 'full') line('\n> This is a `--quick` smoke run: too short to trust.');
  line();
  const headings = {
    [TASK_COST_ISSUE]: TASK_COST_HEADING,
    22: 'Targets from issue 22: the cost of tracing on the traffic a load balancer sends',
    10: 'Targets from issue 10: sampling by X-Ray rules, and what an unrecorded request costs',
    4: 'Targets from issue 4: the cost of tracing every request',
  };
  for (const issue of [TASK_COST_ISSUE, 22, 10, 4]) {
    const targets = analysis.targets.filter((t) => (t.issue ?? 4) === issue);
    if (targets.length === 0) continue;
    line(`## ${headings[issue]}`);
    line();
    line('| Target | Result | Measured |');
    line('| --- | --- | --- |');
    for (const t of targets) line(`| ${t.name} | ${verdict(t.pass)} | ${t.detail} |`);
    line();
  }
  for (const s of results.skipped ?? []) line(`\nNot measured: (${s.id}), ${s.reason}.`);
  line();
  line(
    'Why the failing targets fail, with the profile and the experiments behind each, and what the service would ' +
      `have to change: [\`bench/FINDINGS.md\`](${results.name === 'full' ? 'bench/' : '../'}FINDINGS.md). ` +
      'Variants of (b) that try those changes from outside the service: ' +
      `[\`bench/results/experiments.md\`](${results.name === 'full' ? 'bench/results/' : ''}experiments.md).`,
  );
  line();

  line('## Variants');
  line();
  line('| | What runs | Command (in its directory) |');
  line('| --- | --- | --- |');
  for (const variant of results.variants) {
    const env = Object.entries(variant.env)
      .filter(([k]) => k.startsWith('OTEL_') || k.startsWith('BENCH_') || k === 'NODE_OPTIONS')
      .map(
        ([k, val]) =>
          `${k}=${
            variant.id.endsWith('-collector')
              ? val.replace(/(127\.0\.0\.1|localhost):\d+/, 'collector')
              : val
                  .replace(/endpoint=http:\/\/127\.0\.0\.1:\d+/, 'endpoint=http://fake-xray-proxy')
                  .replace(/127\.0\.0\.1:\d+/, 'sink')
          }`,
      )
      .join(' ');
    line(
      `| (${variant.id}) | ${variant.label}${variant.missing ? ' (not built)' : ''} | \`${env ? env + ' ' : ''}node ${variant.nodeArgs.map((a) => a.replace(/.*\/bench\//, 'bench/')).join(' ')}\` |`,
    );
  }
  line();

  line('## Results (median over rounds; per-round values in the JSON)');
  line();
  line(
    `Closed loop: autocannon, ${config.connections} connections, ${config.durationS} s per route after a warm-up. ` +
      `Open loop: GET / at a fixed ${config.openRate} req/s for ${config.openDurationS} s, latency from each request's scheduled time. ` +
      "CPU is the server process's user + system time (all threads, so the exporter too) divided by its responses.",
  );
  line();
  line(
    '| Variant | GET / req/s | server core busy | p50 / p99 ms | CPU µs/req | POST /orders req/s | p50 / p99 ms | CPU µs/req | open loop p50 / p99 ms | peak RSS MB | spans received / responses | server spans missing | first 200 ms (median of ' +
      `${config.starts}) | image adds MB |`,
  );
  line('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const id of ids) {
    const x = v[id];
    line(
      `| (${id}) | ${n(x['home.rps'].median)} | ${n(x['home.serverBusy'].median * 100)}% | ${n(x['home.p50Ms'].median, 1)} / ${n(x['home.p99Ms'].median, 1)} | ${n(x['home.cpuUsPerRequest'].median)} | ` +
        `${n(x['orders.rps'].median)} | ${n(x['orders.p50Ms'].median, 1)} / ${n(x['orders.p99Ms'].median, 1)} | ${n(x['orders.cpuUsPerRequest'].median)} | ` +
        `${n(x['open.p50Ms'].median, 2)} / ${n(x['open.p99Ms'].median, 2)} | ${n(x.peakRssMB.median, 1)} | ${x.traced ? n(x.spansTotal / x.served, 2) : '–'} | ${missingCell(x)} | ` +
        `${n(x.startupMs.median)} | ${x.imageMB === undefined ? '–' : n(x.imageMB, 1)} |`,
    );
  }
  line();
  for (const id of ids) {
    if (v[id].sdkSaysDropped) {
      line(
        `(${id})'s SDK itself logged "Dropped N spans because maxQueueSize reached" for ${v[id].sdkSaysDropped} spans in all.`,
      );
      line();
    }
  }
  for (const id of ids) {
    const s = v[id].sampling;
    if (!s) continue;
    line(
      `(${id}) recorded ${n(s.share.median * 100, 1)}% of its requests (median over rounds; ${s.reported} recorded as its ` +
        `sampler reported to the proxy, ${s.received} server spans received, of ${s.decisions} sampling decisions).`,
    );
    line();
  }
  line('Span names and counts in round 1 (all routes, warm-ups included):');
  line();
  for (const id of ids) {
    const names = Object.entries(v[id].spanNames);
    if (names.length) line(`- (${id}): ${names.map(([name, count]) => `\`${name}\` ${count}`).join(', ')}`);
  }
  line();

  if (analysis.instructions) {
    const ins = analysis.instructions;
    const c = results.instructions.config;
    line('## Instructions per GET / (callgrind)');
    line();
    line(
      `Each variant once under \`valgrind --tool=callgrind\` (\`bench/lib/instructions.mjs\`): ${c.warmup} GET / to warm ` +
        `up, then ${c.windows} windows of ${c.requests} over ${c.connections} keep-alive connections, the counters ` +
        'dumped and zeroed around each, per thread; a figure is the median window divided by its requests. The main ' +
        "thread's count is the request's own path and varies by a few percent between windows; the helper threads' " +
        '(concurrent marking, optimizing compiles) comes in bursts that one window catches and the next does not, so ' +
        'the all-threads figure is shown beside it and the targets use the main thread. Unlike CPU time neither moves ' +
        "with the machine's other load. Under callgrind the server runs about 50 times slower, so work on a timer " +
        'falls on fewer requests than at full speed: the X-Ray sampler polls its rules and reports once an hour ' +
        'while counted (per second, they would add tens of thousands of instructions to each request); the batch ' +
        "processor's export (every 200 ms) and the reservoir of 1 a second are kept, and weigh more than at full speed.",
    );
    line();
    line(
      '| Variant | instructions per GET /, main thread | its windows (k) | ratio to its base | all threads | CPU µs per GET / (rounds) |',
    );
    line('| --- | ---: | --- | ---: | ---: | ---: |');
    for (const [id, x] of Object.entries(ins.perVariant)) {
      const windows = results.instructions.variants[id].mainPerWindow.map((w) => n(w / 1000, 1)).join(', ');
      line(
        `| (${id}) | ${n(x.perRequest / 1000, 1)} k | ${windows} | ${x.ratio === undefined ? '–' : `${n(x.ratio, 3)} × (${x.base})`} | ` +
          `${n(x.allThreads / 1000, 1)} k | ${v[id] ? n(v[id]['home.cpuUsPerRequest'].median) : '–'} |`,
      );
    }
    line();
    if (ins.wrapper) {
      line(
        `What tracing adds to a request it does not record: the service ${n(ins.wrapper.service / 1000, 1)} k ` +
          `((b-none) − (a)), the lean version ${n(ins.wrapper.lean / 1000, 1)} k ((lean) − (a0)): ` +
          `${n(ins.wrapper.ratio, 2)} ×.`,
      );
      line();
    }
    if (ins.wrapperAlone) {
      const w = results.instructions.wrapper;
      line('### The unrecorded-request wrapper alone');
      line();
      line(
        `\`bench/wrapper.mjs\`: one bare listener (two log lines, the load balancer's Root on the second, the answer) ` +
          "served as it is, inside the lean version's wrapper, and inside the service's under rules that record " +
          `nothing, counted as above with ${w.config.warmup} GET / to warm up and ${w.config.windows} windows of ` +
          `${w.config.requests}. Without Express around it, the wrapper is most of each count, so a few hundred ` +
          'instructions show.',
      );
      line();
      line(
        '| Variant | instructions per GET /, main thread | its windows (k) | the wrapper (less the bare listener) |',
      );
      line('| --- | ---: | --- | ---: |');
      for (const [id, counted] of Object.entries(w.variants)) {
        const windows = counted.mainPerWindow.map((x) => n(x / 1000, 1)).join(', ');
        const cost = { 'wrapper-lean': ins.wrapperAlone.lean, 'wrapper-service': ins.wrapperAlone.service }[id];
        line(
          `| (${id}) | ${n(counted.mainPerRequest / 1000, 1)} k | ${windows} | ${cost === undefined ? '–' : `${n(cost / 1000, 1)} k`} |`,
        );
      }
      line();
      line(`The service's wrapper costs ${n(ins.wrapperAlone.ratio, 2)} × the lean version's.`);
      line();
    }
  } else if (results.instructions?.unavailable) {
    line(`Instructions not counted: ${results.instructions.unavailable}.`);
    line();
  }

  line('## Ratios, pair by pair within each round');
  line();
  line(`Each cell: the median of the ${config.rounds} per-round ratios, with their range.`);
  line();
  line(`| Pair | ${RATIO_METRICS.map((m) => METRIC_LABELS[m]).join(' | ')} | first 200 |`);
  line(`| --- | ${RATIO_METRICS.map(() => '---:').join(' | ')} | ---: |`);
  for (const [x, y] of PAIRS) {
    const r = analysis.ratios[`${x}/${y}`];
    if (!r) continue;
    line(`| ${x}/${y} | ${RATIO_METRICS.map((m) => range(r[m])).join(' | ')} | ${n(r.startupMs.median, 2)} |`);
  }
  line();

  for (const row of renderTaskCost(analysis.taskCost)) line(row);

  if (analysis.dynamodb) {
    const d = analysis.dynamodb;
    const us = (x) => (x && x.n > 0 ? `${n(x.median)} (${n(x.min)} to ${n(x.max)})` : '–');
    line('## Orders in DynamoDB: what the AWS SDK call and its instrumentation add');
    line();
    line(
      'The `-ddb` variants store each order in a DynamoDB table served by dynalite (the DynamoDB API on an in-memory ' +
        "store, in its own process on the load generator's core), through `@aws-sdk/lib-dynamodb` with " +
        "`@opentelemetry/instrumentation-aws-sdk` applied to the bundled SDK. dynalite's own speed bounds their " +
        'POST /orders throughput, so the figures are CPU µs of the service per POST /orders: median of the per-round ' +
        "differences (range). The instrumentation's share is what tracing adds with the table less what it adds " +
        'with memory: the CLIENT span of the call, its attributes and its export.',
    );
    line();
    line('| CPU µs per POST /orders | every order recorded | default rule (1/s + 5%) |');
    line('| --- | ---: | ---: |');
    line(`| the DynamoDB call, tracing off: (a-ddb) − (a) | ${us(d.call)} | |`);
    line(`| tracing, orders in memory: (b) − (a), (b-rule) − (a) | ${us(d.tracedMemory)} | ${us(d.ruleMemory)} |`);
    line(
      `| tracing, orders in the table: (b-ddb) − (a-ddb), (b-rule-ddb) − (a-ddb) | ${us(d.tracedTable)} | ${us(d.ruleTable)} |`,
    );
    line(
      `| **the SDK instrumentation**: the difference of the two rows above | ${us(d.instrumentationRecorded)} | ${us(d.instrumentationAtRule)} |`,
    );
    line();
  }

  line('## Chart: throughput at saturation, GET /');
  line();
  line('```mermaid');
  line('xychart-beta');
  line('  title "GET / requests per second at saturation (median)"');
  line(`  x-axis [${ids.map((id) => `"${id}"`).join(', ')}]`);
  line('  y-axis "req/s"');
  line(`  bar [${ids.map((id) => n(v[id]['home.rps'].median)).join(', ')}]`);
  line('```');
  line();
  line('```mermaid');
  line('xychart-beta');
  line('  title "CPU microseconds per GET / request (median)"');
  line(`  x-axis [${ids.map((id) => `"${id}"`).join(', ')}]`);
  line('  y-axis "µs"');
  line(`  bar [${ids.map((id) => n(v[id]['home.cpuUsPerRequest'].median)).join(', ')}]`);
  line('```');
  line();

  if (results.soak) {
    const s = results.soak;
    line(`## ${s.durationS}-second run of (${s.variant}) at saturation`);
    line();
    line(
      `${s.responses} responses at ${n(s.rps)} req/s (p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, ${n(s.cpuUsPerRequest)} CPU µs/req, ` +
        `peak RSS ${n(s.peakRssMB, 1)} MB); ${s.serverSpans} server spans received, ${s.serverSpansMissing} missing; ` +
        `stopped in ${n(s.stop.stopMs)} ms${s.stop.killed ? ' (killed)' : ''}.`,
    );
    if (s.rssTimeline?.length) {
      line();
      line(`RSS once a second (MB): ${s.rssTimeline.join(', ')}.`);
    }
    line();
  }

  if (results.profiles && Object.keys(results.profiles).length) {
    line('## Where the CPU goes: `node --cpu-prof` under GET / load');
    line();
    line(
      'Busy (non-idle) samples inside the load window only, divided by the responses served in it. "Self" charges a ' +
        'sample to the package of the function that ran; "on behalf of" charges node internals and builtins to the ' +
        'nearest package code up the stack that called them. Profiling slows the process; compare the columns, not ' +
        'the totals with the table above.',
    );
    line();
    renderRecordingCost(results.profiles, line);
    for (const [id, p] of Object.entries(results.profiles)) {
      line(`### (${id}): ${n(p.busyUsPerRequest)} busy µs per request over ${p.requests} requests`);
      line();
      line('| On behalf of | µs/req | share | | Self | µs/req | share |');
      line('| --- | ---: | ---: | --- | --- | ---: | ---: |');
      for (let i = 0; i < 12; i += 1) {
        const a = p.onBehalf[i];
        const b = p.self[i];
        line(
          `| ${a ? a.name : ''} | ${a ? n(a.usPerRequest, 1) : ''} | ${a ? n(a.share * 100, 1) + '%' : ''} | | ` +
            `${b ? b.name : ''} | ${b ? n(b.usPerRequest, 1) : ''} | ${b ? n(b.share * 100, 1) + '%' : ''} |`,
        );
      }
      line();
      line('<details><summary>Top functions (self)</summary>');
      line();
      line('| Function | µs/req | share |');
      line('| --- | ---: | ---: |');
      for (const f of p.functions.slice(0, 20))
        line(`| \`${f.name}\` | ${n(f.usPerRequest, 1)} | ${n(f.share * 100, 1)}% |`);
      line();
      line('</details>');
      line();
    }
  }

  line('## Machine and method');
  line();
  line(
    `- Command: \`${results.command}\` (from the repository root; installs \`bench/\`'s own dependencies if missing).`,
  );
  line(`- Date: ${results.date}; commit \`${results.commit}\`.`);
  line(
    `- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${n(machine.memoryGB, 1)} GB, ${machine.kernel}, Node ${machine.node}.`,
  );
  line(`- Pinning: ${machine.pinning}.`);
  if (results.serviceBuild) {
    line(
      `- Service measured: \`app/dist\` sha256 ${results.serviceBuild.distSha256}… (last commit touching \`app/\`: ` +
        `${results.serviceBuild.lastAppCommit})${results.serviceBuild.changedDuringRun ? ', **rebuilt during the run**' : ''}.`,
    );
  }
  line(
    `- Quiet? load average before ${results.quiet.loadBefore.join(' / ')}, after ${results.quiet.loadAfter.join(' / ')} ` +
      `(1 / 5 / 15 min); other node-like processes at start: ${results.quiet.otherProcessesBefore.length || 'none'}.`,
  );
  for (const p of results.quiet.otherProcessesBefore.slice(0, 8)) line(`  - \`${p.replace(/`/g, "'")}\``);
  const interference = ids
    .map(
      (id) =>
        `(${id}) ${n(v[id].foreignServerCore.median * 100)}% / ${n(v[id].foreignLoadCore.median * 100)}% ` +
        `(worst ${n(v[id].foreignServerCore.max * 100)}% / ${n(v[id].foreignLoadCore.max * 100)}%), ${v[id].attempts - config.rounds} re-run`,
    )
    .join('; ');
  line(
    "- Interference: the share of the server's core / the load generator's core that other processes or the hypervisor " +
      'took during the GET / measurement (median over rounds), and how many cells were run again because it passed 10% ' +
      `(the least disturbed attempt is kept): ${interference}.`,
  );
  line(
    `- ${config.rounds} rounds; in each, every variant runs in a fresh process, in an order rotated by one per round; ` +
      `${config.warmupS} s warm-up on GET / and 1 s on POST /orders before their ${config.durationS} s measurements, then the open loop.`,
  );
  line(
    '- Spans: a `@grpc/grpc-js` OTLP trace receiver in its own process keeps the raw export bytes during load and decodes them ' +
      "with `protobufjs` afterwards. After each run the server gets SIGTERM (the peers' app flushes the provider through the " +
      'API, the service flushes its SDK), then every response (warm-ups included) must have a server span for its path.',
  );
  line(
    '- Start-up: from `spawn()` to the first 200 from GET /, polled every 2 ms, ' +
      `${config.starts} starts per variant, alternating.`,
  );
  line(
    "- Image: for the service, what its Dockerfile's runtime stage copies (the esbuild bundles in `app/dist` and " +
      '`package.json`; no `node_modules`); for the peers, their code plus `npm install --omit=dev` at the versions pinned ' +
      'in `bench/package-lock.json`; sum of file sizes in MB of 10^6 bytes.',
  );
  line(
    '- Heap: every variant runs with the `NODE_OPTIONS` the stack gives the service in a task of the default size ' +
      "(`lib/settings.ts`, shown in the commands above); without it V8 sizes its heap from this machine's memory, " +
      "many times a task's.",
  );
  line(
    "- Sampling: (b) and (b-rule) run with the task's `OTEL_TRACES_SAMPLER=xray` and `OTEL_TRACES_SAMPLER_ARG=endpoint=…,polling_interval=60`, " +
      'against a fake X-Ray sampling API in the harness (`app/test/support/xray-proxy.ts`: `POST /GetSamplingRules`, ' +
      '`POST /SamplingTargets`), whose Default rule records every request for (b) and 1/s + 5% for (b-rule) and (d-rule). ' +
      'It answers each SamplingTargets report with a 1 s interval; before each stop the harness waits 1.5 s for the last ' +
      'report, so that the requests a sampler says it recorded can be matched with the server spans received.',
  );
  line(
    "- (c) and (d) run the same handlers (`bench/peer/app.cjs`, CommonJS so the agents' require hooks patch it) and make the " +
      'same child spans through the OpenTelemetry API the agent registered. (d) needs the app on `@opentelemetry/api` 1.9.x ' +
      '(an alias, `otel-api-1.9`), OTLP over gRPC for traces, metrics and logs exporters off, `parentbased_always_on`.',
  );
  line();

  line('## Running it');
  line();
  line(
    '`npm run bench -- <options>` from the repository root; `npm run bench -- --help` lists them without installing ' +
      "anything. It installs `bench/`'s own dependencies when they are missing, needs `npm run build` first for the " +
      'service, exits 1 when a target fails (after writing its results) and 2 on an unknown option or a bad value.',
  );
  line();
  for (const row of optionsTable()) line(row);
  line();
  return out.join('\n') + '\n';
}
