/** The figures of {@link WorkerScaler}, validated by the queue's options. @internal */
export interface ScalingPolicy {
  minWorkers: number
  maxWorkers: number
  /** Grow when a task waited this long for a worker. */
  scaleUpWaitMs: number
  /** Shrink to the busiest recent level after this long below the current size. */
  idleTimeoutMs: number
}

/**
 * How many workers a queue runs: between `minWorkers` and `maxWorkers`, one more whenever
 * the backlog is at least as deep as the pool or a task waited `scaleUpWaitMs` for a worker,
 * and down to the most that were busy at once over the last `idleTimeoutMs`, so a burst's
 * workers leave once it is over but a steady load keeps what it uses.
 * @internal
 */
export class WorkerScaler {
  /** Workers wanted now. */
  workers: number
  /** Most workers busy at once since the last idle check. */
  private peak = 0

  constructor(private readonly policy: ScalingPolicy) {
    this.workers = policy.minWorkers
  }

  /** Whether a task waiting `depth` deep after `waitedMs` should get a new worker; grows if so. */
  grow(depth: number, waitedMs: number): boolean {
    if (this.workers >= this.policy.maxWorkers) return false
    if (depth < this.workers && waitedMs < this.policy.scaleUpWaitMs) return false
    this.workers++
    return true
  }

  /** Notes `running` busy workers. */
  busy(running: number): void {
    if (running > this.peak) this.peak = running
  }

  /** Called every `idleTimeoutMs`: shrinks to the recent peak; returns whether it shrank. */
  shrink(running: number): boolean {
    const target = Math.max(this.policy.minWorkers, this.peak, running)
    this.peak = running
    if (target >= this.workers) return false
    this.workers = target
    return true
  }

  /** Whether the idle check has anything to do. */
  get aboveMinimum(): boolean {
    return this.workers > this.policy.minWorkers
  }
}
