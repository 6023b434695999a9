// `npm run bench`'s command line: every option with what it does, parsed and checked before anything is installed
// (bench/index.mjs), printed by --help, and rendered into BENCHMARKS.md (bench/lib/render.mjs). Node builtins only:
// this module runs before bench/'s own dependencies exist.
import { parseArgs } from 'node:util';
import { DYNAMODB_IDS, EXPERIMENT_IDS, VARIANT_IDS } from './variants.mjs';
import { COLLECTOR_IDS } from './collector.mjs';

/** A wrong command line: the message is printed as one line, and the exit code is 2. */
export class UsageError extends Error {}

/**
 * Each option: its parseArgs type, the placeholder of its value, a check of that value, and what it does.
 * `whole` options take whole numbers of at least 1; `ids` options take comma-separated variant ids.
 */
export const OPTIONS = {
  help: { type: 'boolean', short: 'h', describe: 'Print these options and exit, before installing anything.' },
  quick: {
    type: 'boolean',
    describe:
      'A smoke run of a few minutes (2 rounds of 3 s, 3 starts, a 10 s soak, 3 s profiles), too short to trust; ' +
      'writes `bench/results/quick.md`, never BENCHMARKS.md.',
  },
  variants: {
    type: 'string',
    value: 'ids',
    ids: true,
    describe:
      `The variants to run, comma-separated (default \`${[...VARIANT_IDS, ...DYNAMODB_IDS, ...COLLECTOR_IDS].join(',')}\`: ` +
      `\`${DYNAMODB_IDS.join('`, `')}\` with orders in a DynamoDB table (dynalite), \`${COLLECTOR_IDS.join('`, `')}\` ` +
      'exporting to the real collector (built with Go, tools/collector/build.ts); the experiments on (b): ' +
      `\`${EXPERIMENT_IDS.join('`, `')}\`); writes \`bench/results/partial.md\` unless \`--out\` names it.`,
  },
  rounds: { type: 'string', value: 'n', whole: true, describe: 'Rounds of every variant (default 5; 2 with --quick).' },
  duration: {
    type: 'string',
    value: 's',
    whole: true,
    describe: 'Seconds of each closed-loop measurement, GET / and POST /orders (default 6; 3 with --quick).',
  },
  rate: {
    type: 'string',
    value: 'rps',
    whole: true,
    describe: 'Requests a second of the open-loop GET / measurement (default 1000).',
  },
  starts: {
    type: 'string',
    value: 'n',
    whole: true,
    describe: 'Start-up measurements of every variant, spawn to first 200 (default 9; 3 with --quick).',
  },
  profile: {
    type: 'string',
    value: 'ids',
    ids: true,
    describe: 'The variants to CPU-profile, comma-separated (default `b,b-none,b-rule,a,a0`).',
  },
  instructions: {
    type: 'string',
    value: 'ids',
    ids: true,
    describe:
      "The variants whose instructions per GET / are counted under valgrind's callgrind, comma-separated " +
      '(default `a0,a,b-rule,b-rule-bare,b-none,lean`; about 2 minutes each on a quiet machine).',
  },
  'no-instructions': { type: 'boolean', describe: 'Skip the instruction counts (they need valgrind).' },
  'no-soak': { type: 'boolean', describe: 'Skip the 60-second run of (b) that counts lost spans.' },
  'no-profile': { type: 'boolean', describe: 'Skip the CPU profiles.' },
  'no-image': { type: 'boolean', describe: "Skip the image sizes (they `npm install` the peers' dependencies)." },
  out: {
    type: 'string',
    value: 'name',
    describe:
      'Name the results `bench/results/<name>.json` and `.md` (default `full`, `quick` or `partial`); ' +
      'only `full` renders BENCHMARKS.md.',
  },
};

const KNOWN_IDS = [...VARIANT_IDS, ...EXPERIMENT_IDS, ...DYNAMODB_IDS, ...COLLECTOR_IDS];
const flag = (name) => `--${name}${OPTIONS[name].value ? ` <${OPTIONS[name].value}>` : ''}`;

/** The options as `node:util` parseArgs reads them. */
function parseArgsOptions() {
  return Object.fromEntries(
    Object.entries(OPTIONS).map(([name, { type, short }]) => [name, short ? { type, short } : { type }]),
  );
}

/**
 * Parses `npm run bench`'s arguments. Returns the values parseArgs gives (strings for valued options, so run.mjs
 * applies its own defaults); throws a UsageError whose message is one line naming what is wrong.
 */
export function parseBenchArgs(argv) {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: parseArgsOptions(), strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const value = values[name];
    if (value === undefined || spec.type !== 'string') continue;
    if (spec.whole && !/^[1-9]\d*$/.test(value)) {
      throw new UsageError(`${flag(name)} is '${value}'; it takes a whole number of at least 1`);
    }
    if (spec.ids) {
      const unknown = value.split(',').filter((id) => !KNOWN_IDS.includes(id));
      if (unknown.length > 0) {
        throw new UsageError(
          `${flag(name)} names unknown variant ${unknown.join(', ')}; known: ${KNOWN_IDS.join(', ')}`,
        );
      }
    }
  }
  return values;
}

function describeParseError(error) {
  const message = error instanceof Error ? error.message : String(error);
  const option = /option '([^']+)'/i.exec(message)?.[1] ?? /'(-[^']*)'/.exec(message)?.[1];
  switch (error?.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${option}'; the options are ${Object.keys(OPTIONS)
        .map((name) => `--${name}`)
        .join(', ')}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return OPTIONS[option?.replace(/^--/, '')]?.type === 'boolean'
        ? `${option} takes no value`
        : `${option.split(' ')[0]} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ''}; every option starts with --`;
    default:
      return message.split('\n')[0];
  }
}

/** The options as --help prints them. */
export function usage() {
  const width = Math.max(...Object.keys(OPTIONS).map((name) => flag(name).length));
  const plain = (text) => text.replace(/`/g, '');
  return [
    'Usage: npm run bench [-- <options>]',
    '',
    'Measures what tracing costs the service against plain Express and the peers (BENCHMARKS.md). A full run took',
    '24 minutes on 2 cores before the variants of issues 20 and 22; the instruction counts add about 2 minutes a',
    'variant on a quiet machine (many more on a busy one). It renders BENCHMARKS.md, exits 1 when a target fails',
    '(after writing its results) and 2 on a wrong command line.',
    '',
    ...Object.keys(OPTIONS).map((name) => `  ${flag(name).padEnd(width)}  ${plain(OPTIONS[name].describe)}`),
    '',
  ].join('\n');
}

/** The options as a Markdown table, for BENCHMARKS.md. */
export function optionsTable() {
  return [
    '| Option | What it does |',
    '| --- | --- |',
    ...Object.keys(OPTIONS).map((name) => `| \`${flag(name)}\` | ${OPTIONS[name].describe} |`),
  ];
}

/** A run's exit code: 1 when any target failed (targets with no verdict do not count), else 0. */
export function exitCodeFor(targets) {
  return targets.some((target) => target.pass === false) ? 1 : 0;
}
