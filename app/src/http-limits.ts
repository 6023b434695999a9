// Limits on slow clients and on connections for the service's listeners, and the lines that say when they bite:
// connections refused at the cap, and the process running out of file descriptors. Both are logged at most once a
// minute with a count, so a flood cannot turn them into a flood of log lines.
//
// Why the file descriptor watch probes: when accept() fails with EMFILE or ENFILE, libuv (src/unix/stream.c,
// uv__server_io) closes a descriptor it keeps in reserve, accepts the waiting connections and closes them at once
// (uv__emfile_trick), and tells Node nothing; only when that reserve is gone too does Node's net.js (onconnection)
// emit 'error' with syscall 'accept'. Clients see their connections reset and the process says nothing. So the service
// also opens and closes one descriptor a second, and a failure with EMFILE/ENFILE is the sign.
import { closeSync, openSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import type { Logger } from 'pino';
import type { HttpLimits } from './config';

/** At most one line per this interval for each report. */
export const REPORT_INTERVAL_MS = 60_000;
/** How often the file descriptor probe runs. */
export const FD_PROBE_INTERVAL_MS = 1000;

/** Options for http.createServer: the timeouts, checked often enough to be kept to within a second. */
export function serverOptions(limits: HttpLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks both timeouts on this interval (30 s by default, so a 10 s limit could take 40 s to bite).
    connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/**
 * Counts events and logs them: the first at once, later ones at most once per interval, as one line with the
 * counts since the previous line. A quiet interval writes nothing.
 */
export class RateLimitedReport<K extends string> {
  private counts = new Map<K, number>();
  private lastLineAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (counts: Record<K, number>) => void,
    private readonly keys: readonly K[],
    private readonly intervalMs = REPORT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  record(key: K): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const sinceLine = this.now() - this.lastLineAt;
    if (sinceLine >= this.intervalMs) {
      this.flush();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.intervalMs - sinceLine);
      this.timer.unref();
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    if (this.counts.size === 0) return;
    const counts = Object.fromEntries(this.keys.map((key) => [key, this.counts.get(key) ?? 0])) as Record<K, number>;
    this.counts.clear();
    this.lastLineAt = this.now();
    this.write(counts);
  }
}

/** The soft limit on open file descriptors (Linux), or undefined where /proc/self/limits cannot be read. */
export function fileDescriptorLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync(limitsFile, 'utf8'));
    return match && match[1] !== 'unlimited' ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

export interface EdgeWatch {
  readonly fdLimit: number | undefined;
  stop(): void;
}

/**
 * Watches the listeners after they listen: connections closed at the public listener's cap ('drop'), accept errors
 * ('error' after listening, which would otherwise crash the process as an unhandled 'error' event), and the file
 * descriptor probe. Returns what it found out about the limit, and a stop for shutdown.
 */
export function watchListeners(
  publicServer: http.Server,
  otherServers: readonly http.Server[],
  logger: Logger,
  options: { probeIntervalMs?: number; reportIntervalMs?: number } = {},
): EdgeWatch {
  const fdLimit = fileDescriptorLimit();
  const reportIntervalMs = options.reportIntervalMs ?? REPORT_INTERVAL_MS;
  const intervalSeconds = reportIntervalMs / 1000;

  const drops = new RateLimitedReport(
    ({ connections_refused }) =>
      logger.warn(
        { connections_refused, max_connections: publicServer.maxConnections, interval_s: intervalSeconds },
        'connection cap reached: new connections closed',
      ),
    ['connections_refused'] as const,
    reportIntervalMs,
  );
  publicServer.on('drop', () => drops.record('connections_refused'));

  const exhaustion = new RateLimitedReport(
    (counts) =>
      logger.error(
        { ...counts, fd_limit: fdLimit, interval_s: intervalSeconds },
        'out of file descriptors: new connections are reset',
      ),
    ['accept_errors', 'failed_probes'] as const,
    reportIntervalMs,
  );
  for (const server of [publicServer, ...otherServers]) {
    server.on('error', (error: Error) => {
      if (isOutOfDescriptors(error)) {
        exhaustion.record('accept_errors');
      } else {
        logger.error({ err: error }, 'listener error');
      }
    });
  }
  const probe = setInterval(() => {
    try {
      closeSync(openSync('/dev/null', 'r'));
    } catch (error) {
      if (isOutOfDescriptors(error)) exhaustion.record('failed_probes');
    }
  }, options.probeIntervalMs ?? FD_PROBE_INTERVAL_MS);
  probe.unref();

  return {
    fdLimit,
    stop: () => {
      clearInterval(probe);
      drops.stop();
      exhaustion.stop();
    },
  };
}
