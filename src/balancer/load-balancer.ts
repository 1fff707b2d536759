import { EventEmitter } from 'node:events'

import { ClosedError, InvalidArgumentError, NoBackendError, TimeoutError } from '../core/errors'
import { openBalancers } from './balancer-metrics'
import { CircuitBreaker, type CircuitStateChange } from '../resilience/circuit-breaker'
import { ConsistentHashPicker } from './algorithms/consistent-hash'
import { LeastConnectionsPicker } from './algorithms/least-connections'
import { P2cEwmaPicker } from './algorithms/p2c-ewma'
import type { PickExclusion, Picker, PickerContext } from './algorithms/picker'
import { RoundRobinPicker } from './algorithms/round-robin'
import { WeightedRoundRobinPicker } from './algorithms/weighted-round-robin'
import {
  BackendEntry,
  type BackendState,
  type BackendStats,
  type BalancerBackend,
  type PickRequest,
  type ReleaseOutcome,
} from './backend'
import { CachedClock } from '../core/cached-clock'
import { knownOptions, optionNames, wholeNumber } from '../core/validate'
import { HealthChecker, type CheckResult } from './health-checker'
import {
  checkRingSize,
  describe,
  resolveBackendConfig,
  resolveLoadBalancerOptions,
  type BackendConfig,
  type BalancerAlgorithm,
  type LoadBalancerOptions,
  type ResolvedBackendConfig,
  type ResolvedLoadBalancerOptions,
} from './options'
import { OutlierDetector } from './outlier-detector'
import { RetryBudget, type RetryBudgetStats } from './retry-budget'

/** Payload of the `'state'` event. */
export interface BackendStateChange {
  id: string
  from: BackendState
  to: BackendState
}

/** Payload of the `'panic'` event. */
export interface PanicChange {
  /** Whether the balancer is now in panic mode (picking among every non-draining backend). */
  panic: boolean
  /** Backends available by their own state. */
  available: number
  /** Backends not draining. */
  total: number
}

/** Payload of the `'check'` event: one active health check. */
export interface HealthCheckResult {
  id: string
  ok: boolean
  /** Why it failed: an error message, a timeout or the HTTP status. */
  reason: string | undefined
}

/** Events of {@link LoadBalancer}; all are emitted synchronously inside the call or check that caused them. */
export type LoadBalancerEvents = {
  /**
   * A backend changed {@link BackendState}. Time-driven changes (an ejection or open period ending) are emitted by
   * the first call that looks at the clock afterwards: a pick, `stats()` or a health check.
   */
  state: [change: BackendStateChange]
  /** Panic mode started or ended. */
  panic: [change: PanicChange]
  /** An active health check finished. */
  check: [result: HealthCheckResult]
  /** A backend was added at run time. */
  added: [backend: { id: string }]
  /** A backend was removed. */
  removed: [backend: { id: string }]
}

/** Options of {@link LoadBalancer.retry}. */
export interface BalancerRetryOptions {
  /** Attempts in all, first included, 1 to 100; each retry goes to a backend not tried yet. @default 2 */
  maxAttempts?: number
  /** The budget retries draw from. @default the balancer's {@link LoadBalancer.retryBudget} */
  budget?: RetryBudget
  /** Passed to every pick (the sticky key of `consistent-hash`). @default undefined */
  request?: PickRequest
  /** Whether an error may be retried. @default every error */
  retryOn?: (error: unknown, attempt: number) => boolean
}

/** A snapshot from {@link LoadBalancer.stats}. */
export interface LoadBalancerStats {
  algorithm: BalancerAlgorithm
  /** Whether panic mode is on. */
  panic: boolean
  /** Backends available by their own state. */
  available: number
  /** Backends not draining. */
  total: number
  /** Picks that threw {@link NoBackendError}. */
  noBackend: number
  /** Ejections refused because of maxEjectionPercent. */
  ejectionsRefused: number
  /** The balancer's retry budget. */
  retryBudget: RetryBudgetStats
  backends: BackendStats[]
}

const RETRY_DEFAULT_ATTEMPTS = 2
/** Refresh period of the cached clock releases read when the default clock is used (see CachedClock). */
const COARSE_CLOCK_MS = 10
const RETRY_MAX_ATTEMPTS = 100
const RETRY_OPTION_NAMES = optionNames<BalancerRetryOptions>()(
  {},
  { maxAttempts: true, budget: true, request: true, retryOn: true },
)

