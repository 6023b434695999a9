// How a CloudWatch alarm turns a template's metric math into a state, as the CloudWatch user guide documents it, for
// testing the alarms on sample minutes without AWS:
//
// - Metric math ("Using metric math"; awsdocs/amazon-cloudwatch-user-guide: doc_source/using-metric-math.md):
//   arithmetic (+ - * /) between two time series treats a value missing in one of them as 0, and a division by zero
//   drops the data point; comparisons (> < >= <= == !=) between two time series give 1 or 0, a missing value again 0;
//   FILL(m, value) gives every minute of the query a value, the missing ones `value`; IF(condition, a, b) takes, per
//   minute of the condition, a's value (0 where a has none) when it is not 0, else b's value (dropped where b has none
//   or is omitted), and drops the minutes where the condition has none.
// - Alarm evaluation ("Using Amazon CloudWatch alarms", "How alarm state is evaluated when data is missing";
//   doc_source/AlarmThatSendsEmail.md): the alarm reads more data points than its evaluation periods (the evaluation
//   range). With at least EvaluationPeriods real points it judges the most recent of them and ignores TreatMissingData;
//   with fewer, it fills as few missing points as it needs with the TreatMissingData choice. ALARM when at least
//   DatapointsToAlarm of the points judged breach, else OK; `missing` with no real point is INSUFFICIENT_DATA.
//
// Not modelled (throws): `ignore`, and `missing` when every real point breaches but there are fewer than
// EvaluationPeriods of them, whose documented outcome depends on where the points stand in the range.
// test/cloudwatch-alarm.test.ts checks this against the guide's own examples.

/** One value per minute, oldest first; `undefined` is a minute without a data point. */
export type Series = (number | undefined)[];

type Value = number | Series;

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export type TreatMissingData = 'missing' | 'notBreaching' | 'breaching' | 'ignore';

/** A series of `length` minutes without a data point. */
export function noData(length: number): Series {
  return Array.from({ length }, () => undefined);
}

/** A series of `length` minutes, each with `value`. */
export function every(length: number, value: number): Series {
  return Array.from({ length }, () => value);
}

// ---- Metric math ----

type Node =
  | { kind: 'number'; value: number }
  | { kind: 'id'; name: string }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'binary'; op: string; left: Node; right: Node }
  | { kind: 'negate'; operand: Node };

const COMPARISONS = ['>', '<', '>=', '<=', '==', '!='];

function parse(expression: string): Node {
  const tokens: string[] = [];
  const lexer = /\s*(\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*|>=|<=|==|!=|[-+*/(),<>])/y;
  while (lexer.lastIndex < expression.trimEnd().length) {
    const start = lexer.lastIndex;
    const match = lexer.exec(expression);
    if (!match) throw new Error(`cannot read '${expression}' at ${start}`);
    tokens.push(match[1]);
  }
  let position = 0;
  const peek = () => tokens[position];
  const take = (expected?: string) => {
    const token = tokens[position++];
    if (token === undefined || (expected !== undefined && token !== expected)) {
      throw new Error(`expected ${expected ?? 'more'} in '${expression}', got ${token ?? 'the end'}`);
    }
    return token;
  };
  const primary = (): Node => {
    const token = take();
    if (/^\d/.test(token)) return { kind: 'number', value: Number(token) };
    if (token === '(') {
      const inner = comparison();
      take(')');
      return inner;
    }
    if (token === '-') return { kind: 'negate', operand: primary() };
    if (/^[A-Z]/.test(token)) {
      take('(');
      const args = [comparison()];
      while (peek() === ',') {
        take(',');
        args.push(comparison());
      }
      take(')');
      return { kind: 'call', name: token, args };
    }
    if (/^[a-z]/.test(token)) return { kind: 'id', name: token };
    throw new Error(`unexpected '${token}' in '${expression}'`);
  };
  const binary = (operand: () => Node, ops: string[]) => (): Node => {
    let left = operand();
    while (ops.includes(peek())) {
      const op = take();
      left = { kind: 'binary', op, left, right: operand() };
    }
    return left;
  };
  const term = binary(primary, ['*', '/']);
  const additive = binary(term, ['+', '-']);
  const comparison = binary(additive, COMPARISONS);
  const tree = comparison();
  if (position !== tokens.length) throw new Error(`unexpected '${peek()}' in '${expression}'`);
  return tree;
}

function apply(op: string, a: number, b: number): number | undefined {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? undefined : a / b;
    case '>':
      return Number(a > b);
    case '<':
      return Number(a < b);
    case '>=':
      return Number(a >= b);
    case '<=':
      return Number(a <= b);
    case '==':
      return Number(a === b);
    case '!=':
      return Number(a !== b);
    default:
      throw new Error(`operator ${op} is not modelled`);
  }
}

function combine(op: string, left: Value, right: Value, length: number): Value {
  if (typeof left === 'number' && typeof right === 'number') {
    const result = apply(op, left, right);
    if (result === undefined) throw new Error('division of a scalar by zero');
    return result;
  }
  return Array.from({ length }, (_, i) => {
    const a = typeof left === 'number' ? left : left[i];
    const b = typeof right === 'number' ? right : right[i];
    // With a scalar, a minute without a value stays without one; between two series, a value missing in one counts 0.
    if (typeof left === 'number' || typeof right === 'number') {
      return a === undefined || b === undefined ? undefined : apply(op, a, b);
    }
    return a === undefined && b === undefined ? undefined : apply(op, a ?? 0, b ?? 0);
  });
}

