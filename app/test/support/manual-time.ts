// Time the test moves: the X-Ray sampler's clocks and timers (SamplingTime), so that an hour of polling takes no
// time and nothing depends on how fast the machine is. Both clocks move together with `advance`; `stepWallClock`
// moves the wall clock alone, as NTP or a resumed VM does.
import type { SamplingTime } from '../../src/telemetry/xray-sampling';

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly callback: () => void;
  cancelled: boolean;
}

export class ManualTime implements SamplingTime {
  private monotonic = 1_000;
  private wall: number;
  private timers: Timer[] = [];
  private order = 0;

  constructor(epochMs = Date.now()) {
    this.wall = epochMs;
  }

  monotonicMs(): number {
    return this.monotonic;
  }

  epochMs(): number {
    return this.wall;
  }

  after(delayMs: number, callback: () => void): () => void {
    const timer: Timer = { at: this.monotonic + Math.max(0, delayMs), order: this.order++, callback, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Moves both clocks forward, running each timer due on the way at its own time, in order. */
  advance(ms: number): void {
    const end = this.monotonic + ms;
    while (this.fireNext(end));
    this.wall += end - this.monotonic;
    this.monotonic = end;
  }

  /**
   * Moves both clocks to the next timer due by `end` (monotonic ms) and runs it; false if there is none. Lets a test
   * wait for what the timer started (real I/O) before time moves on.
   */
  fireNext(end: number): boolean {
    const timer = this.nextDue(end);
    if (timer === undefined) return false;
    this.timers = this.timers.filter((t) => t !== timer);
    this.wall += timer.at - this.monotonic;
    this.monotonic = timer.at;
    timer.callback();
    return true;
  }

  /** Steps the wall clock alone; monotonic time does not move. */
  stepWallClock(ms: number): void {
    this.wall += ms;
  }

  private nextDue(end: number): Timer | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled);
    let next: Timer | undefined;
    for (const timer of this.timers) {
      if (
        timer.at <= end &&
        (next === undefined || timer.at < next.at || (timer.at === next.at && timer.order < next.order))
      )
        next = timer;
    }
    return next;
  }
}