let unnamedBalancers = 0

/** Every balancer not yet closed, for the metrics collector. */

/**
 * A client-side load balancer over a set of backends, with health checking, outlier detection, per-backend circuit
 * breakers, slow start, panic mode and retry budgets.
 *
 * {@link LoadBalancer.pick} returns a backend handle and counts the request as outstanding;
 * {@link LoadBalancer.release} gives it back with the outcome, which feeds the outstanding counts, the latency EWMA,
 * outlier detection and the breaker. Picks allocate nothing and read no clock in steady state: every state change
 * (health, ejection, breaker, drain, membership) rebuilds the array of candidates the algorithm picks from, and
 * time-driven changes are applied lazily by the first pick after they are due (a pick reads the clock only while
 * something is ejected, open or ramping up).
 *
 * A backend is a candidate when it is not draining, not unhealthy, not ejected and its breaker is closed (or
 * half-open with a probe slot free). When fewer than `panicThreshold` of the non-draining backends are candidates,
 * panic mode picks among all of them. With no candidate at all, picks throw {@link NoBackendError}.
 *
 * @example
 * ```ts
 * const lb = new LoadBalancer({
 *   algorithm: 'p2c-ewma',
 *   backends: [{ id: 'a', url: 'http://10.0.0.1:8080' }, { id: 'b', url: 'http://10.0.0.2:8080' }],
 *   healthCheck: { path: '/health', intervalMs: 5_000 },
 * })
 * const backend = lb.pick()
 * const started = performance.now()
 * try {
 *   const res = await fetch(new URL('/orders', backend.url))
 *   lb.release(backend, { ok: res.status < 500, latencyMs: performance.now() - started })
 * } catch (err) {
 *   lb.release(backend, { ok: false, latencyMs: performance.now() - started })
 *   throw err
 * }
 * ```
 */
export class LoadBalancer extends EventEmitter<LoadBalancerEvents> {
  /** The `name` option, or `balancer-<n>`: the `balancer` label of its metrics. */
  readonly name: string
  /** The algorithm picks use. */
  readonly algorithm: BalancerAlgorithm
  /** The budget {@link LoadBalancer.retry} draws from by default; callers retrying by hand can share it. */
  readonly retryBudget: RetryBudget
  private readonly options: ResolvedLoadBalancerOptions
  private readonly clock: CachedClock
  private readonly picker: Picker
  private readonly outliers: OutlierDetector | undefined
  private readonly health: HealthChecker | undefined
  /** Every backend, indexed by `slot`. */
  private entries: BackendEntry[] = []
  private readonly byId = new Map<string, BackendEntry>()
  /** Backends available by their own state (not unhealthy, ejected, open or draining). */
  private available = 0
  /** Backends not draining: the panic threshold's denominator. */
  private live = 0
  private panic = false
  /** Earliest time a time-driven change is due (ejection end, breaker retry, probe timeout); Infinity if none. */
  private wakeAt = Infinity
  /** Backends in slow start. */
  private ramping = 0
  /** Whether picks must look at the clock: something is due, ramping, or the balancer is closed. */
  private timed = false
  /** A state changed and the candidates must be rebuilt before the current call returns. */
  private dirty = false
  /** False during construction: no events are emitted from the constructor. */
  private started = false
  private closed = false
  private noBackend = 0

