import { EventEmitter } from 'node:events'

import { AbortError, ClosedError, TimeoutError } from '../core/errors'
import { openPools } from './pool-metrics'
import { CircuitBreaker, type CircuitState, type CircuitStateChange } from '../resilience/circuit-breaker'
import { LatencyStats, type LatencySummary } from './latency-stats'
import { captureTrace, formatTrace, LeakDetector, type LeakReport, type TrackedBorrow } from './leak-detector'
import {
  PoolCircuitOpenError,
  PoolReleaseError,
  PoolTimeoutError,
  type PoolDiagnosis,
  type PoolHolder,
} from './pool-errors'
import { resolvePoolOptions, type ConnectionPoolOptions, type ResolvedPoolOptions } from './pool-options'
import { Waiter, WaiterQueue } from './waiter-queue'

/** Why a resource was destroyed, as given to the `'destroy'` event. */
export type DestroyReason =
  /** Idle above `min` for longer than `idleTimeoutMs`. */
  | 'idle'
  /** Older than its `maxLifetimeMs`. */
  | 'lifetime'
  /** Failed validation (on borrow or keep-alive). */
  | 'validation'
  /** `use(fn)` threw and `destroyOnError` said so. */
  | 'error'
  /** `pool.destroy(r)` was called. */
  | 'destroyed'
  /** The pool was drained or closed. */
  | 'closed'
  /** A `create()` that had timed out delivered its resource late. */
  | 'late'

/** Life cycle of a pool: lending, draining (no more lending), closed (every resource destroyed). */
export type PoolState = 'open' | 'draining' | 'closed'

/** Payload of the `'unleak'` event: a resource reported as leaked came back. */
export interface UnleakReport {
  pool: string
  resourceId: number
  /** How long it was held in all. */
  heldMs: number
}

/** Events of {@link ConnectionPool}. Listeners run synchronously; keep them short. */
export type ConnectionPoolEvents<T> = {
  /** A resource was lent; `waitedMs` is 0 when an idle one was at hand. */
  acquire: [resource: T, waitedMs: number]
  /** A borrowed resource came back through `release()` (or `use()`). */
  release: [resource: T]
  /** A resource was created. */
  create: [resource: T]
  /** `create()` failed or timed out. */
  createError: [error: unknown]
  /** A resource is being destroyed. */
  destroy: [resource: T, reason: DestroyReason]
  /** `destroy()` failed or timed out; the resource is forgotten anyway. */
  destroyError: [error: unknown, resource: T]
  /** A resource failed validation (`error` is what `validate` threw, or undefined when it said false). */
  validationFailed: [resource: T, error: unknown]
  /** An acquire timed out; the error says why. */
  timeout: [error: PoolTimeoutError]
  /** A resource has been held past `leakDetectionMs` (reported once per borrow). */
  leak: [report: LeakReport]
  /** A resource reported as leaked was returned after all. */
  unleak: [report: UnleakReport]
  /** The creation circuit breaker changed state. */
  breaker: [change: CircuitStateChange]
}

/** A snapshot of a pool, from {@link ConnectionPool.stats}. */
export interface PoolStats {
  /** The pool's name. */
  name: string
  /** Lending, draining or closed. */
  state: PoolState
  /** Resources alive: borrowed, idle or being validated. */
  size: number
  /** Borrowed. */
  active: number
  /** Idle, ready to lend. */
  idle: number
  /** Callers waiting in `acquire()`. */
  waiting: number
  /** Creations in flight. */
  pending: number
  /** Resources being validated (on borrow or keep-alive). */
  validating: number
  /** The configured `min`. */
  min: number
  /** The configured `max`. */
  max: number
  /** Resources lent, since the start. */
  acquires: number
  /** Resources returned. */
  releases: number
  /** Acquires that timed out. */
  timeouts: number
  /** Acquires cancelled through their signal. */
  aborts: number
  /** Acquires failed at once because the creation breaker was open. */
  rejections: number
  /** Resources created. */
  creations: number
  /** `create()` failures and timeouts. */
  createFailures: number
  /** Resources destroyed, for any reason. */
  destructions: number
  /** Validations that failed. */
  validationFailures: number
  /** Leaks reported. */
  leaks: number
  /** Time from `acquire()` to lending, in ms: p50 0 means most acquires found an idle resource. */
  acquireLatencyMs: LatencySummary
  /** State of the creation breaker, or `'disabled'`. */
  breaker: CircuitState | 'disabled'
}

