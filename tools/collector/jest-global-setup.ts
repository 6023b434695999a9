// Builds the collector before any test runs (minutes the first time, a cache hit after), so that the tests that
// run it only start it. Without Go this fails the run with what to install: the tests against the real collector
// are not optional.
import { collectorBinary } from './build';

export default async function globalSetup(): Promise<void> {
  process.env.OTELCOL_TASK_BINARY = await collectorBinary();
}