  /**
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option or a
   *   backend is invalid or unknown (a duplicate id, a URL the health check cannot probe, …);
   *   the message names it.
   */
  constructor(options: LoadBalancerOptions = {}) {
    super()
    this.name = options.name ?? `balancer-${++unnamedBalancers}`
    if (typeof this.name !== 'string' || this.name === '') {
      throw new InvalidArgumentError(`invalid name: expected a non-empty string, got ${String(options.name)}`)
    }
    // Breakers read the cached clock: the balancer refreshes it before every call into a breaker.
    this.options = resolveLoadBalancerOptions(options, () => this.clock.t)
    this.algorithm = this.options.algorithm
    this.clock = new CachedClock(this.options.now, options.now === undefined ? COARSE_CLOCK_MS : 0)
    this.picker = createPicker(this.algorithm, {
      random: this.options.random,
      clock: this.clock,
      ewmaDecayMs: this.options.ewmaDecayMs,
      virtualNodes: this.options.virtualNodes,
    })
    this.outliers = this.options.outlierDetection && new OutlierDetector(this.options.outlierDetection, this.clock)
    this.retryBudget = new RetryBudget(this.options.retryBudget)
    const healthOptions = this.options.healthCheck
    if (healthOptions !== undefined) {
      this.options.backends.forEach((b, i) => HealthChecker.validate(healthOptions, b.url, `backends[${i}]`))
      this.health = new HealthChecker(healthOptions, (result) => this.onCheck(result))
    }
    for (const config of this.options.backends) this.insert(config)
    this.rebuild(true)
    this.started = true
    // Last: a constructor that throws leaves nothing for the metrics to read.
    openBalancers.add(this)
  }

  /**
   * Picks a backend and counts it outstanding until {@link LoadBalancer.release}. `request` carries the sticky key of
   * `consistent-hash` (`sessionId`, else `clientIp`); other algorithms ignore it.
   * @throws {NoBackendError} when no backend can take the request (none configured, all draining, or none
   *   available with panic mode disabled)
   * @throws {ClosedError} after {@link LoadBalancer.close}
   */
  pick(request?: PickRequest): BalancerBackend {
    if (this.timed) this.tick()
    const entry = this.picker.pick(request)
    if (entry === undefined || entry.guarded) return this.settle(entry, request, undefined)
    entry.outstanding++
    entry.requests++
    return entry
  }

  /**
   * Picks a backend other than `excluded` (one handle or a list): for retrying on another backend. With
   * `consistent-hash` it is the next available owner along the ring.
   * @throws {NoBackendError} when every candidate is excluded
   * @throws {ClosedError} after {@link LoadBalancer.close}
   */
  pickExcluding(excluded: PickExclusion, request?: PickRequest): BalancerBackend {
    if (excluded === null || typeof excluded !== 'object') {
      throw new InvalidArgumentError(
        `invalid excluded: expected a backend handle or an array of them, got ${describe(excluded)}`,
      )
    }
    if (this.timed) this.tick()
    return this.settle(this.picker.pickExcluding(request, excluded), request, excluded)
  }

  /**
   * Gives back a picked backend. With an `outcome`, its latency feeds the EWMA and its success or failure feeds
   * outlier detection and the breaker; without one (the caller gave up before an answer) only the outstanding count
   * drops. Call it exactly once per pick; releases of a removed backend only update its counters.
   * @throws {InvalidArgumentError} when `backend` is not a handle of this balancer or `outcome` is malformed
   */
  release(backend: BalancerBackend, outcome?: ReleaseOutcome): void {
    // Only entries created by this balancer carry it as owner: one load brands the handle.
    if ((backend as Partial<BackendEntry> | null | undefined)?.owner !== this) {
      throw new InvalidArgumentError(
        `invalid backend: expected a handle returned by pick() of this load balancer, got ${describe(backend)}`,
      )
    }
    if (outcome !== undefined) checkOutcome(outcome)
    const entry = backend as BackendEntry
    if (entry.outstanding > 0) entry.outstanding--
    if (outcome !== undefined) this.record(entry, outcome)
    else if (entry.probes > 0) {
      entry.probes--
      entry.breaker?.release()
      this.dirty = true
    }
    if (entry.outstanding === 0 && entry.drainWaiters.length > 0) settleDrain(entry)
    if (this.dirty) this.rebuild()
  }

