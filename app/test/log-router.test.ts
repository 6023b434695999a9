// Every line the service writes passes the task's log router, AWS for Fluent Bit 3.4.16 with its built-in
// /fluent-bit/configs/parse-json.conf, without a warning, and CloudWatch Logs gets the right event time.
//
// The definitions below are copied from their sources (the image's own files are not readable here):
// - aws/aws-for-fluent-bit configs/parse-json.conf: the filter that parses each line with the `json` parser. The
//   image copies fluent-bit's conf/parsers*.conf to /fluent-bit/parsers/ (scripts/dockerfiles/Dockerfile.build).
// - fluent/fluent-bit v5.0.9 conf/parsers.conf: the `json` parser (AWS for Fluent Bit 3.4.10 to 3.4.15 ship Fluent
//   Bit v5.0.9, per their release notes; the definition is the same in every v5.0 tag).
// - fluent/fluent-bit v5.0.9 src/flb_parser_json.c, modelled in `routerTime` below: it looks for a key equal to
//   Time_Key; no such key, or a value that is not a string, leaves the record's time alone without a word; a string
//   that does not match Time_Format logs `[parser:json] invalid time format …` (flb_warn) for that line; a string
//   that matches replaces the record's time (at whole seconds: the format has no fraction) and, without Time_Keep,
//   removes the key from the record. plugins/filter_parser/filter_parser.c keeps the incoming time when the parser
//   returns none.
// - The incoming time is the one the FireLens log driver stamped when it read the line: the ECS agent configures the
//   fluentd driver with `fluentd-sub-second-precision: true` (aws/amazon-ecs-agent
//   agent/engine/docker_task_engine_linux.go), and the `cloudwatch_logs` output sends that time, in milliseconds,
//   as the event's timestamp (fluent-bit plugins/out_cloudwatch_logs/cloudwatch_api.c).
import { spawnSync } from 'node:child_process';
import { closeAgent, ENTRY, APP_DIR, baseEnv, postOrder, request, startService, type Service } from './support/service';

jest.setTimeout(30_000);

const PARSE_JSON_CONF = `
[SERVICE]
    Parsers_File /fluent-bit/parsers/parsers.conf
    Flush 1
    Grace 30

[FILTER]
    Name parser
    Match *
    Key_Name log
    Parser json
    Reserve_Data True
`;

const PARSERS_CONF_JSON = `
[PARSER]
    Name   json
    Format json
    Time_Key time
    Time_Format %d/%b/%Y:%H:%M:%S %z
`;

/** The key/value lines of the first `[section]` of a Fluent Bit classic configuration text. */
function section(text: string, name: string): Map<string, string> {
  const body = text.split(`[${name}]`)[1]?.split(/^\[/m)[0];
  if (body === undefined) throw new Error(`no [${name}] section`);
  const entries = body
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [key, ...value] = line.split(/\s+/);
      return [key.toLowerCase(), value.join(' ')] as [string, string];
    });
  return new Map(entries);
}

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
const DIRECTIVES: Record<string, string> = {
  d: '(?:0[1-9]|[12]\\d|3[01])',
  b: `(?:${MONTHS})`,
  Y: '\\d{4}',
  H: '(?:[01]\\d|2[0-3])',
  M: '[0-5]\\d',
  S: '(?:[0-5]\\d|60)',
  z: '[+-]\\d{4}',
};

/** Fluent Bit's strptime for the directives the `json` parser's Time_Format uses, as a whole-string match. */
function timeFormatRegExp(format: string): RegExp {
  const source = format.replace(/%(.)|[.*+?^${}()|[\]\\]/g, (match: string, directive?: string) => {
    if (directive === undefined) return `\\${match}`;
    const pattern = DIRECTIVES[directive];
    if (pattern === undefined) throw new Error(`the model does not know %${directive}`);
    return pattern;
  });
  return new RegExp(`^${source}$`);
}

interface RouterOutcome {
  /** The router's warning for this line, if it logs one. */
  readonly warning?: string;
  /** Where CloudWatch's event time comes from: the log driver's stamp, or the line's own field (whole seconds). */
  readonly eventTime: 'log driver' | 'line, whole seconds';
  /** The record's fields after parsing. */
  readonly fields: readonly string[];
}

const FILTER = section(PARSE_JSON_CONF, 'FILTER');
const PARSER = section(PARSERS_CONF_JSON, 'PARSER');

