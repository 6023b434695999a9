// What the kernel knows about a server process: CPU time (all threads, user + system) and peak RSS.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU time consumed by the process so far, in microseconds. */
export function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

function statusMB(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? (Number(match[1]) * 1024) / 1e6 : NaN;
}

/** Peak resident set size (VmHWM) in MB. */
export const peakRssMB = (pid) => statusMB(pid, 'VmHWM');

/** Resident set size now (VmRSS) in MB. */
export const currentRssMB = (pid) => statusMB(pid, 'VmRSS');

/**
 * Busy time of each CPU so far, in µs: user, nice, system and the time the hypervisor stole. Interrupt time is
 * left out: loopback networking lands there whichever process caused it.
 */
export function cpuBusyMicros() {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const busy = [];
  for (const line of lines) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (!match) continue;
    const [user, nice, system, , , , , steal] = match[2].split(' ').map(Number);
    busy[Number(match[1])] = ((user + nice + system + steal) * 1e6) / CLOCK_TICKS;
  }
  return busy;
}
