// CloudWatch Logs filter-pattern matching, as the CloudWatch Logs user guide documents it ("Filter and pattern
// syntax"; awsdocs/amazon-cloudwatch-logs-user-guide: doc_source/FilterAndPatternSyntax.md), for testing metric
// filter patterns against real log lines without AWS. Two kinds of pattern:
//
// - JSON patterns, `{ … }`: apply only to an event that is a JSON object. Conditions are `SELECTOR = value`,
//   `SELECTOR != value`, numeric comparisons (`<`, `>`, `<=`, `>=`, `=`, `!=`), `IS TRUE`, `IS FALSE`, `IS NULL` and
//   `NOT EXISTS`, combined with `&&` and `||` and parentheses (precedence: parentheses, then `&&`, then `||`).
//   A selector is `$` followed by `.name` (letters, digits, `-`, `_`) and `[index]` steps. A string value may be
//   quoted or, if alphanumeric, bare; `*` at its start or end is a wildcard, anywhere else it is a literal `*`.
//   A selector that names an array or an object matches neither `=` nor `!=`; so does one that names nothing.
// - Text patterns: terms, each a bare word or a double-quoted phrase, all of which must occur in the event
//   (case-sensitive substrings); `?term` makes the `?` terms alternatives (any one of them suffices); `-term`
//   excludes events containing the term.
//
// Space-delimited patterns (`[a, b, …]`) are not implemented: none of this project's patterns uses them.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'compare'; path: (string | number)[]; op: '=' | '!=' | '<' | '>' | '<=' | '>='; value: string | number }
  | { kind: 'is'; path: (string | number)[]; what: 'TRUE' | 'FALSE' | 'NULL' }
  | { kind: 'notExists'; path: (string | number)[] };

/** Whether a CloudWatch Logs filter pattern matches one log event (the event's message, as CloudWatch stores it). */
export function matchesFilterPattern(pattern: string, event: string): boolean {
  const trimmed = pattern.trim();
  if (trimmed.startsWith('{')) return matchesJson(parseJsonPattern(trimmed), event);
  if (trimmed.startsWith('[')) throw new Error('space-delimited patterns are not implemented');
  return matchesText(trimmed, event);
}

// ---- JSON patterns -------------------------------------------------------------------------------------------------

const TOKEN =
  /\s*(\|\||&&|!=|<=|>=|=|<|>|\(|\)|\{|\}|"(?:[^"\\]|\\.)*"|\$(?:\.[A-Za-z0-9_-]+|\[\d+\])*|[^\s()&|=!<>{}"]+)/y;

function tokenize(pattern: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < pattern.length) {
    if (/^\s*$/.test(pattern.slice(TOKEN.lastIndex))) break;
    const match = TOKEN.exec(pattern);
    if (!match) throw new Error(`cannot read the filter pattern at '${pattern.slice(TOKEN.lastIndex)}'`);
    tokens.push(match[1]);
  }
  return tokens;
}

