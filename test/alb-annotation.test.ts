// Finding the trace of a load balancer access log line: the service records the ALB's Root as a span attribute, the
// collector indexes it, and X-Ray stores it as an annotation under a key that the awsxray exporter derives from the
// attribute's name. Every document that tells a user how to search for it must use the key X-Ray really has.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { COLLECTOR_CONFIG_PATH } from '../lib/observed-task-definition';
import { container, environmentOf, sharedTemplate } from './helpers';
import { documentationFiles } from './support/markdown';

const ROOT = path.join(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/**
 * The annotation key the awsxray exporter writes for an indexed attribute: `fixAnnotationKey` in
 * opentelemetry-collector-contrib v0.156.0, exporter/awsxrayexporter/internal/translator/segment.go. Letters and
 * digits stay, and so do dots while the feature gate `exporter.xray.allowDot` is on (beta, on by default since
 * contrib PR #32694); every other character becomes `_`.
 */
function annotationKey(attribute: string, allowDot = true): string {
  return attribute.replace(/[^0-9A-Za-z.]/g, '_').replace(/\./g, allowDot ? '.' : '_');
}

/**
 * An X-Ray filter expression that finds the traces whose annotation `key` equals `value`. `annotation.key` takes a
 * key of letters, digits and `_` only: in it a dot would separate names. A key with dots is named in brackets,
 * `annotation[key]`, the form AWS's own Application Signals uses for its dotted annotations (`aws.local.service`).
 */
function filterExpression(key: string, value: string): string {
  return /^[A-Za-z0-9_]+$/.test(key) ? `annotation.${key} = "${value}"` : `annotation[${key}] = "${value}"`;
}

/** The attribute the service records the ALB's Root under (app/src/access-log.ts). */
const recorded = /ATTR_ALB_TRACE_ID = '([^']+)'/.exec(read('app/src/access-log.ts'))?.[1] ?? '';
const collector = parse(read(path.relative(ROOT, COLLECTOR_CONFIG_PATH))) as {
  exporters: { awsxray: { indexed_attributes: string[] } };
};

/** What every document tells a user to paste into the X-Ray console, with the Root of an access log line. */
const SEARCH = filterExpression(annotationKey(recorded), '1-…');

describe('the annotation that joins an access log line to its trace', () => {
  test('is the attribute the service records, indexed by the collector', () => {
    expect(collector.exporters.awsxray.indexed_attributes).toContain(recorded);
  });

  test('keeps its dots in X-Ray, so its key is aws.alb.trace_id, not aws_alb_trace_id', () => {
    expect(recorded).toBe('aws.alb.trace_id');
    expect(annotationKey(recorded)).toBe('aws.alb.trace_id');
    // Only with the gate turned off (a collector command line the task does not use) would it be aws_alb_trace_id.
    expect(annotationKey(recorded, false)).toBe('aws_alb_trace_id');
    expect(annotationKey('a-b@c.d')).toBe('a_b_c.d');
  });

  test('is searched in brackets, as a dotted key must be', () => {
    expect(SEARCH).toBe('annotation[aws.alb.trace_id] = "1-…"');
    expect(filterExpression('account', '12345')).toBe('annotation.account = "12345"');
  });

  test('the collector runs with its default feature gates: no command line turns allowDot off', () => {
    const collectorContainer = container(sharedTemplate(), 'aws-otel-collector');
    // A gate is set with `--feature-gates=-exporter.xray.allowDot` on the command line; the task sets none.
    expect(collectorContainer.Command).toBeUndefined();
    expect(collectorContainer.EntryPoint).toBeUndefined();
    expect(Object.keys(environmentOf(collectorContainer)).sort()).toEqual([
      'AOT_CONFIG_CONTENT',
      'AWS_REGION',
      'GOGC',
      'GOMEMLIMIT',
    ]);
  });
});

describe('every document says the same thing about finding the trace of an access log line', () => {
  test.each(['docs/architecture.md', 'docs/service.md', 'lib/config/collector.yaml'])(
    '%s gives the bracket form',
    (file) => {
      expect(read(file)).toContain(SEARCH);
    },
  );

  test.each([...documentationFiles(), 'lib/config/collector.yaml'])('%s never gives the underscore key', (file) => {
    const text = read(file);
    expect(text).not.toMatch(/aws_alb_trace_id/);
    expect(text).not.toMatch(/annotation\.aws\.alb/);
  });
});
