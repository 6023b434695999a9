// The CloudWatch Logs filter patterns the metric filters use, in one place: the constructs publish metrics with them
// and test/operations-log-patterns.test.ts runs the real service and checks which of its lines each one matches.
// The service's patterns read its own JSON fields (pino's `level` label, `msg`, `component`), never free text.

/** A service line at error or fatal level: a failed step, an unhandled error, a crash, a bad configuration. */
export const SERVICE_ERROR_LINES = '{ $.level = "error" || $.level = "fatal" }';

/**
 * The line the service writes while span export fails (app/src/telemetry/exporter.ts, OutageReportingExporter): when
 * the first batch fails and again at most every 30 s while batches keep failing, at warn level,
 * `span export failing: collector unreachable or not answering; …`. So every minute of an outage has a line from each
 * process in it, and a minute without one has no process failing.
 */
export const SPAN_EXPORT_FAILING = '{ $.component = "opentelemetry" && $.msg = "span export failing*" }';

/**
 * The collector's own lines at error level or worse. The collector logs with zap; lib/config/collector.yaml sets
 * `service.telemetry.logs.encoding: json`, so each line is a JSON object whose `level` is zap's lowercase level
 * (opentelemetry-collector v0.156.0: service/telemetry/otelconftelemetry/logger.go, production encoder config).
 */
export const COLLECTOR_ERRORS = '{ $.level = "error" || $.level = "dpanic" || $.level = "panic" || $.level = "fatal" }';

/**
 * Fluent Bit's own error lines. Fluent Bit writes plain text, `[YYYY/MM/DD HH:MM:SS] [error] [output:…] …`, with the
 * level right-aligned in five characters (fluent/fluent-bit: src/flb_log.c), so `[error]` appears only on errors
 * (`[ warn]`, `[ info]` otherwise).
 */
export const LOG_ROUTER_ERRORS = '"[error]"';