// Entry states. Numbers, not strings: compared on every acquire and release.
const IDLE = 0
const BORROWED = 1
const VALIDATING = 2
/** Destroyed and forgotten. */
const GONE = 3
/** Destroyed by close() while borrowed: still in the map so that its late release() is ignored. */
const EVICTED = 4

const OPEN = 0
const DRAINING = 1
const CLOSED = 2
const STATE_NAMES: readonly PoolState[] = ['open', 'draining', 'closed']

/** The pool's record of one resource. Fields of the hot path first, one shape for all. */
class PoolEntry<T> implements TrackedBorrow {
  state = IDLE
  borrowedAt = 0
  /** When it last came back (or was created): idle time counts from here. */
  idleSince: number
  /** When it was last known to work: returned, created or validated. */
  aliveAt: number
  trace: object | undefined = undefined
  leakReported = false
  /** Past its lifetime while borrowed or validating: destroyed as soon as it is back. */
  retiring = false
  retireTimer: NodeJS.Timeout | undefined = undefined

  constructor(
    readonly id: number,
    readonly resource: T,
    now: number,
  ) {
    this.idleSince = now
    this.aliveAt = now
  }
}

/**
 * A pool of reusable resources of any kind: sockets, database or Redis clients, workers.
 *
 * - **Lending**: `acquire()` lends an idle resource at once (most recently returned first, so
 *   surplus ones stay idle long enough to be reaped), else queues the caller in strict FIFO
 *   order and creates resources in the background (at most `maxConcurrentCreates` at a time,
 *   never more than `max` alive). `use(fn)` acquires, runs `fn` and always gives back.
 * - **Retiring**: idle resources above `min` go after `idleTimeoutMs`; every resource is
 *   retired after `maxLifetimeMs` minus jitter, never while borrowed; `validate` is run on
 *   borrow (only after `validateAfterIdleMs` of idleness) and every `keepAliveMs` on idle ones.
 * - **Failures**: creation failures feed a circuit breaker; while it is open, acquires that
 *   need a new resource fail at once with `PoolCircuitOpenError`. An acquire timeout is a
 *   `PoolTimeoutError` that says whether the pool is saturated, leaking or failing to create,
 *   and names the holders (with the stacks that acquired them when `leakDetectionMs` is set).
 *
 * Semantics follow HikariCP where a choice had to be made (lifetime, bypass window for
 * validation, leak threshold, keep-alive); the API is generic-pool's and tarn's shape.
 * Lending an idle resource and taking it back allocate nothing but the returned promise.
 *
 * @example
 * ```ts
 * const pool = new ConnectionPool({
 *   ...tcpResourceFactory({ host: 'db.internal', port: 5432 }),
 *   min: 2,
 *   max: 32,
 *   leakDetectionMs: 10_000,
 * })
 * pool.on('leak', (report) => log.warn(report))
 * const reply = await pool.use(async (socket) => roundTrip(socket, request))
 * await pool.close()
 * ```
 */
/** Every pool not yet closed, for the metrics collector. */

export class ConnectionPool<T> extends EventEmitter<ConnectionPoolEvents<T>> {
  /** The pool's name, from the options or made up. */
  readonly name: string
  /** The validated options. */
  private readonly o: ResolvedPoolOptions<T>
  private readonly now: () => number
  private readonly entries = new Map<T, PoolEntry<T>>()
  /** Idle entries, least recently returned first; lent from the end. */
  private idle: PoolEntry<T>[] = []
  private readonly waiters = new WaiterQueue<T>()
  private readonly breaker: CircuitBreaker | undefined
  private readonly leakDetector: LeakDetector | undefined
  /** Time from acquire() to lending; native memory, freed once closed. */
  private readonly latency: LatencyStats
  private state = OPEN
  private active = 0
  private pending = 0
  private validating = 0
  /** Borrow validations in flight: each will serve the head waiter when it passes. */
  private reserved = 0
  private destroying = 0
  private nextId = 0
  private lastCreateError: unknown = undefined
  private waiterTimer: NodeJS.Timeout | undefined = undefined
  private retryTimer: NodeJS.Timeout | undefined = undefined
  private readonly reapTimer: NodeJS.Timeout | undefined
  private readonly keepAliveTimer: NodeJS.Timeout | undefined
  private drained: Promise<void> | undefined = undefined
  private resolveDrained: (() => void) | undefined = undefined
  private closing: Promise<void> | undefined = undefined
  private readonly counts = {
    acquires: 0,
    releases: 0,
    timeouts: 0,
    aborts: 0,
    rejections: 0,
    creations: 0,
    createFailures: 0,
    destructions: 0,
    validationFailures: 0,
    leaks: 0,
  }