/** What parse-json.conf does with one line of the service's stdout (flb_parser_json.c, as described above). */
function routerTime(line: Record<string, unknown>): RouterOutcome {
  expect(FILTER.get('parser')).toBe(PARSER.get('name'));
  const timeKey = PARSER.get('time_key') ?? 'time';
  const timeFormat = PARSER.get('time_format')!;
  const timeKeep = (PARSER.get('time_keep') ?? 'off').toLowerCase() === 'on';
  const fields = Object.keys(line);
  if (!(timeKey in line) || typeof line[timeKey] !== 'string') return { eventTime: 'log driver', fields };
  const value = line[timeKey];
  if (!timeFormatRegExp(timeFormat).test(value)) {
    return {
      warning: `[parser:${PARSER.get('name')}] invalid time format ${timeFormat} for '${value}'`,
      eventTime: 'log driver',
      fields,
    };
  }
  return { eventTime: 'line, whole seconds', fields: timeKeep ? fields : fields.filter((key) => key !== timeKey) };
}

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Checks the line's own time: the `timestamp` key, ISO 8601 UTC with milliseconds, within [from, to]. */
function expectLineTime(line: Record<string, unknown>, from: number, to: number): void {
  expect(line).not.toHaveProperty('time');
  expect(line.timestamp).toMatch(ISO_UTC_MS);
  const at = Date.parse(line.timestamp as string);
  expect(at).toBeGreaterThanOrEqual(from);
  expect(at).toBeLessThanOrEqual(to);
}

describe("the log router's json parser, as modelled from its source", () => {
  it('warns about an ISO `time` string, the form pino writes by default', () => {
    expect(routerTime({ level: 'info', time: '2026-11-25T13:15:10.986Z', msg: 'x' }).warning).toMatch(
      /invalid time format %d\/%b\/%Y:%H:%M:%S %z for '2026-11-25T13:15:10.986Z'/,
    );
  });

  it('takes a `time` in its own format as the event time, to the second, and drops the key', () => {
    expect(routerTime({ time: '25/Nov/2026:13:15:10 +0000', msg: 'x' })).toEqual({
      eventTime: 'line, whole seconds',
      fields: ['msg'],
    });
  });

  it('leaves a number, or a line without `time`, to the log driver without a warning', () => {
    expect(routerTime({ time: 1795000000000, msg: 'x' })).toEqual({ eventTime: 'log driver', fields: ['time', 'msg'] });
    expect(routerTime({ timestamp: '2026-11-25T13:15:10.986Z' })).toEqual({
      eventTime: 'log driver',
      fields: ['timestamp'],
    });
  });
});

describe("the service's lines at the log router", () => {
  let service: Service;
  let started: number;

  beforeAll(async () => {
    started = Date.now();
    service = await startService({ OTEL_SDK_DISABLED: 'true' });
  });

  afterAll(async () => {
    await service.stop();
    closeAgent();
  });

  it('when the service starts, serves and fails a request, then no line makes the router warn', async () => {
    await request(service.url('/'));
    await postOrder(service, { sku: 'WIDGET-7', quantity: 3 });
    await request(service.url('/no-such-route'));
    await service.waitForLine((l) => l.msg === 'request completed' && l.path === '/no-such-route');
    const ended = Date.now();

    expect(service.lines.length).toBeGreaterThanOrEqual(4);
    for (const line of service.lines) {
      const outcome = routerTime(line);
      expect(outcome.warning).toBeUndefined();
      // CloudWatch's @timestamp is the log driver's stamp, to the millisecond; the line keeps every field.
      expect(outcome).toEqual({ eventTime: 'log driver', fields: Object.keys(line) });
      expectLineTime(line, started, ended);
    }
  });

  it('when the configuration is bad, then its one line has the same time key and form as every other line', () => {
    const from = Date.now();
    const result = spawnSync(process.execPath, ENTRY, {
      cwd: APP_DIR,
      env: baseEnv({ PORT: 'http' }),
      encoding: 'utf8',
      timeout: 20_000,
    });
    const to = Date.now();
    expect(result.status).toBe(1);
    const line = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'fatal', variable: 'PORT' });
    expectLineTime(line, from, to);
    expect(routerTime(line).warning).toBeUndefined();
    // The same key at the same place as in the service's other lines: right after the level.
    expect(Object.keys(line).slice(0, 2)).toEqual(Object.keys(service.lines[0]).slice(0, 2));
  });
});
