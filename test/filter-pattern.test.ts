// The test matcher against the examples of the CloudWatch Logs user guide ("Filter and pattern syntax";
// awsdocs/amazon-cloudwatch-logs-user-guide: doc_source/FilterAndPatternSyntax.md): if it disagrees with the
// documented outcome of any example, the pattern tests that rely on it prove nothing.
import { matchesFilterPattern } from './support/filter-pattern';

describe('JSON filter patterns, on the guide’s CloudTrail-like event', () => {
  const event = JSON.stringify({
    eventType: 'UpdateTrail',
    sourceIPAddress: '111.111.111.111',
    arrayKey: ['value', 'another value'],
    objectList: [
      { name: 'a', id: 1 },
      { name: 'b', id: 2 },
    ],
    SomeObject: null,
    ThisFlag: true,
  });

  test.each([
    '{ $.eventType = "UpdateTrail" }',
    '{ $.sourceIPAddress != 123.123.* }',
    '{ $.arrayKey[0] = "value" }',
    '{ $.objectList[1].id = 2 }',
    '{ $.SomeObject IS NULL }',
    '{ $.SomeOtherObject NOT EXISTS }',
    '{ $.ThisFlag IS TRUE }',
  ])('%s matches, as documented', (pattern) => {
    expect(matchesFilterPattern(pattern, event)).toBe(true);
  });

  test.each([
    '{ $.eventType = "PutTrail" }',
    '{ $.sourceIPAddress != 111.111.* }',
    '{ $.ThisFlag IS FALSE }',
    '{ $.eventType NOT EXISTS }',
    // A selector that names an array matches neither = nor !=.
    '{ $.arrayKey = "value" }',
    '{ $.arrayKey != "value" }',
  ])('%s does not match', (pattern) => {
    expect(matchesFilterPattern(pattern, event)).toBe(false);
  });
});

describe('JSON compound conditions, on the guide’s users event', () => {
  const event = JSON.stringify({
    user: { id: 1, email: 'John.Stiles@example.com' },
    users: [
      { id: 2, email: 'John.Doe@example.com' },
      { id: 3, email: 'Jane.Doe@example.com' },
    ],
    actions: ['GET', 'PUT', 'DELETE'],
    coordinates: [
      [0, 1, 2],
      [4, 5, 6],
      [7, 8, 9],
    ],
  });

  test.each([
    ['{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', true],
    ['{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', false],
    ['{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }', true],
    [
      '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }',
      false,
    ],
  ])('%s: %p, as documented (&& binds tighter than ||)', (pattern, expected) => {
    expect(matchesFilterPattern(pattern, event)).toBe(expected);
  });
});

describe('JSON values', () => {
  test('a * at the start or end is a wildcard; in the middle it is the character itself', () => {
    expect(matchesFilterPattern('{ $.e = "*Event" }', '{"e":"PutEvent"}')).toBe(true);
    expect(matchesFilterPattern('{ $.e = "Event*" }', '{"e":"EventName"}')).toBe(true);
    expect(matchesFilterPattern('{ $.e = "Ev*ent" }', '{"e":"Evxent"}')).toBe(false);
    expect(matchesFilterPattern('{ $.e = "Ev*ent" }', '{"e":"Ev*ent"}')).toBe(true);
  });

  test('numbers compare numerically, as in the guide’s examples', () => {
    expect(matchesFilterPattern('{ $.latency >= 500 }', '{"latency":500}')).toBe(true);
    expect(matchesFilterPattern('{ $.numbers[0] < 10e3 }', '{"numbers":[9999]}')).toBe(true);
    expect(
      matchesFilterPattern(
        '{ $.processes[4].averageRuntime <= 55.5 }',
        '{"processes":[0,0,0,0,{"averageRuntime":56}]}',
      ),
    ).toBe(false);
    expect(matchesFilterPattern('{ $.errorCode != 500 }', '{"errorCode":400}')).toBe(true);
    expect(matchesFilterPattern('{ $.latency > +1000 }', '{"latency":1000}')).toBe(false);
  });

  test('case matters, and a line that is not a JSON object never matches a JSON pattern', () => {
    expect(matchesFilterPattern('{ $.level = "error" }', '{"level":"ERROR"}')).toBe(false);
    expect(matchesFilterPattern('{ $.level = "error" }', 'level=error')).toBe(false);
    expect(matchesFilterPattern('{ $.level = "error" }', '["error"]')).toBe(false);
  });
});

describe('text filter patterns, on the guide’s three events', () => {
  const events = ['ERROR WARN message', 'ERROR message', 'WARN message'];
  const matching = (pattern: string) => events.filter((event) => matchesFilterPattern(pattern, event));

  test.each([
    ['ERROR', ['ERROR WARN message', 'ERROR message']],
    ['?ERROR ?WARN', events],
    ['ERROR WARN', ['ERROR WARN message']],
    ['ERROR -WARN', ['ERROR message']],
  ])('%s matches %p', (pattern, expected) => {
    expect(matching(pattern)).toEqual(expected);
  });

  test('a term matches inside a word, and a quoted term may hold any characters', () => {
    expect(matchesFilterPattern('"ERROR"', 'Exiting with ERRORCODE: -1')).toBe(true);
    expect(matchesFilterPattern('"[ERROR]"', '[ERROR] A fatal exception has occurred')).toBe(true);
    expect(matchesFilterPattern('"Failed to process the request"', '[WARN] Failed to process the request')).toBe(true);
  });
});