function parseJsonPattern(pattern: string): Condition {
  const tokens = tokenize(pattern);
  let at = 0;
  const peek = () => tokens[at];
  const next = () => {
    const token = tokens[at++];
    if (token === undefined) throw new Error(`unexpected end of the filter pattern ${pattern}`);
    return token;
  };
  const expect = (token: string) => {
    if (next() !== token) throw new Error(`expected '${token}' in ${pattern}`);
  };

  const or = (): Condition => {
    let left = and();
    while (peek() === '||') {
      next();
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };
  const and = (): Condition => {
    let left = primary();
    while (peek() === '&&') {
      next();
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const primary = (): Condition => {
    if (peek() === '(') {
      next();
      const inner = or();
      expect(')');
      return inner;
    }
    const path = selector(next());
    const op = next();
    if (op === 'IS') {
      const what = next();
      if (what !== 'TRUE' && what !== 'FALSE' && what !== 'NULL') throw new Error(`IS ${what} in ${pattern}`);
      return { kind: 'is', path, what };
    }
    if (op === 'NOT') {
      expect('EXISTS');
      return { kind: 'notExists', path };
    }
    if (!['=', '!=', '<', '>', '<=', '>='].includes(op)) throw new Error(`operator '${op}' in ${pattern}`);
    const raw = next();
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : NUMBER.test(raw) ? Number(raw) : raw;
    if (op !== '=' && op !== '!=' && typeof value !== 'number') {
      throw new Error(`'${op}' needs a number in ${pattern}`);
    }
    return { kind: 'compare', path, op: op as '=' | '!=' | '<' | '>' | '<=' | '>=', value };
  };

  expect('{');
  const condition = or();
  expect('}');
  if (at !== tokens.length) throw new Error(`unexpected '${tokens[at]}' after the pattern's closing brace`);
  return condition;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function selector(token: string): (string | number)[] {
  if (!token.startsWith('$')) throw new Error(`a selector starts with '$', got '${token}'`);
  return [...token.slice(1).matchAll(/\.([A-Za-z0-9_-]+)|\[(\d+)\]/g)].map((m) =>
    m[1] !== undefined ? m[1] : Number(m[2]),
  );
}

/** The node a selector names, or undefined when there is none. */
function select(root: Json, path: (string | number)[]): Json | undefined {
  let node: Json | undefined = root;
  for (const step of path) {
    if (typeof step === 'number') {
      node = Array.isArray(node) ? node[step] : undefined;
    } else {
      node = node !== null && typeof node === 'object' && !Array.isArray(node) ? node[step] : undefined;
    }
    if (node === undefined) return undefined;
  }
  return node;
}

function matchesJson(condition: Condition, event: string): boolean {
  let root: Json;
  try {
    root = JSON.parse(event) as Json;
  } catch {
    return false;
  }
  if (root === null || typeof root !== 'object' || Array.isArray(root)) return false;
  return evaluate(condition, root);
}

function evaluate(condition: Condition, root: Json): boolean {
  switch (condition.kind) {
    case 'and':
      return evaluate(condition.left, root) && evaluate(condition.right, root);
    case 'or':
      return evaluate(condition.left, root) || evaluate(condition.right, root);
    case 'notExists':
      return select(root, condition.path) === undefined;
    case 'is': {
      const node = select(root, condition.path);
      return condition.what === 'NULL' ? node === null : node === (condition.what === 'TRUE');
    }
    case 'compare': {
      const node = select(root, condition.path);
      // Only value nodes (strings and numbers) can be compared.
      if (typeof node !== 'string' && typeof node !== 'number') return false;
      const { op, value } = condition;
      if (typeof value === 'number') {
        if (typeof node !== 'number') return false;
        switch (op) {
          case '=':
            return node === value;
          case '!=':
            return node !== value;
          case '<':
            return node < value;
          case '>':
            return node > value;
          case '<=':
            return node <= value;
          case '>=':
            return node >= value;
        }
      }
      const equal = typeof node === 'string' && matchesWildcard(value, node);
      return op === '=' ? equal : !equal;
    }
  }
}

/** `*` at the start or end of the pattern's string is a wildcard; a `*` elsewhere is the character itself. */
function matchesWildcard(pattern: string, text: string): boolean {
  const prefix = pattern.length > 1 && pattern.startsWith('*');
  const suffix = pattern.length > 1 && pattern.endsWith('*');
  if (pattern === '*') return true;
  const core = pattern.slice(prefix ? 1 : 0, suffix ? -1 : undefined);
  if (prefix && suffix) return text.includes(core);
  if (prefix) return text.endsWith(core);
  if (suffix) return text.startsWith(core);
  return text === core;
}

// ---- Text patterns -------------------------------------------------------------------------------------------------

function matchesText(pattern: string, event: string): boolean {
  const terms = [...pattern.matchAll(/([?-]?)("(?:[^"\\]|\\.)*"|[^\s"]+)/g)].map((m) => ({
    modifier: m[1],
    text: m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2],
  }));
  if (terms.length === 0) return true;
  const alternatives = terms.filter((t) => t.modifier === '?');
  const required = terms.filter((t) => t.modifier === '');
  const excluded = terms.filter((t) => t.modifier === '-');
  return (
    required.every((t) => event.includes(t.text)) &&
    (alternatives.length === 0 || alternatives.some((t) => event.includes(t.text))) &&
    !excluded.some((t) => event.includes(t.text))
  );
}
