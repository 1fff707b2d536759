import { TimeoutError } from '../core/errors'
import { BORROWED, IDLE, VALIDATING, type DestroyReason, type PoolEntry } from './pool-entry'
import type { ResolvedPoolOptions } from './pool-options'

/** What a {@link ResourceUpkeep} needs of its pool. @internal */
export interface UpkeepHost<T> {
  /** Whether the pool still lends. */
  isOpen(): boolean
  /** The idle entries, least recently returned first (lent from the end). */
  idle: PoolEntry<T>[]
  /** Resources alive. */
  size(): number
  /**
   * A resource that passed validation goes to the head waiter, else back idle: at the warm
   * end (lent next), or at the cold end when `cold`.
   */
  revalidated(entry: PoolEntry<T>, now: number, cold: boolean): void
  destroyEntry(entry: PoolEntry<T>, reason: DestroyReason): void
  /** After a resource was lost: replace it for waiters and `min`, or finish draining. */
  afterLoss(): void
  /** A resource failed validation (the `'validationFailed'` event). */
  validationFailed(resource: T, error: unknown): void
}

/**
 * Keeping a pool's resources sound: `validate` on borrow (after `validateAfterIdleMs` of
 * idleness) and every `keepAliveMs` on idle ones, both under `validateTimeoutMs`; reaping
 * resources idle above `min` for `idleTimeoutMs`; retiring each after `maxLifetimeMs` minus
 * jitter, never while borrowed.
 * @internal
 */
export class ResourceUpkeep<T> {
  /** Resources being validated (on borrow or keep-alive). */
  validating = 0
  /** Borrow validations in flight: each will serve the head waiter when it passes. */
  reserved = 0
  /** Validations that failed. */
  validationFailures = 0
  private readonly reapTimer: NodeJS.Timeout | undefined
  private readonly keepAliveTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly o: ResolvedPoolOptions<T>,
    private readonly host: UpkeepHost<T>,
  ) {
    if (o.idleTimeoutMs !== Infinity) {
      this.reapTimer = setInterval(() => this.reap(), Math.min(o.reapIntervalMs, o.idleTimeoutMs))
      this.reapTimer.unref()
    }
    if (o.keepAliveMs !== Infinity) {
      // Checking at a fraction of the period keeps every resource within about 1.25 periods of its last check.
      this.keepAliveTimer = setInterval(() => this.keepAlive(), Math.max(1, o.keepAliveMs / 4))
      this.keepAliveTimer.unref()
    }
  }

  /** Stops reaping and keep-alive: the pool is draining. */
  stop(): void {
    if (this.reapTimer !== undefined) clearInterval(this.reapTimer)
    if (this.keepAliveTimer !== undefined) clearInterval(this.keepAliveTimer)
  }

  /** Whether an idle resource must pass `validate` before it is lent. */
  needsValidation(entry: PoolEntry<T>, now: number): boolean {
    return this.o.validateOnBorrow && now - entry.aliveAt >= this.o.validateAfterIdleMs
  }

  /** Validates an idle resource taken for the head waiter, who gets it if it passes. */
  validateForBorrow(entry: PoolEntry<T>): void {
    this.reserved++
    this.runValidation(entry, (ok) => {
      this.reserved--
      if (!ok || entry.retiring || !this.host.isOpen()) {
        this.discardAfterValidation(entry, ok)
        return
      }
      const now = this.o.now()
      entry.aliveAt = now
      this.host.revalidated(entry, now, false)
    })
  }

  /** Arms the retirement of a new resource after its lifetime, minus jitter. */
  scheduleRetirement(entry: PoolEntry<T>): void {
    if (this.o.maxLifetimeMs === Infinity) return
    const lifetime = this.o.maxLifetimeMs * (1 - this.o.lifetimeJitter * this.o.random())
    entry.retireTimer = setTimeout(() => this.retire(entry), lifetime)
    entry.retireTimer.unref()
  }

  /** Disarms the retirement of a resource being destroyed. */
  cancelRetirement(entry: PoolEntry<T>): void {
    if (entry.retireTimer !== undefined) clearTimeout(entry.retireTimer)
    entry.retireTimer = undefined
  }

  /** Background validation of idle resources unchecked for `keepAliveMs`. */
  private keepAlive(): void {
    if (!this.host.isOpen()) return
    const now = this.o.now()
    const due = this.host.idle.filter((entry) => now - entry.aliveAt >= this.o.keepAliveMs)
    if (due.length === 0) return
    this.host.idle = this.host.idle.filter((entry) => now - entry.aliveAt < this.o.keepAliveMs)
    for (const entry of due) {
      this.runValidation(entry, (ok) => {
        if (!ok || entry.retiring || !this.host.isOpen()) {
          this.discardAfterValidation(entry, ok)
          return
        }
        entry.aliveAt = this.o.now()
        // Back at the cold end: it was idle, and LIFO lending should keep preferring the warm ones.
        this.host.revalidated(entry, entry.aliveAt, true)
      })
    }
  }

  private discardAfterValidation(entry: PoolEntry<T>, ok: boolean): void {
    this.host.destroyEntry(entry, !ok ? 'validation' : entry.retiring ? 'lifetime' : 'closed')
    this.host.afterLoss()
  }

  /** Runs `validate` with a timeout; `done(false)` on false, throw, rejection or timeout. */
  private runValidation(entry: PoolEntry<T>, done: (ok: boolean) => void): void {
    entry.state = VALIDATING
    this.validating++
    let settled = false
    const finish = (ok: boolean, error: unknown): void => {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      this.validating--
      if (!ok) {
        this.validationFailures++
        this.host.validationFailed(entry.resource, error)
      }
      done(ok)
    }
    const timer =
      this.o.validateTimeoutMs === Infinity
        ? undefined
        : setTimeout(
            () =>
              finish(
                false,
                new TimeoutError(
                  `pool ${JSON.stringify(this.o.name)}: validate() did not answer within ${this.o.validateTimeoutMs} ms`,
                ),
              ),
            this.o.validateTimeoutMs,
          )
    let answer: boolean | PromiseLike<boolean>
    try {
      answer = this.o.validate!(entry.resource)
    } catch (error) {
      finish(false, error)
      return
    }
    Promise.resolve(answer).then(
      (ok) => finish(ok === true, undefined),
      (error: unknown) => finish(false, error),
    )
  }

  private retire(entry: PoolEntry<T>): void {
    entry.retireTimer = undefined
    if (entry.state === IDLE) {
      const index = this.host.idle.indexOf(entry)
      if (index >= 0) this.host.idle.splice(index, 1)
      this.host.destroyEntry(entry, 'lifetime')
      this.host.afterLoss()
    } else if (entry.state === BORROWED || entry.state === VALIDATING) {
      entry.retiring = true
    }
  }

  /** Destroys idle resources above `min` idle for longer than `idleTimeoutMs`, oldest first. */
  private reap(): void {
    if (!this.host.isOpen() || this.host.idle.length === 0) return
    let excess = this.host.size() - this.o.min
    if (excess <= 0) return
    const now = this.o.now()
    const kept: PoolEntry<T>[] = []
    for (const entry of this.host.idle) {
      if (excess > 0 && now - entry.idleSince >= this.o.idleTimeoutMs) {
        excess--
        this.host.destroyEntry(entry, 'idle')
      } else kept.push(entry)
    }
    this.host.idle = kept
  }
}