  /** @throws {InvalidArgumentError} when an option is invalid; the message names it. */
  constructor(options: ConnectionPoolOptions<T>) {
    super()
    this.o = resolvePoolOptions(options)
    this.name = this.o.name
    this.now = this.o.now
    this.latency = new LatencyStats()
    if (this.o.breaker !== false) {
      this.breaker = new CircuitBreaker(this.o.breaker)
      this.breaker.on('state', (change) => this.emit('breaker', change))
    }
    if (this.o.leakDetectionMs !== Infinity) {
      this.leakDetector = new LeakDetector(this.o.leakDetectionMs, this.now, (borrow, heldMs) =>
        this.reportLeak(borrow, heldMs),
      )
    }
    if (this.o.idleTimeoutMs !== Infinity) {
      this.reapTimer = setInterval(() => this.reap(), Math.min(this.o.reapIntervalMs, this.o.idleTimeoutMs))
      this.reapTimer.unref()
    }
    if (this.o.keepAliveMs !== Infinity) {
      // Checking at a fraction of the period keeps every resource within about 1.25 periods of its last check.
      this.keepAliveTimer = setInterval(() => this.keepAlive(), Math.max(1, this.o.keepAliveMs / 4))
      this.keepAliveTimer.unref()
    }
    // Creating `min` starts on the next microtask so that no event is emitted from the constructor.
    if (this.o.min > 0) queueMicrotask(() => this.fill())
    // Last: a constructor that throws leaves nothing for the metrics to read.
    openPools.add(this)
  }

  /**
   * Borrows a resource: an idle one at once, else the next one returned or created, in FIFO
   * order. Give it back with {@link release} (or use {@link use}).
   *
   * @param signal cancels the wait: the promise rejects with `AbortError` and the caller's
   *   place in line is freed.
   * @throws {PoolTimeoutError} after `acquireTimeoutMs`, saying why (saturated, leaked, creation failing).
   * @throws {PoolCircuitOpenError} at once while creation keeps failing and no resource is idle.
   * @throws {ClosedError} once the pool is draining or closed.
   * @throws {AbortError} when `signal` aborts first.
   */
  acquire(signal?: AbortSignal): Promise<T> {
    return this.acquireWith(signal, this.leakDetector === undefined ? undefined : captureTrace(this.acquire))
  }

  /**
   * Gives back a borrowed resource. If a caller is waiting it gets it at once; otherwise it
   * goes idle (or is destroyed when past its lifetime or the pool is draining).
   *
   * @throws {PoolReleaseError} `fault: 'double-release'` when it is not borrowed (returned
   *   twice), `fault: 'foreign'` when this pool never lent it (or destroyed it since); the
   *   pool is left unchanged.
   */
  release(resource: T): void {
    const entry = this.borrowed(resource, 'release')
    if (entry === undefined) return
    this.active--
    this.counts.releases++
    if (this.leakDetector !== undefined) this.endBorrow(entry)
    this.emit('release', resource)
    if (entry.retiring || this.state !== OPEN) {
      this.destroyEntry(entry, entry.retiring ? 'lifetime' : 'closed')
      this.afterLoss()
      return
    }
    const now = this.now()
    entry.idleSince = now
    entry.aliveAt = now
    const waiter = this.waiters.shift()
    if (waiter !== undefined) {
      this.handOff(entry, waiter, now)
      return
    }
    entry.state = IDLE
    this.idle.push(entry)
  }

  /**
   * Destroys a borrowed resource instead of returning it (it is broken, say); the pool
   * replaces it as needed.
   * @throws {PoolReleaseError} as {@link release} does.
   */
  destroy(resource: T): void {
    this.discard(resource, 'destroyed')
  }