  /**
   * Runs `fn` on a picked backend and releases it with the outcome and the latency measured on the balancer's clock.
   * When `fn` throws (or rejects) it is retried on a backend not tried yet, up to `maxAttempts` in all, while the
   * retry budget allows; otherwise the last error is thrown as is. A {@link TimeoutError} counts as a timeout.
   * @throws whatever `fn` threw last; {@link NoBackendError} when the first pick finds no backend
   */
  async retry<T>(
    fn: (backend: BalancerBackend, attempt: number) => Promise<T> | T,
    options: BalancerRetryOptions = {},
  ): Promise<T> {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`invalid fn: expected a function, got ${describe(fn)}`)
    const { maxAttempts, budget, request, retryOn } = checkRetryOptions(options, this.retryBudget)
    budget.deposit()
    const tried: BalancerBackend[] = []
    let backend = this.pick(request)
    for (let attempt = 1; ; attempt++) {
      tried.push(backend)
      const started = this.clock.read()
      try {
        const result = await fn(backend, attempt)
        this.release(backend, { ok: true, latencyMs: this.clock.read() - started })
        return result
      } catch (err) {
        const timedOut = err instanceof TimeoutError
        this.release(backend, { ok: false, latencyMs: this.clock.read() - started, timedOut })
        if (attempt >= maxAttempts || this.closed || !retryOn(err, attempt)) throw err
        let next: BalancerBackend
        try {
          next = this.pickExcluding(tried, request)
        } catch (pickError) {
          if (pickError instanceof NoBackendError) throw err
          throw pickError
        }
        // Picked first so that a retry with nowhere to go does not spend the budget.
        if (!budget.tryWithdraw()) {
          this.release(next)
          throw err
        }
        backend = next
      }
    }
  }

  /**
   * Adds a backend at run time. With `slowStartMs` it ramps up from `slowStartInitialWeight`.
   * @throws {InvalidArgumentError} when the config is invalid or its id is taken
   * @throws {ClosedError} after {@link LoadBalancer.close}
   */
  addBackend(config: BackendConfig): BalancerBackend {
    if (this.closed) throw new ClosedError('the load balancer is closed')
    const resolved = resolveBackendConfig(config, 'backend')
    if (this.byId.has(resolved.id))
      throw new InvalidArgumentError(`invalid backend: id '${resolved.id}' already exists`)
    if (this.options.healthCheck) HealthChecker.validate(this.options.healthCheck, resolved.url, 'backend')
    if (this.algorithm === 'consistent-hash') checkRingSize([...this.entries, resolved], this.options.virtualNodes)
    const entry = this.insert(resolved)
    this.startRamp(entry)
    this.rebuild(true)
    this.emit('added', { id: entry.id })
    return entry
  }

  /**
   * Removes a backend at once: it gets no more picks; picks in flight may still be released. To let them finish
   * first, `await drain(id)` before.
   * @returns whether a backend with this id existed
   */
  removeBackend(id: string): boolean {
    const entry = this.byId.get(id)
    if (entry === undefined) return false
    entry.removed = true
    entry.available = false
    this.byId.delete(id)
    this.entries.splice(entry.slot, 1)
    this.entries.forEach((e, slot) => (e.slot = slot))
    this.outliers?.release(entry)
    if (entry.rampUntil !== 0) {
      entry.rampUntil = 0
      this.ramping--
    }
    this.health?.remove(entry)
    entry.breaker?.removeAllListeners('state')
    this.rebuild(true)
    this.emit('removed', { id })
    return true
  }

  /**
   * Stops new picks of a backend (state `draining`) and resolves once its outstanding picks are all released. The
   * backend stays listed until {@link LoadBalancer.removeBackend}.
   * @throws {InvalidArgumentError} (as a rejection) for an unknown id
   * @throws {ClosedError} (as a rejection) when the balancer is or gets closed first
   */
  drain(id: string): Promise<void> {
    const entry = this.byId.get(id)
    if (entry === undefined) return Promise.reject(new InvalidArgumentError(`invalid id: no backend '${String(id)}'`))
    if (this.closed) return Promise.reject(new ClosedError('the load balancer is closed'))
    if (!entry.draining) {
      entry.draining = true
      this.rebuild()
    }
    if (entry.outstanding === 0) return Promise.resolve()
    return new Promise((resolve, reject) => entry.drainWaiters.push({ resolve, reject }))
  }

  /** The handle of a backend by id. */
  getBackend(id: string): BalancerBackend | undefined {
    return this.byId.get(id)
  }

  /** Every backend's handle, in configuration order. */
  backends(): BalancerBackend[] {
    return [...this.entries]
  }

  /** A snapshot of the balancer and of every backend; applies the time-driven changes that are due. */
  stats(): LoadBalancerStats {
    const now = this.clock.read()
    if (!this.closed) {
      if (now >= this.wakeAt) this.refresh(now)
      if (this.ramping > 0) this.ramp(now)
    }
    return {
      algorithm: this.algorithm,
      panic: this.panic,
      available: this.available,
      total: this.live,
      noBackend: this.noBackend,
      ejectionsRefused: this.outliers?.refused ?? 0,
      retryBudget: this.retryBudget.stats(),
      backends: this.entries.map((e) => ({
        id: e.id,
        url: e.url,
        weight: e.weight,
        effectiveWeight: e.effectiveWeight,
        state: e.state,
        available: e.available,
        healthy: e.healthy,
        ejected: e.ejected,
        ejectionRemainingMs: e.ejected ? Math.max(e.ejectedUntil - now, 0) : 0,
        ejections: e.ejections,
        ejectionMultiplier: e.ejectionMultiplier,
        circuit: e.circuit,
        draining: e.draining,
        outstanding: e.outstanding,
        requests: e.requests,
        successes: e.successes,
        failures: e.failures,
        timeouts: e.timeouts,
        consecutiveFailures: e.consecutiveFailures,
        latencyEwmaMs: e.latency.mean(),
        peakEwmaMs: e.latency.cost(),
      })),
    }
  }

  /**
   * Stops the health checks (timers cleared, checks in flight aborted, connections closed) and rejects pending
   * {@link LoadBalancer.drain} calls with {@link ClosedError}. Picks then throw {@link ClosedError}; releases of
   * picks in flight are still accepted. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    openBalancers.delete(this)
    this.timed = true
    this.clock.stop()
    for (const entry of this.entries) {
      const waiters = entry.drainWaiters
      entry.drainWaiters = []
      for (const waiter of waiters) waiter.reject(new ClosedError('the load balancer was closed while draining'))
    }
    await this.health?.close()
  }

  /** Creates the record of a backend and starts its breaker and health checks; the caller rebuilds. */
  private insert(config: ResolvedBackendConfig): BackendEntry {
    const entry = new BackendEntry(config, this, this.options.ewmaDecayMs, this.clock)
    const breakerOptions = this.options.circuitBreaker
    if (breakerOptions !== undefined) {
      const breaker = new CircuitBreaker(breakerOptions)
      breaker.on('state', (change) => this.onCircuit(entry, change))
      entry.breaker = breaker
    }
    entry.slot = this.entries.length
    this.entries.push(entry)
    this.byId.set(entry.id, entry)
    this.health?.add(entry)
    return entry
  }

  /** Slow path of a pick: no candidate, or a half-open backend whose pick must take one of its breaker's probes. */
  private settle(
    entry: BackendEntry | undefined,
    request: PickRequest | undefined,
    excluded: PickExclusion | undefined,
  ): BackendEntry {
    // Each refused probe takes its backend out of the candidates, so this ends within entries.length rounds.
    for (let round = 0; entry !== undefined && entry.guarded && !this.panic && round <= this.entries.length; round++) {
      this.clock.read()
      if (entry.breaker!.tryAcquire()) {
        entry.probes++
        entry.probeAt = this.clock.t
        // Full of probes: out of the candidates until one reports (the rebuild also arms the probe timeout).
        if (entry.probes >= this.options.circuitBreaker!.halfOpenProbes) this.dirty = true
        break
      }
      // Refused: the breaker reopened (its event set dirty) or has no slot; keep it out until it changes.
      entry.probes = Math.max(entry.probes, this.options.circuitBreaker!.halfOpenProbes)
      entry.probeAt = this.clock.t
      this.rebuild()
      entry = excluded === undefined ? this.picker.pick(request) : this.picker.pickExcluding(request, excluded)
    }
    if (this.dirty) this.rebuild()
    if (entry === undefined) {
      this.noBackend++
      throw new NoBackendError(this.noBackendMessage(excluded))
    }
    entry.outstanding++
    entry.requests++
    return entry
  }

  private noBackendMessage(excluded: PickExclusion | undefined): string {
    if (this.entries.length === 0) return 'no backend available: the load balancer has no backends'
    if (this.live === 0) return `no backend available: all ${this.entries.length} backends are draining`
    if (excluded !== undefined) return 'no backend available: every available backend is excluded'
    return (
      `no backend available: none of the ${this.live} backends that are not draining is healthy, and panic mode ` +
      'is disabled (panicThreshold: 0)'
    )
  }

  /** Records the outcome of one request. */
  private record(entry: BackendEntry, outcome: ReleaseOutcome): void {
    const timedOut = outcome.timedOut === true
    const ok = outcome.ok && !timedOut
    const latency = outcome.latencyMs
    const breaker = entry.breaker
    // A cached reading (at most 10 ms old) serves the EWMA, the breaker's window and an ejection: their time scales
    // are seconds, and a clock read would cost more than the rest of the release.
    if (latency !== undefined || breaker !== undefined || !ok) this.clock.touch()
    if (latency !== undefined) entry.latency.observe(latency)
    if (ok) {
      entry.successes++
      entry.consecutiveFailures = 0
    } else {
      entry.failures++
      if (timedOut) entry.timeouts++
      entry.consecutiveFailures++
    }
    if (entry.removed) return
    if (entry.probes > 0) {
      entry.probes--
      this.dirty = true
    }
    if (!ok && this.outliers !== undefined && this.outliers.failure(entry, this.entries.length)) this.dirty = true
    if (breaker !== undefined) {
      if (ok) breaker.recordSuccess()
      else breaker.recordFailure()
    }
  }

  private onCircuit(entry: BackendEntry, change: CircuitStateChange): void {
    entry.circuit = change.to
    // The breaker forgets its probes on every transition; so do we.
    entry.probes = 0
    if (change.to === 'open') entry.circuitRetryAt = this.clock.t + entry.breaker!.retryAfterMs()
    this.dirty = true
  }

  private onCheck(result: CheckResult): void {
    const { entry } = result
    if (this.closed || entry.removed) return
    this.emit('check', { id: entry.id, ok: result.ok, reason: result.reason })
    if (result.healthy === undefined || entry.removed) return
    entry.healthy = result.healthy
    this.clock.read()
    this.rebuild()
  }

  /** Looks at the clock on behalf of a pick: applies due changes and slow-start ramps. */
  private tick(): void {
    if (this.closed) throw new ClosedError('the load balancer is closed')
    const now = this.clock.read()
    if (now >= this.wakeAt) this.refresh(now)
    if (this.ramping > 0) this.ramp(now)
  }

  /** Applies the time-driven changes due at `now`: ejections that end, breakers that turn half-open or reopen. */
  private refresh(now: number): void {
    for (const entry of this.entries) {
      this.outliers?.wake(entry, now)
      // Reading the state applies the breaker's lazy transitions; its events mark us dirty.
      if (entry.circuit !== 'closed') void entry.breaker!.state
    }
    this.rebuild()
  }

  /** Updates the effective weights of backends in slow start. */
  private ramp(now: number): void {
    const { slowStartMs, slowStartInitialWeight: initial } = this.options
    for (const entry of this.entries) {
      if (entry.rampUntil === 0) continue
      if (now >= entry.rampUntil) {
        entry.effectiveWeight = entry.weight
        entry.rampUntil = 0
        this.ramping--
      } else {
        const elapsed = Math.max(now - entry.rampStart, 0)
        entry.effectiveWeight = entry.weight * (initial + ((1 - initial) * elapsed) / slowStartMs)
      }
    }
    if (this.ramping === 0) this.timed = this.wakeAt !== Infinity || this.closed
    this.picker.reweigh?.()
  }

  private startRamp(entry: BackendEntry): void {
    const { slowStartMs, slowStartInitialWeight } = this.options
    // Ramping a consistent-hash backend would move keys back and forth; its ring share is all or nothing.
    if (slowStartMs === 0 || this.algorithm === 'consistent-hash') return
    const now = this.clock.read()
    if (entry.rampUntil === 0) this.ramping++
    entry.rampStart = now
    entry.rampUntil = now + slowStartMs
    entry.effectiveWeight = entry.weight * slowStartInitialWeight
    this.timed = true
  }

  /**
   * Recomputes every backend's state, the candidates and the next wake-up time after any state change, then emits
   * the changes. `membership`: backends were added or removed.
   */
  private rebuild(membership = false): void {
    this.dirty = false
    const breaker = this.options.circuitBreaker
    const probeLimit = breaker?.halfOpenProbes ?? 1
    const probeTimeoutMs = breaker?.probeTimeoutMs ?? Infinity
    const candidates: BackendEntry[] = []
    const changes: BackendStateChange[] = []
    let live = 0
    let wake = Infinity
    for (const entry of this.entries) {
      const state = stateOf(entry)
      entry.guarded = state === 'half-open'
      entry.available = state === 'healthy' || (state === 'half-open' && entry.probes < probeLimit)
      if (!entry.draining) live++
      if (entry.available) candidates.push(entry)
      if (entry.ejected) wake = Math.min(wake, entry.ejectedUntil)
      if (entry.circuit === 'open') wake = Math.min(wake, entry.circuitRetryAt)
      else if (entry.circuit === 'half-open' && entry.probes > 0) wake = Math.min(wake, entry.probeAt + probeTimeoutMs)
      if (state !== entry.state) {
        changes.push({ id: entry.id, from: entry.state, to: state })
        entry.state = state
        // A backend coming back (from unhealthy, ejected or open) ramps up again.
        if (state === 'healthy' && this.started) this.startRamp(entry)
      }
    }
    const available = candidates.length
    const panic = live > 0 && available < this.options.panicThreshold * live
    if (panic) {
      // Envoy's panic mode: the health view is not trusted any more, every non-draining backend takes traffic.
      candidates.length = 0
      for (const entry of this.entries) {
        if (!entry.draining) {
          entry.available = true
          candidates.push(entry)
        }
      }
    }
    this.available = available
    this.live = live
    this.picker.update(candidates, this.entries, membership)
    this.wakeAt = wake
    this.timed = wake !== Infinity || this.ramping > 0 || this.closed
    const panicChanged = panic !== this.panic
    this.panic = panic
    if (!this.started) return
    for (const change of changes) this.emit('state', change)
    if (panicChanged) this.emit('panic', { panic, available, total: live })
  }
}

