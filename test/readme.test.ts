import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONTEXT_KEYS } from '../bin/context';

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');

describe('the README', () => {
  test.each(Object.entries(CONTEXT_KEYS))('documents the context key %s with its default', (key, spec) => {
    const row = readme.split('\n').find((line) => new RegExp(`^\\|\\s*\`${key}\`\\s*\\|`).test(line));
    expect(row?.split('|')[2].trim().replace(/`/g, '')).toBe(spec.defaultValue);
  });

  test('lists no context key that the app does not read', () => {
    const documented = [...readme.matchAll(/^\|\s*`(\w+)`\s*\|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.keys(CONTEXT_KEYS).sort());
  });
});