  /**
   * Acquires a resource, runs `fn` with it and gives it back however `fn` ends: returned when
   * it resolves; destroyed when it throws and `destroyOnError` says so, else returned.
   * Resolves or rejects as `fn` does.
   *
   * @param signal cancels the wait for a resource (not `fn` itself: pass it to `fn` for that).
   */
  async use<R>(fn: (resource: T) => R | PromiseLike<R>, signal?: AbortSignal): Promise<R> {
    const resource = await this.acquireWith(
      signal,
      this.leakDetector === undefined ? undefined : captureTrace(this.use),
    )
    let result: R
    try {
      result = await fn(resource)
    } catch (error) {
      try {
        if (this.o.destroyOnError(error)) this.discard(resource, 'error')
        else this.release(resource)
      } catch {
        // fn gave the resource back itself; its own error is the one to report.
      }
      throw error
    }
    this.release(resource)
    return result
  }

  /**
   * Stops lending and waits for every borrowed resource to come back, then destroys them all.
   * Waiting callers and later `acquire()` calls reject with `ClosedError`; idle resources are
   * destroyed at once. Resolves when nothing is borrowed, created or being destroyed. Calling
   * it again returns the same promise. Use {@link close} to bound the wait.
   */
  drain(): Promise<void> {
    if (this.drained !== undefined) return this.drained
    this.state = DRAINING
    this.drained = new Promise((resolve) => {
      this.resolveDrained = resolve
    })
    if (this.reapTimer !== undefined) clearInterval(this.reapTimer)
    if (this.keepAliveTimer !== undefined) clearInterval(this.keepAliveTimer)
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    this.failWaiters(() => new ClosedError(`pool ${JSON.stringify(this.name)} is draining`))
    const idle = this.idle
    this.idle = []
    for (const entry of idle) this.destroyEntry(entry, 'closed')
    this.checkDrained()
    return this.drained
  }