function createPicker(algorithm: BalancerAlgorithm, context: PickerContext): Picker {
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobinPicker(context)
    case 'weighted-round-robin':
      return new WeightedRoundRobinPicker()
    case 'least-connections':
      return new LeastConnectionsPicker(context)
    case 'p2c-ewma':
      return new P2cEwmaPicker(context)
    case 'consistent-hash':
      return new ConsistentHashPicker(context)
  }
}

function stateOf(entry: BackendEntry): BackendState {
  if (entry.draining) return 'draining'
  if (!entry.healthy) return 'unhealthy'
  if (entry.ejected) return 'ejected'
  if (entry.circuit === 'open') return 'open'
  if (entry.circuit === 'half-open') return 'half-open'
  return 'healthy'
}

function settleDrain(entry: BackendEntry): void {
  const waiters = entry.drainWaiters
  entry.drainWaiters = []
  for (const waiter of waiters) waiter.resolve()
}

function checkOutcome(outcome: ReleaseOutcome): void {
  if (outcome === null || typeof outcome !== 'object' || typeof outcome.ok !== 'boolean') {
    throw new InvalidArgumentError(
      `invalid outcome: expected { ok: boolean, latencyMs?, timedOut? }, got ${describe(outcome)}`,
    )
  }
  const latency = outcome.latencyMs
  if (latency !== undefined && !(typeof latency === 'number' && latency >= 0 && latency < Infinity)) {
    throw new InvalidArgumentError(`invalid outcome.latencyMs: expected a finite number ≥ 0, got ${describe(latency)}`)
  }
}

function checkRetryOptions(
  options: BalancerRetryOptions,
  fallback: RetryBudget,
): Required<Omit<BalancerRetryOptions, 'request'>> & BalancerRetryOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`invalid retry options: expected an object, got ${describe(options)}`)
  }
  knownOptions('retry options', options, RETRY_OPTION_NAMES)
  const maxAttempts = wholeNumber('maxAttempts', options.maxAttempts, 1, RETRY_MAX_ATTEMPTS, RETRY_DEFAULT_ATTEMPTS)
  const budget = options.budget ?? fallback
  if (!(budget instanceof RetryBudget)) {
    throw new InvalidArgumentError(`invalid budget: expected a RetryBudget, got ${describe(budget)}`)
  }
  const retryOn = options.retryOn ?? (() => true)
  if (typeof retryOn !== 'function') {
    throw new InvalidArgumentError(`invalid retryOn: expected a function, got ${describe(retryOn)}`)
  }
  return { maxAttempts, budget, retryOn, request: options.request }
}
