// The root's long-running npm scripts hand the process to node itself. npm 11 forwards SIGTERM/SIGINT to the
// `sh -c` that runs a script, and Debian's dash neither execs a lone command nor survives SIGTERM, so without `exec`
// a signal to npm leaves the tool orphaned (app/test/start-app.test.ts shows it for the service).
import * as fs from 'node:fs';
import * as path from 'node:path';

const scripts = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

describe('the npm scripts that keep running', () => {
  test.each(['start:app', 'verify', 'preflight', 'traces', 'local'])(
    '%s execs node, so a signal to npm reaches it',
    (name) => {
      expect(scripts[name]).toMatch(/^(cd \S+ && )?exec node /);
    },
  );
});
