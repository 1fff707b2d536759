import { EventEmitter } from 'node:events'

import { AbortError, ClosedError, TimeoutError } from '../core/errors'
import type { CircuitState, CircuitStateChange } from '../resilience/circuit-breaker'
import { LatencyStats, type LatencySummary } from './latency-stats'
import { captureTrace, formatTrace, LeakDetector, type LeakReport, type TrackedBorrow } from './leak-detector'
import { BORROWED, EVICTED, GONE, IDLE, PoolEntry, type DestroyReason } from './pool-entry'
import { PoolReleaseError, PoolTimeoutError, type PoolDiagnosis, type PoolHolder } from './pool-errors'
import { openPools } from './pool-metrics'
import { resolvePoolOptions, type ConnectionPoolOptions, type ResolvedPoolOptions } from './pool-options'
import { ResourceCreator } from './resource-creator'
import { ResourceUpkeep } from './resource-upkeep'
import { Waiter, WaiterQueue } from './waiter-queue'

export type { DestroyReason } from './pool-entry'

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

const OPEN = 0
const DRAINING = 1
const CLOSED = 2
const STATE_NAMES: readonly PoolState[] = ['open', 'draining', 'closed']

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
  private readonly leakDetector: LeakDetector | undefined
  /** Time from acquire() to lending; native memory, freed once closed. */
  private readonly latency: LatencyStats
  private readonly creator: ResourceCreator<T>
  private readonly upkeep: ResourceUpkeep<T>
  private state = OPEN
  private active = 0
  private destroying = 0
  private nextId = 0
  private waiterTimer: NodeJS.Timeout | undefined = undefined
  private drained: Promise<void> | undefined = undefined
  private resolveDrained: (() => void) | undefined = undefined
  private closing: Promise<void> | undefined = undefined
  /** The counters of {@link stats} that lending, waiting and destroying keep. */
  private readonly counts = {
    acquires: 0,
    releases: 0,
    timeouts: 0,
    aborts: 0,
    rejections: 0,
    destructions: 0,
    leaks: 0,
  }

  /**
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option (of the
   *   pool or of its `breaker`) is missing, invalid or unknown; the message names it.
   */
  constructor(options: ConnectionPoolOptions<T>) {
    super()
    this.o = resolvePoolOptions(options)
    this.name = this.o.name
    this.now = this.o.now
    this.latency = new LatencyStats()
    this.creator = new ResourceCreator(this.o, {
      isOpen: () => this.state === OPEN,
      waiting: () => this.waiters.size,
      size: () => this.size(),
      holds: (resource) => this.entries.has(resource),
      adopt: (resource) => this.adopt(resource),
      destroyLate: (resource) => this.destroyLate(resource),
      rejectWaiters: (makeError) => {
        this.counts.rejections += this.waiters.size
        this.failWaiters(makeError)
      },
      fill: () => this.fill(),
      checkDrained: () => this.checkDrained(),
      createFailed: (error) => this.emit('createError', error),
    })
    this.creator.breaker?.on('state', (change) => this.emit('breaker', change))
    if (this.o.leakDetectionMs !== Infinity) {
      this.leakDetector = new LeakDetector(this.o.leakDetectionMs, this.now, (borrow, heldMs) =>
        this.reportLeak(borrow, heldMs),
      )
    }
    // The host's `idle` is the pool's own array, which reaping and keep-alive replace.
    const pool = this
    this.upkeep = new ResourceUpkeep(this.o, {
      isOpen: () => this.state === OPEN,
      get idle() {
        return pool.idle
      },
      set idle(idle) {
        pool.idle = idle
      },
      size: () => this.size(),
      revalidated: (entry, now, cold) => this.revalidated(entry, now, cold),
      destroyEntry: (entry, reason) => this.destroyEntry(entry, reason),
      afterLoss: () => this.afterLoss(),
      validationFailed: (resource, error) => this.emit('validationFailed', resource, error),
    })
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
    this.upkeep.stop()
    this.creator.stop()
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
      pending: this.creator.pending,
      validating: this.upkeep.validating,
      min: this.o.min,
      max: this.o.max,
      acquires: this.counts.acquires,
      releases: this.counts.releases,
      timeouts: this.counts.timeouts,
      aborts: this.counts.aborts,
      rejections: this.counts.rejections,
      creations: this.creator.creations,
      createFailures: this.creator.createFailures,
      destructions: this.counts.destructions,
      validationFailures: this.upkeep.validationFailures,
      leaks: this.counts.leaks,
      acquireLatencyMs: this.latency.summary(),
      breaker: this.creator.breaker === undefined ? 'disabled' : this.creator.breaker.state,
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
      if (!this.upkeep.needsValidation(entry, now)) {
        this.lend(entry, now, trace)
        this.latency.record(0)
        this.emit('acquire', entry.resource, 0)
        return Promise.resolve(entry.resource)
      }
      // The queue is empty, so the resource being validated goes to this caller if it passes.
      const promise = this.enqueue(now, signal, trace)
      this.upkeep.validateForBorrow(entry)
      return promise
    }
    // Fail fast only when a new resource would be needed: a full pool waits for a release.
    if (this.idle.length === 0 && this.entries.size < this.o.max && this.creator.breakerOpen()) {
      this.counts.rejections++
      return Promise.reject(this.creator.circuitOpenError())
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
    while (this.waiters.size > this.upkeep.reserved && this.idle.length > 0) {
      const entry = this.idle.pop()!
      if (this.upkeep.needsValidation(entry, now)) this.upkeep.validateForBorrow(entry)
      else this.handOff(entry, this.waiters.shift()!, now)
    }
    this.fill()
  }

  /** A resource that passed validation: to the head waiter, else idle at the warm or the `cold` end. */
  private revalidated(entry: PoolEntry<T>, now: number, cold: boolean): void {
    const waiter = this.waiters.shift()
    if (waiter !== undefined) {
      this.handOff(entry, waiter, now)
      return
    }
    entry.state = IDLE
    if (cold) this.idle.unshift(entry)
    else this.idle.push(entry)
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
        diagnosis.creationFailing ? this.creator.lastError : undefined,
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
    const creationFailing = this.creator.lastError !== undefined && this.size() < this.o.max
    return {
      pool: this.name,
      reason:
        leaked > 0
          ? 'leaked'
          : saturated
            ? 'saturated'
            : creationFailing
              ? 'creation-failing'
              : this.creator.pending > 0
                ? 'slow-creation'
                : 'busy',
      saturated,
      leaked,
      creationFailing,
      holders,
      active: this.active,
      idle: this.idle.length,
      waiting: this.waiters.size,
      pending: this.creator.pending,
      max: this.o.max,
    }
  }

  // ---------------------------------------------------------------------------------------
  // Sizing and taking in new resources (creating them is ResourceCreator's)

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
    const pending = this.creator.pending
    const alive = this.entries.size + pending
    const want = Math.min(
      Math.max(this.o.min - alive, this.waiters.size - this.upkeep.reserved - pending),
      this.o.max - alive,
      this.o.maxConcurrentCreates - pending,
    )
    for (let i = 0; i < want; i++) if (!this.creator.start()) return
  }

  /** Takes in a resource just created: lent to the head waiter, else idle; destroyed once draining. */
  private adopt(resource: T): void {
    const now = this.now()
    const entry = new PoolEntry(++this.nextId, resource, now)
    this.entries.set(resource, entry)
    this.upkeep.scheduleRetirement(entry)
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

  // ---------------------------------------------------------------------------------------
  // Destroying

  /** After a resource was lost: replace it for waiters and `min`, or finish draining. */
  private afterLoss(): void {
    if (this.state === OPEN) this.dispatch(this.now())
    else this.checkDrained()
  }

  private destroyEntry(entry: PoolEntry<T>, reason: DestroyReason): void {
    if (entry.state === GONE) return
    entry.state = GONE
    this.entries.delete(entry.resource)
    this.upkeep.cancelRetirement(entry)
    this.counts.destructions++
    this.emit('destroy', entry.resource, reason)
    this.destroyResource(entry.resource)
  }

  /** A resource delivered by a `create()` that had timed out: never lent, destroyed at once. */
  private destroyLate(resource: T): void {
    this.counts.destructions++
    this.emit('destroy', resource, 'late')
    this.destroyResource(resource)
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
      this.upkeep.cancelRetirement(entry)
      this.counts.destructions++
      this.emit('destroy', entry.resource, 'closed')
      this.destroyResource(entry.resource)
    }
    this.checkDrained()
  }

  private checkDrained(): void {
    if (this.state === OPEN || this.resolveDrained === undefined) return
    if (this.active > 0 || this.creator.pending > 0 || this.upkeep.validating > 0 || this.destroying > 0) return
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
