// The documentation as a reader meets it: every relative link and anchor resolves, tables fit a normal window,
// the README stays a front door, and the LICENSE is the license the packages declare.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VERDICT_LABELS } from '../tools/verify/report';
import { ROOT, anchors, documentationFiles, links, read, slug, tableLines } from './support/markdown';

const files = documentationFiles();

describe('the documentation files', () => {
  test('include the front door, the docs pages and the READMEs of app/ and every tool', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'README.md',
        'app/README.md',
        'docs/architecture.md',
        'docs/configuration.md',
        'docs/costs.md',
        'docs/deploy.md',
        'docs/governed-accounts.md',
        'docs/local-development.md',
        'docs/operations.md',
        'docs/security.md',
        'docs/service.md',
        'docs/troubleshooting.md',
        'docs/verify.md',
        'tools/preflight/README.md',
        'tools/traces/README.md',
        'tools/verify/README.md',
      ]),
    );
  });
});

describe('every relative link resolves', () => {
  test.each(files)('%s', (file) => {
    const broken: string[] = [];
    for (const { target, number } of links(read(file))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
      const [pathPart, anchor] = target.split('#', 2);
      const resolved =
        pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), pathPart));
      if (resolved.startsWith('..') || !fs.existsSync(path.join(ROOT, resolved))) {
        broken.push(`${file}:${number} ${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && !anchors(read(resolved)).has(anchor)) {
        broken.push(`${file}:${number} ${target}: no heading in ${resolved} makes #${anchor}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('anchors are made as GitHub makes them', () => {
  test.each([
    ['Teardown', 'teardown'],
    ['The public edge: HTTPS, AWS WAF and a budget', 'the-public-edge-https-aws-waf-and-a-budget'],
    [
      'The log router stops at start with `Read-only file system`',
      'the-log-router-stops-at-start-with-read-only-file-system',
    ],
    ['`npm ci` fails with `EBADENGINE`', 'npm-ci-fails-with-ebadengine'],
    ["The AWS SDK's spans in the bundle", 'the-aws-sdks-spans-in-the-bundle'],
    ['AWS WAF (`-c waf=true`)', 'aws-waf--c-waftrue'],
  ])('%s → #%s', (heading, anchor) => {
    expect(slug(heading)).toBe(anchor);
  });

  test('a repeated heading gets -1, as GitHub numbers it', () => {
    expect([...anchors('# Tests\n\n## Tests\n\n```sh\n# not a heading\n```\n')]).toEqual(['tests', 'tests-1']);
  });
});

describe('tables fit a normal window', () => {
  test.each(files)('%s has no table line wider than 200 characters', (file) => {
    const wide = tableLines(read(file))
      .filter(({ line }) => [...line].length > 200)
      .map(({ number, line }) => `${file}:${number} (${[...line].length} characters)`);
    expect(wide).toEqual([]);
  });
});

describe('the README is a front door', () => {
  test('it is at most 250 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(250);
  });

  test('it links every docs page', () => {
    const linked = new Set(links(read('README.md')).map(({ target }) => target.split('#')[0]));
    const pages = files.filter((file) => file.startsWith('docs/'));
    expect(pages.filter((page) => !linked.has(page))).toEqual([]);
  });
});

describe("the tools' READMEs are short, with the depth in docs/ (issue 23)", () => {
  const readmes = files.filter((file) => file.startsWith('tools/'));

  test.each(readmes)('%s is at most 100 lines', (file) => {
    expect(read(file).split('\n').length).toBeLessThanOrEqual(100);
  });

  test("tools/verify/README.md names every verdict the report gives, and links the page with the tool's depth", () => {
    const readme = read('tools/verify/README.md');
    expect(Object.values(VERDICT_LABELS).filter((label) => !readme.includes(`\`${label}\``))).toEqual([]);
    expect(links(readme).map(({ target }) => target)).toContain('../../docs/verify.md');
  });
});

describe('the LICENSE', () => {
  test('is the license both package.json files name: MIT No Attribution, with a copyright line', () => {
    for (const manifest of ['package.json', 'app/package.json']) {
      expect((JSON.parse(read(manifest)) as { license: string }).license).toBe('MIT-0');
    }
    const license = read('LICENSE');
    // The SPDX text of MIT-0 (spdx/license-list-data: text/MIT-0.txt), with the copyright line filled in.
    expect(license.split('\n')[0]).toBe('MIT No Attribution');
    expect(license).toMatch(/^Copyright \d{4} \S.*$/m);
    const grant = license.slice(license.indexOf('Permission is hereby granted')).replace(/\s+/g, ' ').trim();
    expect(grant).toBe(
      'Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated ' +
        'documentation files (the "Software"), to deal in the Software without restriction, including without ' +
        'limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of ' +
        'the Software, and to permit persons to whom the Software is furnished to do so. THE SOFTWARE IS PROVIDED ' +
        '"AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF ' +
        'MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR ' +
        'COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, ' +
        'TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN ' +
        'THE SOFTWARE.',
    );
  });
});
