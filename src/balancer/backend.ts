import type { CircuitBreaker, CircuitState } from '../resilience/circuit-breaker'
import type { CachedClock } from '../core/cached-clock'
import { LatencyEwma } from './ewma'
import type { ResolvedBackendConfig } from './options'

/**
 * Where a backend stands, most restrictive first:
 * - `draining`: {@link LoadBalancer.drain} was called; no new picks.
 * - `unhealthy`: active health checks failed `unhealthyThreshold` times in a row.
 * - `ejected`: passive outlier detection took it out for a while.
 * - `open`: its circuit breaker is open.
 * - `half-open`: its breaker admits probe picks, `halfOpenProbes` at a time.
 * - `healthy`: in rotation (possibly ramping up in slow start).
 */
export type BackendState = 'healthy' | 'unhealthy' | 'ejected' | 'open' | 'half-open' | 'draining'

/**
 * The handle {@link LoadBalancer.pick} returns: give it back to {@link LoadBalancer.release} exactly once per pick.
 * The same object comes back for every pick of a backend (picks allocate nothing).
 */
export interface BalancerBackend {
  /** The backend's id, as configured. */
  readonly id: string
  /** The backend's URL, as configured. */
  readonly url: string
  /** The configured weight (slow start and panic mode do not change it). */
  readonly weight: number
}

/** Per-backend counters and state, from {@link LoadBalancer.stats}. */
export interface BackendStats {
  id: string
  url: string
  weight: number
  /** The weight picks use now: below `weight` during slow start. */
  effectiveWeight: number
  state: BackendState
  /** Whether it takes picks now (in panic mode every non-draining backend does). */
  available: boolean
  /** The active health checks' view (true when checks are off). */
  healthy: boolean
  ejected: boolean
  /** Ms until an ejection ends; 0 when not ejected. */
  ejectionRemainingMs: number
  /** Times outlier detection ejected it in all. */
  ejections: number
  /** The ejection-time multiplier: the next ejection lasts baseEjectionMs × (this + 1), less any decay. */
  ejectionMultiplier: number
  /** Its breaker's state; `closed` when breakers are off. */
  circuit: CircuitState
  draining: boolean
  /** Picks not yet released. */
  outstanding: number
  /** Picks in all. */
  requests: number
  /** Releases with `ok: true`. */
  successes: number
  /** Releases with `ok: false` (timeouts included). */
  failures: number
  /** Releases with `timedOut: true`. */
  timeouts: number
  /** Failures in a row, as outlier detection counts them. */
  consecutiveFailures: number
  /** Time-weighted EWMA of the reported latencies, ms; 0 before any. */
  latencyEwmaMs: number
  /** Finagle's peak EWMA of latency as of now, ms: what `p2c-ewma` multiplies by outstanding + 1. */
  peakEwmaMs: number
}

/** The balancer's record of one backend; doubles as the handle picks return. @internal */
export class BackendEntry implements BalancerBackend {
  readonly id: string
  readonly url: string
  readonly weight: number
  /** Weight × slow-start factor; what weighted pickers read. */
  effectiveWeight: number
  /** Index in the balancer's entry array; ring owners refer to it. */
  slot = -1
  /** Set once removed: releases still count, nothing else changes. */
  removed = false

  /** Active health view. */
  healthy = true
  draining = false
  ejected = false
  ejectedUntil = 0
  /** Ejection multiplier, decayed lazily (see OutlierDetectionOptions.baseEjectionMs). */
  ejectionMultiplier = 0
  /** When the latest ejection ended; decay of the multiplier counts from here. */
  lastEjectionEnd = 0
  ejections = 0
  breaker: CircuitBreaker | undefined = undefined
  circuit: CircuitState = 'closed'
  /** When an open breaker turns half-open (valid while open). */
  circuitRetryAt = 0
  /** Half-open probes picked and not yet released. */
  probes = 0
  /** When the latest probe was picked. */
  probeAt = 0
  /** Half-open: a pick must take a breaker probe slot. */
  guarded = false
  /** In the candidate set (computed by the balancer on every state change). */
  available = true
  state: BackendState = 'healthy'
  /** Slow start: ramping while rampUntil > 0. */
  rampStart = 0
  rampUntil = 0

  outstanding = 0
  requests = 0
  successes = 0
  failures = 0
  timeouts = 0
  consecutiveFailures = 0
  readonly latency: LatencyEwma
  /** nginx SWRR's current weight. */
  swrrCurrent = 0
  /** Ring points (hashes) of consistent hashing, computed once. */
  ringPoints: Uint32Array | undefined = undefined
  /** Resolvers of drain() calls, settled when outstanding reaches 0 (or rejected on close). */
  drainWaiters: { resolve: () => void; reject: (err: Error) => void }[] = []

  constructor(
    config: ResolvedBackendConfig,
    /** The balancer that owns it: release() refuses handles of another balancer. */
    readonly owner: object,
    ewmaDecayMs: number,
    clock: CachedClock,
  ) {
    this.id = config.id
    this.url = config.url
    this.weight = config.weight
    this.effectiveWeight = config.weight
    this.latency = new LatencyEwma(ewmaDecayMs, clock)
  }
}

/** What {@link LoadBalancer.pick} may key on. */
export interface PickRequest {
  /** Sticky key of `consistent-hash`, preferred over `clientIp`. */
  sessionId?: string
  /** Sticky key of `consistent-hash` when there is no `sessionId`. */
  clientIp?: string
}

/** The outcome of one picked request, given to {@link LoadBalancer.release}. */
export interface ReleaseOutcome {
  /** Whether the backend served the request; failures feed outlier detection and the breaker. */
  ok: boolean
  /** How long the request took, ms; feeds the latency EWMA that `p2c-ewma` balances on. */
  latencyMs?: number
  /** The request timed out (counted as a failure whatever `ok` says). */
  timedOut?: boolean
}
