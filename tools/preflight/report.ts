// One result per check and how they print: a PASS/FAIL/SKIP line each, and on a failure what to do.

export type Status = 'PASS' | 'FAIL' | 'SKIP';

export interface CheckResult {
  readonly status: Status;
  /** What was checked, short: `image public.ecr.aws/…:tag`, `Docker engine`, `CDK bootstrap`. */
  readonly check: string;
  /** What was found. */
  readonly detail: string;
  /** On FAIL (and SKIP), what to do about it. */
  readonly fix?: string;
}

export const pass = (check: string, detail: string): CheckResult => ({ status: 'PASS', check, detail });

export const fail = (check: string, detail: string, fix: string): CheckResult => ({
  status: 'FAIL',
  check,
  detail,
  fix,
});

export const skip = (check: string, detail: string, fix?: string): CheckResult => ({
  status: 'SKIP',
  check,
  detail,
  ...(fix !== undefined ? { fix } : {}),
});

/** `PASS  check: detail`, and for a failure a second line `      What to do: …`. */
export function formatResult(result: CheckResult): string {
  const line = `${result.status}  ${result.check}: ${result.detail}`;
  return result.fix === undefined ? line : `${line}\n      What to do: ${result.fix}`;
}

/** `2 passed, 1 failed, 1 skipped`. */
export function summary(results: readonly CheckResult[]): string {
  const count = (status: Status) => results.filter((r) => r.status === status).length;
  const parts = [`${count('PASS')} passed`, `${count('FAIL')} failed`];
  if (count('SKIP') > 0) parts.push(`${count('SKIP')} skipped`);
  return parts.join(', ');
}

/** Exit code: 0 when nothing failed (skipped checks say why in their line), 1 when a check failed. */
export function exitCodeOf(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}