  /**
   * Drains the pool (see {@link drain}), waiting up to `closeTimeoutMs` for borrowed
   * resources; those still out then are destroyed (their later `release()` is ignored).
   * Resolves once every resource is destroyed. Idempotent.
   */
  close(): Promise<void> {
    openPools.delete(this)
    this.closing ??= (async () => {
      const drained = this.drain()
      if (this.active > 0 && this.o.closeTimeoutMs !== Infinity) {
        let timer: NodeJS.Timeout | undefined
        const timedOut = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), this.o.closeTimeoutMs)
        })
        const late = await Promise.race([drained.then(() => false), timedOut])
        clearTimeout(timer)
        if (late) this.evictBorrowed()
      }
      await drained
    })()
    return this.closing
  }

  /** Counters and gauges of the pool. Cheap enough to call per scrape, not per request. */
  stats(): PoolStats {
    return {
      name: this.name,
      state: STATE_NAMES[this.state]!,
      size: this.size(),
      active: this.active,
      idle: this.idle.length,
      waiting: this.waiters.size,
      pending: this.pending,
      validating: this.validating,
      min: this.o.min,
      max: this.o.max,
      ...this.counts,
      acquireLatencyMs: this.latency.summary(),
      breaker: this.breaker === undefined ? 'disabled' : this.breaker.state,
    }
  }

  /** Every borrowed resource, longest-held first, with the acquiring stacks when leak detection is on. */
  holders(): PoolHolder[] {
    const now = this.now()
    const holders: PoolHolder[] = []
    for (const entry of this.entries.values()) {
      if (entry.state !== BORROWED) continue
      const heldMs = now - entry.borrowedAt
      holders.push({
        id: entry.id,
        heldMs,
        leaked: heldMs >= this.o.leakDetectionMs,
        stack: formatTrace(entry.trace),
      })
    }
    return holders.sort((a, b) => b.heldMs - a.heldMs)
  }

  // ---------------------------------------------------------------------------------------
  // Lending

  private discard(resource: T, reason: DestroyReason): void {
    const entry = this.borrowed(resource, 'destroy')
    if (entry === undefined) return
    this.active--
    this.counts.releases++
    if (this.leakDetector !== undefined) this.endBorrow(entry)
    this.destroyEntry(entry, reason)
    this.afterLoss()
  }

  private acquireWith(signal: AbortSignal | undefined, trace: object | undefined): Promise<T> {
    if (this.state !== OPEN) {
      return Promise.reject(new ClosedError(`pool ${JSON.stringify(this.name)} is ${STATE_NAMES[this.state]}`))
    }
    if (signal !== undefined && signal.aborted) return Promise.reject(abortError(this.name, signal))
    const now = this.now()
    // Fairness: while anyone waits, newcomers queue behind them even if a resource is idle.
    if (this.waiters.size === 0 && this.idle.length > 0) {
      const entry = this.idle.pop()!
      if (!this.needsValidation(entry, now)) {
        this.lend(entry, now, trace)
        this.latency.record(0)
        this.emit('acquire', entry.resource, 0)
        return Promise.resolve(entry.resource)
      }
      // The queue is empty, so the resource being validated goes to this caller if it passes.
      const promise = this.enqueue(now, signal, trace)
      this.validateForBorrow(entry)
      return promise
    }
    // Fail fast only when a new resource would be needed: a full pool waits for a release.
    if (this.idle.length === 0 && this.entries.size < this.o.max && this.breakerOpen()) {
      this.counts.rejections++
      return Promise.reject(this.circuitOpenError())
    }
    const promise = this.enqueue(now, signal, trace)
    this.dispatch(now)
    return promise
  }

  private enqueue(now: number, signal: AbortSignal | undefined, trace: object | undefined): Promise<T> {
    const waiter = new Waiter<T>(now, now + this.o.acquireTimeoutMs, signal, trace, this.onAbort)
    const promise = new Promise<T>((resolve, reject) => {
      waiter.resolve = resolve
      waiter.reject = reject
    })
    this.waiters.push(waiter)
    signal?.addEventListener('abort', waiter)
    this.armWaiterTimer(now)
    return promise
  }

  private lend(entry: PoolEntry<T>, now: number, trace: object | undefined): void {
    entry.state = BORROWED
    entry.borrowedAt = now
    this.active++
    this.counts.acquires++
    if (this.leakDetector !== undefined) {
      entry.trace = trace
      this.leakDetector.track(entry)
    }
  }

  /** Lends `entry` to a waiter already taken off the queue. */
  private handOff(entry: PoolEntry<T>, waiter: Waiter<T>, now: number): void {
    waiter.signal?.removeEventListener('abort', waiter)
    if (this.waiters.size === 0) this.clearWaiterTimer()
    this.lend(entry, now, waiter.trace)
    const waitedMs = now - waiter.enqueuedAt
    // A clock that stepped back reads as no wait, not as a value the histogram refuses.
    this.latency.record(waitedMs > 0 ? waitedMs : 0)
    this.emit('acquire', entry.resource, waitedMs)
    waiter.resolve(entry.resource)
  }

  /** Gives idle resources to waiters, then starts creations for whoever is still unserved. */
  private dispatch(now: number): void {
    while (this.waiters.size > this.reserved && this.idle.length > 0) {
      const entry = this.idle.pop()!
      if (this.needsValidation(entry, now)) this.validateForBorrow(entry)
      else this.handOff(entry, this.waiters.shift()!, now)
    }
    this.fill()
  }

  private needsValidation(entry: PoolEntry<T>, now: number): boolean {
    return this.o.validateOnBorrow && now - entry.aliveAt >= this.o.validateAfterIdleMs
  }

  /** Validates the pool's record of `resource` as borrowed; throws the typed error otherwise. */
  private borrowed(resource: T, verb: string): PoolEntry<T> | undefined {
    const entry = this.entries.get(resource)
    if (entry !== undefined && entry.state === BORROWED) return entry
    if (entry === undefined) {
      throw new PoolReleaseError(this.name, 'foreign', `${verb}() of a resource this pool did not lend (or destroyed)`)
    }
    if (entry.state === EVICTED) {
      // close() destroyed it while it was out; the caller did nothing wrong.
      this.entries.delete(resource)
      return undefined
    }
    throw new PoolReleaseError(
      this.name,
      'double-release',
      `${verb}() of resource #${entry.id}, which is not borrowed: it was already given back`,
    )
  }

  // ---------------------------------------------------------------------------------------
  // Waiting

  private readonly onAbort = (waiter: Waiter<T>): void => {
    if (!waiter.queued) return
    this.waiters.remove(waiter)
    waiter.signal?.removeEventListener('abort', waiter)
    if (this.waiters.size === 0) this.clearWaiterTimer()
    this.counts.aborts++
    waiter.reject(abortError(this.name, waiter.signal))
  }

  /** One timer for the whole queue, due at the head's deadline: FIFO order is deadline order. */
  private armWaiterTimer(now: number): void {
    if (this.waiterTimer !== undefined) return
    const head = this.waiters.peek()
    if (head === undefined || head.deadline === Infinity) return
    this.waiterTimer = setTimeout(this.onWaiterTimer, Math.max(1, Math.ceil(head.deadline - now)))
  }

  private clearWaiterTimer(): void {
    if (this.waiterTimer === undefined) return
    clearTimeout(this.waiterTimer)
    this.waiterTimer = undefined
  }

  private readonly onWaiterTimer = (): void => {
    this.waiterTimer = undefined
    const now = this.now()
    let diagnosis: PoolDiagnosis | undefined
    for (let head = this.waiters.peek(); head !== undefined && head.deadline <= now; head = this.waiters.peek()) {
      this.waiters.remove(head)
      head.signal?.removeEventListener('abort', head)
      diagnosis ??= this.diagnose(now)
      const error = new PoolTimeoutError(
        now - head.enqueuedAt,
        { ...diagnosis, waiting: this.waiters.size },
        diagnosis.creationFailing ? this.lastCreateError : undefined,
      )
      this.counts.timeouts++
      this.emit('timeout', error)
      head.reject(error)
    }
    this.armWaiterTimer(now)
  }

  private failWaiters(makeError: () => Error): void {
    this.clearWaiterTimer()
    for (let waiter = this.waiters.shift(); waiter !== undefined; waiter = this.waiters.shift()) {
      waiter.signal?.removeEventListener('abort', waiter)
      waiter.reject(makeError())
    }
  }

  private diagnose(now: number): PoolDiagnosis {
    const holders = this.holders()
    const leaked = this.leakDetector === undefined ? 0 : this.leakDetector.countLeaked(now)
    const saturated = this.active >= this.o.max
    const creationFailing = this.lastCreateError !== undefined && this.size() < this.o.max
    return {
      pool: this.name,
      reason:
        leaked > 0
          ? 'leaked'
          : saturated
            ? 'saturated'
            : creationFailing
              ? 'creation-failing'
              : this.pending > 0
                ? 'slow-creation'
                : 'busy',
      saturated,
      leaked,
      creationFailing,
      holders,
      active: this.active,
      idle: this.idle.length,
      waiting: this.waiters.size,
      pending: this.pending,
      max: this.o.max,
    }
  }

  // ---------------------------------------------------------------------------------------
  // Creating

  private size(): number {
    return this.entries.size - this.evictedCount()
  }

  private evictedCount(): number {
    // Evicted entries exist only after close() timed out; counting them is not worth a field.
    if (this.state === OPEN) return 0
    let evicted = 0
    for (const entry of this.entries.values()) if (entry.state === EVICTED) evicted++
    return evicted
  }

  /** Starts as many creations as waiters and `min` need, within `max` and `maxConcurrentCreates`. */
  private fill(): void {
    if (this.state !== OPEN) return
    const alive = this.entries.size + this.pending
    const want = Math.min(
      Math.max(this.o.min - alive, this.waiters.size - this.reserved - this.pending),
      this.o.max - alive,
      this.o.maxConcurrentCreates - this.pending,
    )
    for (let i = 0; i < want; i++) if (!this.startCreate()) return
  }

  private startCreate(): boolean {
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
            this.onCreateFailed(
              new TimeoutError(
                `pool ${JSON.stringify(this.name)}: create() did not settle within ${this.o.createTimeoutMs} ms`,
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
          this.destroyLate(resource)
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
        this.onCreateFailed(error)
      },
    )
    return true
  }

  private onCreated(resource: T): void {
    this.pending--
    if (this.entries.has(resource)) {
      this.onCreateFailed(new TypeError('create() returned a resource the pool already holds'), false)
      return
    }
    this.breaker?.recordSuccess()
    this.lastCreateError = undefined
    this.counts.creations++
    const now = this.now()
    const entry = new PoolEntry(++this.nextId, resource, now)
    this.entries.set(resource, entry)
    if (this.o.maxLifetimeMs !== Infinity) {
      const lifetime = this.o.maxLifetimeMs * (1 - this.o.lifetimeJitter * this.o.random())
      entry.retireTimer = setTimeout(() => this.retire(entry), lifetime)
      entry.retireTimer.unref()
    }
    this.emit('create', resource)
    if (this.state !== OPEN) {
      this.destroyEntry(entry, 'closed')
      this.checkDrained()
      return
    }
    const waiter = this.waiters.shift()
    if (waiter !== undefined) this.handOff(entry, waiter, now)
    else this.idle.push(entry)
    this.fill()
  }

  private onCreateFailed(error: unknown, counted = true): void {
    if (counted) this.pending--
    this.counts.createFailures++
    this.lastCreateError = error
    this.breaker?.recordFailure()
    this.emit('createError', error)
    if (this.state !== OPEN) {
      this.checkDrained()
      return
    }
    if (this.breakerOpen()) this.onBreakerOpen()
    else if (this.waiters.size > 0 || this.size() + this.pending < this.o.min) {
      this.scheduleRetry(this.o.createRetryIntervalMs)
    }
  }

  private breakerOpen(): boolean {
    return this.breaker !== undefined && this.breaker.state === 'open'
  }

  private onBreakerOpen(): void {
    this.counts.rejections += this.waiters.size
    this.failWaiters(() => this.circuitOpenError())
    // Nobody may ask again soon; keeping `min` alive needs a probe when the breaker allows one.
    if (this.o.min > 0) this.scheduleRetry(this.breaker!.retryAfterMs() + 1)
  }

  private circuitOpenError(): PoolCircuitOpenError {
    return new PoolCircuitOpenError(this.name, this.breaker?.retryAfterMs() ?? 0, this.lastCreateError)
  }

  private scheduleRetry(delayMs: number): void {
    if (this.retryTimer !== undefined || this.state !== OPEN) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.fill()
    }, delayMs)
    // Keeping `min` alone should not hold the process open; serving a waiter should.
    if (this.waiters.size === 0) this.retryTimer.unref()
  }

  private destroyLate(resource: T): void {
    this.counts.destructions++
    this.emit('destroy', resource, 'late')
    this.destroyResource(resource)
  }

  // ---------------------------------------------------------------------------------------
  // Validating

  private validateForBorrow(entry: PoolEntry<T>): void {
    this.reserved++
    this.runValidation(entry, (ok) => {
      this.reserved--
      if (!ok || entry.retiring || this.state !== OPEN) {
        this.discardAfterValidation(entry, ok)
        return
      }
      const now = this.now()
      entry.aliveAt = now
      const waiter = this.waiters.shift()
      if (waiter !== undefined) this.handOff(entry, waiter, now)
      else {
        entry.state = IDLE
        this.idle.push(entry)
      }
    })
  }

  /** Background validation of idle resources unchecked for `keepAliveMs`. */
  private keepAlive(): void {
    if (this.state !== OPEN) return
    const now = this.now()
    const due = this.idle.filter((entry) => now - entry.aliveAt >= this.o.keepAliveMs)
    if (due.length === 0) return
    this.idle = this.idle.filter((entry) => now - entry.aliveAt < this.o.keepAliveMs)
    for (const entry of due) {
      this.runValidation(entry, (ok) => {
        if (!ok || entry.retiring || this.state !== OPEN) {
          this.discardAfterValidation(entry, ok)
          return
        }
        entry.aliveAt = this.now()
        const waiter = this.waiters.shift()
        if (waiter !== undefined) this.handOff(entry, waiter, entry.aliveAt)
        else {
          entry.state = IDLE
          // Back at the cold end: it was idle, and LIFO lending should keep preferring the warm ones.
          this.idle.unshift(entry)
        }
      })
    }
  }

  private discardAfterValidation(entry: PoolEntry<T>, ok: boolean): void {
    this.destroyEntry(entry, !ok ? 'validation' : entry.retiring ? 'lifetime' : 'closed')
    this.afterLoss()
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
        this.counts.validationFailures++
        this.emit('validationFailed', entry.resource, error)
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
                  `pool ${JSON.stringify(this.name)}: validate() did not answer within ${this.o.validateTimeoutMs} ms`,
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

  // ---------------------------------------------------------------------------------------
  // Retiring and destroying

  private retire(entry: PoolEntry<T>): void {
    entry.retireTimer = undefined
    if (entry.state === IDLE) {
      const index = this.idle.indexOf(entry)
      if (index >= 0) this.idle.splice(index, 1)
      this.destroyEntry(entry, 'lifetime')
      this.afterLoss()
    } else if (entry.state === BORROWED || entry.state === VALIDATING) {
      entry.retiring = true
    }
  }

  /** Destroys idle resources above `min` idle for longer than `idleTimeoutMs`, oldest first. */
  private reap(): void {
    if (this.state !== OPEN || this.idle.length === 0) return
    let excess = this.size() - this.o.min
    if (excess <= 0) return
    const now = this.now()
    const kept: PoolEntry<T>[] = []
    for (const entry of this.idle) {
      if (excess > 0 && now - entry.idleSince >= this.o.idleTimeoutMs) {
        excess--
        this.destroyEntry(entry, 'idle')
      } else kept.push(entry)
    }
    this.idle = kept
  }

  /** After a resource was lost: replace it for waiters and `min`, or finish draining. */
  private afterLoss(): void {
    if (this.state === OPEN) this.dispatch(this.now())
    else this.checkDrained()
  }

  private destroyEntry(entry: PoolEntry<T>, reason: DestroyReason): void {
    if (entry.state === GONE) return
    entry.state = GONE
    this.entries.delete(entry.resource)
    if (entry.retireTimer !== undefined) clearTimeout(entry.retireTimer)
    entry.retireTimer = undefined
    this.counts.destructions++
    this.emit('destroy', entry.resource, reason)
    this.destroyResource(entry.resource)
  }

  /** Calls the user's `destroy` with a timeout, reporting failures as events. */
  private destroyResource(resource: T): void {
    const destroy = this.o.destroy
    if (destroy === undefined) return
    this.destroying++
    let settled = false
    const finish = (error: unknown): void => {
      if (settled) return
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      this.destroying--
      if (error !== undefined) this.emit('destroyError', error, resource)
      this.checkDrained()
    }
    const timer =
      this.o.destroyTimeoutMs === Infinity
        ? undefined
        : setTimeout(
            () =>
              finish(
                new TimeoutError(
                  `pool ${JSON.stringify(this.name)}: destroy() did not settle within ${this.o.destroyTimeoutMs} ms`,
                ),
              ),
            this.o.destroyTimeoutMs,
          )
    try {
      Promise.resolve(destroy(resource)).then(
        () => finish(undefined),
        (error: unknown) => finish(error ?? new Error('destroy() rejected without a reason')),
      )
    } catch (error) {
      finish(error ?? new Error('destroy() threw without a reason'))
    }
  }

  /** close() timed out: destroy what is still borrowed; a later release() of it is ignored. */
  private evictBorrowed(): void {
    for (const entry of this.entries.values()) {
      if (entry.state !== BORROWED) continue
      entry.state = EVICTED
      this.active--
      if (this.leakDetector !== undefined) this.leakDetector.untrack(entry)
      if (entry.retireTimer !== undefined) clearTimeout(entry.retireTimer)
      entry.retireTimer = undefined
      this.counts.destructions++
      this.emit('destroy', entry.resource, 'closed')
      this.destroyResource(entry.resource)
    }
    this.checkDrained()
  }

  private checkDrained(): void {
    if (this.state === OPEN || this.resolveDrained === undefined) return
    if (this.active > 0 || this.pending > 0 || this.validating > 0 || this.destroying > 0) return
    this.state = CLOSED
    this.leakDetector?.stop()
    this.latency.close()
    const resolve = this.resolveDrained
    this.resolveDrained = undefined
    resolve()
  }

  // ---------------------------------------------------------------------------------------
  // Leaks

  private endBorrow(entry: PoolEntry<T>): void {
    this.leakDetector!.untrack(entry)
    if (entry.leakReported) {
      entry.leakReported = false
      this.emit('unleak', { pool: this.name, resourceId: entry.id, heldMs: this.now() - entry.borrowedAt })
    }
    entry.trace = undefined
  }

  private reportLeak(borrow: TrackedBorrow, heldMs: number): void {
    this.counts.leaks++
    const report: LeakReport = {
      pool: this.name,
      resourceId: borrow.id,
      heldMs,
      thresholdMs: this.o.leakDetectionMs,
      stack: formatTrace(borrow.trace) ?? '',
      message:
        `pool ${JSON.stringify(this.name)}: resource #${borrow.id} held for ${Math.round(heldMs)} ms, ` +
        `past leakDetectionMs (${this.o.leakDetectionMs} ms): apparent leak; stack is where it was acquired`,
    }
    this.emit('leak', report)
  }
}

function abortError(pool: string, signal: AbortSignal | undefined): AbortError {
  return new AbortError(`pool ${JSON.stringify(pool)}: acquire() was aborted`, { cause: signal?.reason })
}
