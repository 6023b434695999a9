import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONTEXT_KEYS } from '../bin/context';

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

describe('the README', () => {
  test.each(Object.entries(CONTEXT_KEYS))('documents the context key %s with its default', (key, spec) => {
    const row = readme.split('\n').find((line) => new RegExp(`^\\|\\s*\`${key}\`\\s*\\|`).test(line));
    expect(row?.split('|')[2].trim().replace(/`/g, '')).toBe(spec.defaultValue);
  });

  test('prices sampling as X-Ray does: traces a month from the rule, $5.00 per million beyond 100,000', () => {
    // REFERENCE §8: X-Ray's published prices. A month of 730 hours, as in the cost table above it.
    const seconds = 730 * 3600;
    const rows = readme
      .split('\n')
      .filter((line) => /^\|\s*\d+\s*\|\s*\d+\/s\s*\|/.test(line))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const [rps, reservoir, rate, traces, dollars] of rows) {
      const perSecond = Number(reservoir.replace('/s', ''));
      const recorded =
        (Math.min(Number(rps), perSecond) + Number(rate) * Math.max(Number(rps) - perSecond, 0)) * seconds;
      const cost = (Math.max(0, recorded - 100_000) / 1e6) * 5;
      expect(traces).toBe(`${(recorded / 1e6).toFixed(2)} million`);
      expect(dollars).toBe(`$${cost.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);
    }
  });

  test('lists no context key that the app does not read', () => {
    const documented = [...readme.matchAll(/^\|\s*`(\w+)`\s*\|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.keys(CONTEXT_KEYS).sort());
  });
});
