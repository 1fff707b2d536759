import { availableParallelism } from 'node:os'

import { AbortError, InvalidArgumentError } from '../core/errors'

/**
 * Caps the codec jobs on the libuv pool at once. Past the number of cores, more jobs only
 * hold more buffers and preempt the event loop (8 jobs on 2 cores raised its p99 delay
 * from 1.9 ms to 7 ms in benchmark/results/zstd.json); waiters queue in FIFO order.
 * Hand-written because the usual npm limiters are ESM-only or lack AbortSignal support.
 * @internal
 */
export class ConcurrencyLimit {
  private active = 0
  private readonly waiters: Array<() => void> = []

  constructor(private max = availableParallelism()) {}

  /** The current cap. */
  get limit(): number {
    return this.max
  }

  set limit(value: number) {
    if (!Number.isInteger(value) || value < 1) {
      throw new InvalidArgumentError(`maxConcurrency must be a positive integer, got ${String(value)}`)
    }
    this.max = value
    while (this.active < this.max && this.waiters.length > 0) {
      this.active++
      this.waiters.shift()?.()
    }
  }

  /** Jobs running and waiting, for metrics. */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiters.length }
  }

  /** Runs `job` once a slot is free; an abort while waiting rejects without running it. */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    // A finishing job hands its slot straight to the first waiter, so a caller arriving in
    // between cannot take it too and push the count past the cap.
    if (this.active >= this.max) await this.wait(signal)
    else this.active++
    try {
      return await job()
    } finally {
      const next = this.waiters.shift()
      if (next) next()
      else this.active--
    }
  }

  private wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const index = this.waiters.indexOf(wake)
        if (index >= 0) this.waiters.splice(index, 1)
        reject(new AbortError('the operation was aborted while queued', { cause: signal?.reason }))
      }
      this.waiters.push(wake)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
