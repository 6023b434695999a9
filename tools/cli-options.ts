// What the local tools' command lines share (npm run traces, npm run local): a usage error, and whole-number options.

/** A wrong command line: the tool prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** `raw` as a whole number from `min` to `max`, `fallback` when the option is absent. */
export function wholeOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new UsageError(`--${name} is '${raw}'; it takes a whole number from ${min} to ${max}`);
  }
  return value;
}
