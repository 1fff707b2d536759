import { TimeoutError } from '../core/errors'
import { CircuitBreaker } from '../resilience/circuit-breaker'
import { PoolCircuitOpenError } from './pool-errors'
import type { ResolvedPoolOptions } from './pool-options'

/** What a {@link ResourceCreator} needs of its pool. @internal */
export interface CreationHost<T> {
  /** Whether the pool still lends: creations that settle after drain() only finish it. */
  isOpen(): boolean
  /** Callers waiting in `acquire()`. */
  waiting(): number
  /** Resources alive. */
  size(): number
  /** Whether the pool already holds `resource`. */
  holds(resource: T): boolean
  /** A new resource: lend it, keep it idle, or destroy it when the pool is draining. */
  adopt(resource: T): void
  /** Destroys a resource delivered after its creation timed out. */
  destroyLate(resource: T): void
  /** The breaker opened: fails every waiter with `makeError()`, counted as rejections. */
  rejectWaiters(makeError: () => PoolCircuitOpenError): void
  /** Starts the creations that waiters and `min` need. */
  fill(): void
  /** A creation settled while draining. */
  checkDrained(): void
  /** `create()` failed or timed out (the `'createError'` event). */
  createFailed(error: unknown): void
}

/**
 * Creating a pool's resources: `create()` under `createTimeoutMs`, a circuit breaker fed by
 * the outcomes (while it is open, callers that need a new resource fail fast), and retries
 * every `createRetryIntervalMs` while someone waits or `min` is short, or when the breaker
 * lets a probe through.
 * @internal
 */
export class ResourceCreator<T> {
  /** The creation breaker; undefined when the `breaker` option is false. */
  readonly breaker: CircuitBreaker | undefined
  /** Creations in flight. */
  pending = 0
  /** Resources created. */
  creations = 0
  /** `create()` failures and timeouts. */
  createFailures = 0
  /** The latest creation error, until a creation succeeds. */
  lastError: unknown = undefined
  private retryTimer: NodeJS.Timeout | undefined = undefined

  constructor(
    private readonly o: ResolvedPoolOptions<T>,
    private readonly host: CreationHost<T>,
  ) {
    if (o.breaker !== false) this.breaker = new CircuitBreaker(o.breaker)
  }

  /** Starts one creation; false when the breaker refuses it (then waiters may have been failed). */
  start(): boolean {
    if (this.breaker !== undefined && !this.breaker.tryAcquire()) {
      // Open: fail fast and come back when it lets a probe through. Half-open: a probe is out.
      if (this.breakerOpen()) this.onBreakerOpen()
      return false
    }
    this.pending++
    let settled = false
    const timer =
      this.o.createTimeoutMs === Infinity
        ? undefined
        : setTimeout(() => {
            settled = true
            this.onFailed(
              new TimeoutError(
                `pool ${JSON.stringify(this.o.name)}: create() did not settle within ${this.o.createTimeoutMs} ms`,
              ),
            )
          }, this.o.createTimeoutMs)
    let created: PromiseLike<T>
    try {
      created = Promise.resolve(this.o.create())
    } catch (error) {
      created = Promise.reject(error)
    }
    created.then(
      (resource) => {
        if (settled) {
          this.host.destroyLate(resource)
          return
        }
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        this.onCreated(resource)
      },
      (error: unknown) => {
        if (settled) return
        settled = true
        if (timer !== undefined) clearTimeout(timer)
        this.onFailed(error)
      },
    )
    return true
  }

  /** Whether the breaker is open (creation refused). */
  breakerOpen(): boolean {
    return this.breaker !== undefined && this.breaker.state === 'open'
  }

  /** The error of an acquire refused because the breaker is open. */
  circuitOpenError(): PoolCircuitOpenError {
    return new PoolCircuitOpenError(this.o.name, this.breaker?.retryAfterMs() ?? 0, this.lastError)
  }

  /** Stops the pending retry: the pool is draining. */
  stop(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
  }

  private onCreated(resource: T): void {
    this.pending--
    if (this.host.holds(resource)) {
      this.onFailed(new TypeError('create() returned a resource the pool already holds'), false)
      return
    }
    this.breaker?.recordSuccess()
    this.lastError = undefined
    this.creations++
    this.host.adopt(resource)
  }

  private onFailed(error: unknown, counted = true): void {
    if (counted) this.pending--
    this.createFailures++
    this.lastError = error
    this.breaker?.recordFailure()
    this.host.createFailed(error)
    if (!this.host.isOpen()) {
      this.host.checkDrained()
      return
    }
    if (this.breakerOpen()) this.onBreakerOpen()
    else if (this.host.waiting() > 0 || this.host.size() + this.pending < this.o.min) {
      this.scheduleRetry(this.o.createRetryIntervalMs)
    }
  }

  private onBreakerOpen(): void {
    this.host.rejectWaiters(() => this.circuitOpenError())
    // Nobody may ask again soon; keeping `min` alive needs a probe when the breaker allows one.
    if (this.o.min > 0) this.scheduleRetry(this.breaker!.retryAfterMs() + 1)
  }

  private scheduleRetry(delayMs: number): void {
    if (this.retryTimer !== undefined || !this.host.isOpen()) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.host.fill()
    }, delayMs)
    // Keeping `min` alone should not hold the process open; serving a waiter should.
    if (this.host.waiting() === 0) this.retryTimer.unref()
  }
}