function evaluate(node: Node, resolve: (id: string) => Series, length: number): Value {
  const series = (value: Value, what: string): Series => {
    if (typeof value === 'number') throw new Error(`${what} must be a time series`);
    return value;
  };
  switch (node.kind) {
    case 'number':
      return node.value;
    case 'id':
      return resolve(node.name);
    case 'negate':
      return combine('-', 0, evaluate(node.operand, resolve, length), length);
    case 'binary':
      return combine(node.op, evaluate(node.left, resolve, length), evaluate(node.right, resolve, length), length);
    case 'call': {
      const args = node.args.map((arg) => evaluate(arg, resolve, length));
      if (node.name === 'FILL' && args.length === 2 && typeof args[1] === 'number') {
        const filler = args[1];
        return series(args[0], 'FILL’s first argument').map((v) => v ?? filler);
      }
      if (node.name === 'IF' && (args.length === 2 || args.length === 3)) {
        const [condition, whenTrue, whenFalse] = args;
        return series(condition, 'IF’s condition').map((c, i) => {
          if (c === undefined) return undefined;
          if (c !== 0) return typeof whenTrue === 'number' ? whenTrue : (whenTrue[i] ?? 0);
          if (whenFalse === undefined) return undefined;
          return typeof whenFalse === 'number' ? whenFalse : whenFalse[i];
        });
      }
      throw new Error(`${node.name} with ${args.length} arguments is not modelled`);
    }
  }
}

/** The series a metric math expression gives, its ids resolved by `resolve`, over a query of `length` minutes. */
export function evaluateExpression(expression: string, resolve: (id: string) => Series, length: number): Series {
  const value = evaluate(parse(expression), resolve, length);
  if (typeof value === 'number') throw new Error(`'${expression}' gives a scalar, not a time series`);
  return value;
}

// ---- The template's alarm ----

// A template's properties are untyped JSON, read here by path.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Properties = Record<string, any>;

/**
 * The series an AWS::CloudWatch::Alarm's metric or returned expression gives, from sample values per metric name
 * (a metric the alarm reads that the sample leaves out is an error, so that a test cannot pass by omission).
 */
export function alarmSeries(alarm: Properties, samples: Record<string, Series>, length: number): Series {
  const sampleOf = (metricName: string): Series => {
    const sample = samples[metricName];
    if (!sample) throw new Error(`no sample values for ${metricName}`);
    if (sample.length !== length) throw new Error(`${metricName} has ${sample.length} minutes, not ${length}`);
    return sample;
  };
  if (alarm.MetricName) return sampleOf(alarm.MetricName as string);
  const queries = alarm.Metrics as Properties[];
  const byId = new Map(queries.map((q) => [q.Id as string, q]));
  const resolve = (id: string): Series => {
    const query = byId.get(id);
    if (!query) throw new Error(`the alarm has no metric or expression with id ${id}`);
    if (query.MetricStat) return sampleOf(query.MetricStat.Metric.MetricName as string);
    return evaluateExpression(query.Expression as string, resolve, length);
  };
  const returned = queries.filter((q) => q.ReturnData !== false);
  if (returned.length !== 1) throw new Error(`the alarm returns ${returned.length} series, not 1`);
  return resolve(returned[0].Id as string);
}

// ---- Alarm evaluation ----

/**
 * Points in the evaluation range beyond the evaluation periods. The guide's examples read 5 points for 3 evaluation
 * periods; the real number depends on the period. Tests keep a condition for longer than the range, so it is moot.
 */
const EXTRA_POINTS_IN_RANGE = 2;

export interface AlarmSettings {
  readonly threshold: number;
  readonly comparisonOperator: string;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm?: number;
  readonly treatMissingData?: TreatMissingData;
}

function breaches(value: number, threshold: number, comparison: string): boolean {
  switch (comparison) {
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
    default:
      throw new Error(`comparison ${comparison} is not modelled`);
  }
}

/** The state an alarm takes on the given evaluation range (oldest point first, `undefined` where one is missing). */
export function alarmStateOfRange(range: Series, settings: AlarmSettings): AlarmState {
  const n = settings.evaluationPeriods;
  const m = settings.datapointsToAlarm ?? n;
  const treat = settings.treatMissingData ?? 'missing';
  const real = range.filter((v): v is number => v !== undefined);
  const breaching = (values: number[]) =>
    values.filter((v) => breaches(v, settings.threshold, settings.comparisonOperator)).length;
  if (real.length >= n) return breaching(real.slice(-n)) >= m ? 'ALARM' : 'OK';
  const fills = n - real.length;
  switch (treat) {
    case 'breaching':
      return breaching(real) + fills >= m ? 'ALARM' : 'OK';
    case 'notBreaching':
      return breaching(real) >= m ? 'ALARM' : 'OK';
    case 'missing':
      if (real.length === 0) return 'INSUFFICIENT_DATA';
      if (breaching(real) < real.length) return breaching(real) >= m ? 'ALARM' : 'OK';
      throw new Error('missing data treated as missing, with only breaching points: not modelled');
    default:
      throw new Error(`TreatMissingData ${treat} is not modelled`);
  }
}

/** The state an alarm of the template takes after the sample minutes (the last minute is the newest). */
export function alarmState(alarm: Properties, samples: Record<string, Series>, length: number): AlarmState {
  const values = alarmSeries(alarm, samples, length);
  const settings: AlarmSettings = {
    threshold: alarm.Threshold as number,
    comparisonOperator: alarm.ComparisonOperator as string,
    evaluationPeriods: alarm.EvaluationPeriods as number,
    datapointsToAlarm: alarm.DatapointsToAlarm as number | undefined,
    treatMissingData: alarm.TreatMissingData as TreatMissingData | undefined,
  };
  const rangeLength = settings.evaluationPeriods + EXTRA_POINTS_IN_RANGE;
  if (length < rangeLength) throw new Error(`sample ${length} minutes; the alarm reads ${rangeLength}`);
  return alarmStateOfRange(values.slice(-rangeLength), settings);
}
