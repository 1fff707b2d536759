import { performance } from 'node:perf_hooks'

import { InvalidArgumentError } from '../core/errors'
import {
  checkEmbeddedBreakerOptions,
  CIRCUIT_BREAKER_DEFAULTS,
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
  type ResolvedCircuitBreakerOptions,
} from '../resilience/circuit-breaker'
import { functionOption, knownOptions, numberInRange, optionNames, wholeNumber } from '../core/validate'
import { fastRandom } from './random'

/** How {@link LoadBalancer} chooses a backend; each is described under {@link LoadBalancerOptions.algorithm}. */
export type BalancerAlgorithm =
  'round-robin' | 'weighted-round-robin' | 'least-connections' | 'p2c-ewma' | 'consistent-hash'

/** Every {@link BalancerAlgorithm}, in documentation order. */
export const BALANCER_ALGORITHMS: readonly BalancerAlgorithm[] = Object.freeze([
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'p2c-ewma',
  'consistent-hash',
])

/** One upstream the balancer may pick. */
export interface BackendConfig {
  /** Unique, non-empty name: the key of {@link LoadBalancer.drain}, stats and events, and of its ring points. */
  id: string
  /**
   * Where the backend listens, as a URL (`http://10.0.0.7:8080`, `tcp://10.0.0.7:6379`). The balancer only reads it
   * for active health checks; callers read it from the handle {@link LoadBalancer.pick} returns.
   */
  url: string
  /**
   * Relative share of traffic, a finite number from 0.001 to 1e6. Read by `weighted-round-robin`,
   * `least-connections` (outstanding / weight), `p2c-ewma` (load / weight) and `consistent-hash` (ring points ∝
   * weight); plain `round-robin` ignores it.
   * @default 1
   */
  weight?: number
}

/** Active health checks: each backend is probed on its own timer. */
export interface HealthCheckOptions {
  /**
   * How a backend is probed.
   * `'http'`: GET `path` on the backend's URL (http: or https:), healthy on a 2xx status read within `timeoutMs`.
   * `'tcp'`: a TCP connection to the URL's host and port, healthy once connected within `timeoutMs`.
   * @default 'http'
   */
  type?: 'http' | 'tcp'
  /** Path of the HTTP check, resolved against the backend's URL. @default '/health' */
  path?: string
  /** Time between the end of one check of a backend and the start of the next, in ms. @default 5000 */
  intervalMs?: number
  /** A check without an answer for this long fails (a backend that hangs), in ms. @default 2000 */
  timeoutMs?: number
  /** Passing checks in a row that bring an unhealthy backend back. @default 2 */
  healthyThreshold?: number
  /** Failing checks in a row that mark a healthy backend unhealthy. @default 3 */
  unhealthyThreshold?: number
}

/**
 * Passive outlier detection, after Envoy's: failures reported through {@link LoadBalancer.release} eject a backend
 * for a while, longer each time.
 */
export interface OutlierDetectionOptions {
  /** Failures (timeouts included) in a row that eject a backend. @default 5 */
  consecutiveFailures?: number
  /**
   * An ejection lasts `baseEjectionMs` × the number of times the backend was ejected, at most `maxEjectionMs`. That
   * multiplier drops by one for every `baseEjectionMs` the backend then spends without being ejected.
   * @default 30000
   */
  baseEjectionMs?: number
  /** Ceiling of one ejection, in ms. @default 300000, or `baseEjectionMs` when that is longer */
  maxEjectionMs?: number
  /**
   * Largest share of the backends ejected at once, in percent (0 to 100). One backend can always be ejected when
   * this is above 0, as in Envoy, so that small pools still route around a bad host.
   * @default 10
   */
  maxEjectionPercent?: number
}

/**
 * A retry budget, after Finagle's `RetryBudget` and Envoy's `retry_budget`: retries may add at most `ratio` of the
 * requests seen over the last `windowMs`, plus `minRetriesPerSecond` so that a quiet client can still retry.
 */
export interface RetryBudgetOptions {
  /** Retries allowed per request in the window, in [0, 1000]. @default 0.2 */
  ratio?: number
  /** Retries allowed per second whatever the request count (a floor for quiet clients), ≥ 0. @default 10 */
  minRetriesPerSecond?: number
  /** Length of the sliding window, in ms, moved in tenths. @default 10000 */
  windowMs?: number
  /** Clock in ms, monotonic. @default `performance.now` (the balancer passes its own `now`) */
  now?: () => number
}

/** Options of {@link LoadBalancer}. Every one can be omitted; see {@link LOAD_BALANCER_DEFAULTS}. */
export interface LoadBalancerOptions {
  /** Names the balancer in metrics (the `balancer` label). @default `balancer-<n>` */
  name?: string
  /**
   * How a backend is picked among the available ones.
   *
   * - `'round-robin'`: each available backend in turn, weights ignored.
   * - `'weighted-round-robin'`: nginx's smooth weighted round robin: exact shares, interleaved (5/1/1 gives
   *   `a a b a c a a`).
   * - `'least-connections'`: the backend with the fewest outstanding requests per unit of weight; ties broken at
   *   random in proportion to weight.
   * - `'p2c-ewma'`: power of two choices over a peak-sensitive EWMA of latency × (outstanding + 1), as Finagle's and
   *   Linkerd's balancers do: adapts to slow backends without a global scan. Needs `latencyMs` in `release`.
   * - `'consistent-hash'`: a ring of virtual nodes (Karger et al.; ketama) keyed by `sessionId`, else `clientIp`;
   *   adding one backend to N moves about 1/(N+1) of the keys, all to it. Unavailable backends are skipped by
   *   walking the ring. Picks without a key go round robin.
   * @default 'round-robin', nginx's and Envoy's default
   */
  algorithm?: BalancerAlgorithm
  /** The initial backends; {@link LoadBalancer.addBackend} adds more later. @default [] */
  backends?: readonly BackendConfig[]
  /**
   * When the share of available backends (not unhealthy, ejected, open or draining) drops below this, the balancer
   * stops trusting its health view and picks among every backend that is not draining, as Envoy's panic threshold
   * does: a partial outage then costs some failed requests instead of overloading the few survivors. In [0, 1];
   * 0 disables panic mode (then {@link NoBackendError} when none is available).
   * @default 0.5, Envoy's
   */
  panicThreshold?: number
  /** Active health checks, or `false` for none. @default false */
  healthCheck?: HealthCheckOptions | false
  /** Passive outlier detection, or `false` for none. @default {} (enabled with the defaults above) */
  outlierDetection?: OutlierDetectionOptions | false
  /**
   * One {@link CircuitBreaker} per backend fed by every outcome given to `release`, or `false` for none. Its clock
   * is the balancer's `now`. An open breaker takes its backend out of rotation; half-open, it admits
   * `halfOpenProbes` picks at a time. With the defaults, outlier detection and the breaker both react to 5 failures
   * in a row: the ejection keeps the backend out for 30 s (capped by maxEjectionPercent), and when it returns its
   * half-open breaker lets one probe through before full traffic. Panic mode bypasses breakers.
   * @default {} (enabled with CIRCUIT_BREAKER_DEFAULTS)
   */
  circuitBreaker?: Omit<CircuitBreakerOptions, 'now'> | false
  /**
   * A backend that is added at run time or comes back (from unhealthy, ejected or open) has its weight ramped
   * linearly from `slowStartInitialWeight` × weight to its full weight over this many ms, so that a cold backend is
   * not flooded. 0 disables slow start. Ignored by `consistent-hash`, whose keys must not move.
   * @default 0 (as nginx and Envoy)
   */
  slowStartMs?: number
  /** Share of its weight a backend starts slow start with, in (0, 1]. @default 0.1, Envoy's min_weight_percent */
  slowStartInitialWeight?: number
  /** Decay time (τ) of the latency EWMA: old observations weigh e^-t/τ. @default 10000, Finagle's */
  ewmaDecayMs?: number
  /**
   * Ring points per unit of weight for `consistent-hash`. More points even out the shares (relative deviation about
   * 1/√points) at the cost of memory (10 bytes a point) and rebuild time. The whole ring holds at most 1,048,576.
   * @default 160, ketama's
   */
  virtualNodes?: number
  /** The budget {@link LoadBalancer.retry} draws from. @default {} (see RetryBudgetOptions) */
  retryBudget?: RetryBudgetOptions
  /**
   * Clock in ms. Only differences matter, so a monotonic clock is best; inject one for deterministic tests.
   * @default `performance.now`
   */
  now?: () => number
  /**
   * Uniform random numbers in [0, 1) for P2C, tie breaks, slow start and breaker jitter. The default is not
   * Math.random itself because Math.random called through an option allocates a heap number per call.
   * @default a mulberry32 generator seeded from Math.random once per process
   */
  random?: () => number
}

/** Defaults of {@link HealthCheckOptions}. */
export const HEALTH_CHECK_DEFAULTS = Object.freeze({
  type: 'http' as 'http' | 'tcp',
  path: '/health',
  intervalMs: 5_000,
  timeoutMs: 2_000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
})

/** Defaults of {@link OutlierDetectionOptions}. */
export const OUTLIER_DETECTION_DEFAULTS = Object.freeze({
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 10,
})

/** Defaults of {@link RetryBudgetOptions}. */
export const RETRY_BUDGET_DEFAULTS = Object.freeze({
  ratio: 0.2,
  minRetriesPerSecond: 10,
  windowMs: 10_000,
  now: (): number => performance.now(),
})

/** Defaults of every {@link LoadBalancerOptions} option. */
export const LOAD_BALANCER_DEFAULTS = Object.freeze({
  algorithm: 'round-robin' as BalancerAlgorithm,
  backends: Object.freeze([]) as readonly BackendConfig[],
  panicThreshold: 0.5,
  healthCheck: false as const,
  outlierDetection: OUTLIER_DETECTION_DEFAULTS,
  /** Per-backend breakers with the breaker's own defaults (its clock is the balancer's). */
  circuitBreaker: CIRCUIT_BREAKER_DEFAULTS,
  slowStartMs: 0,
  slowStartInitialWeight: 0.1,
  ewmaDecayMs: 10_000,
  virtualNodes: 160,
  retryBudget: RETRY_BUDGET_DEFAULTS,
  now: (): number => performance.now(),
  random: fastRandom,
})

/** Every option name of {@link LoadBalancerOptions}. @internal */
export const LOAD_BALANCER_OPTION_NAMES = optionNames<LoadBalancerOptions>()(LOAD_BALANCER_DEFAULTS, { name: true })
const BACKEND_NAMES = optionNames<BackendConfig>()({}, { id: true, url: true, weight: true })
const HEALTH_CHECK_NAMES = optionNames<HealthCheckOptions>()(HEALTH_CHECK_DEFAULTS, {})
const OUTLIER_DETECTION_NAMES = optionNames<OutlierDetectionOptions>()(OUTLIER_DETECTION_DEFAULTS, {})
const RETRY_BUDGET_NAMES = optionNames<RetryBudgetOptions>()(RETRY_BUDGET_DEFAULTS, {})

/** Most points a consistent-hash ring may hold (about 10 MB). */
export const MAX_RING_POINTS = 1 << 20

/** A validated backend. @internal */
export interface ResolvedBackendConfig {
  readonly id: string
  readonly url: string
  readonly weight: number
}

/** @internal */
export type ResolvedHealthCheckOptions = Readonly<Required<HealthCheckOptions>>
/** @internal */
export type ResolvedOutlierDetectionOptions = Readonly<Required<OutlierDetectionOptions>>
/** @internal */
export type ResolvedRetryBudgetOptions = Readonly<Required<RetryBudgetOptions>>

/** Validated balancer options with every default filled in. @internal */
export interface ResolvedLoadBalancerOptions {
  readonly algorithm: BalancerAlgorithm
  readonly backends: readonly ResolvedBackendConfig[]
  readonly panicThreshold: number
  readonly healthCheck: ResolvedHealthCheckOptions | undefined
  readonly outlierDetection: ResolvedOutlierDetectionOptions | undefined
  readonly circuitBreaker: ResolvedCircuitBreakerOptions | undefined
  readonly slowStartMs: number
  readonly slowStartInitialWeight: number
  readonly ewmaDecayMs: number
  readonly virtualNodes: number
  readonly retryBudget: ResolvedRetryBudgetOptions
  readonly now: () => number
  readonly random: () => number
}

/**
 * Validates balancer options and fills in defaults; throws {@link InvalidArgumentError} naming the option at fault.
 * `breakerClock` is the clock the per-backend breakers read (the balancer's cached time).
 * @internal
 */
export function resolveLoadBalancerOptions(
  options: LoadBalancerOptions | undefined,
  breakerClock: () => number,
): ResolvedLoadBalancerOptions {
  const o = options ?? {}
  if (o === null || typeof o !== 'object') {
    throw new InvalidArgumentError(`invalid load balancer options: expected an object, got ${String(o)}`)
  }
  knownOptions('load balancer options', o, LOAD_BALANCER_OPTION_NAMES)
  const d = LOAD_BALANCER_DEFAULTS
  const algorithm = o.algorithm ?? d.algorithm
  if (!BALANCER_ALGORITHMS.includes(algorithm)) {
    throw new InvalidArgumentError(
      `invalid algorithm: expected one of ${BALANCER_ALGORITHMS.map((a) => `'${a}'`).join(', ')}, got ${describe(algorithm)}`,
    )
  }
  const now = functionOption('now', o.now, d.now)
  const random = functionOption('random', o.random, d.random)
  const backendsIn = o.backends ?? d.backends
  if (!Array.isArray(backendsIn)) {
    throw new InvalidArgumentError(`invalid backends: expected an array, got ${describe(backendsIn)}`)
  }
  const backends = backendsIn.map((b: unknown, i: number) => resolveBackendConfig(b, `backends[${i}]`))
  const ids = new Set<string>()
  for (const b of backends) {
    if (ids.has(b.id)) throw new InvalidArgumentError(`invalid backends: id '${b.id}' appears twice`)
    ids.add(b.id)
  }
  let circuitBreaker: ResolvedCircuitBreakerOptions | undefined
  if (o.circuitBreaker !== false) {
    const cb = o.circuitBreaker ?? {}
    if (cb === null || typeof cb !== 'object') {
      throw new InvalidArgumentError(`invalid circuitBreaker: expected an object or false, got ${describe(cb)}`)
    }
    checkEmbeddedBreakerOptions('circuitBreaker', cb, ['now'])
    circuitBreaker = resolveCircuitBreakerOptions({ random, ...cb, now: breakerClock })
  }
  const resolved: ResolvedLoadBalancerOptions = {
    algorithm,
    backends,
    panicThreshold: numberInRange('panicThreshold', o.panicThreshold ?? d.panicThreshold, 0, 1),
    healthCheck: o.healthCheck === undefined || o.healthCheck === false ? undefined : resolveHealth(o.healthCheck),
    outlierDetection: o.outlierDetection === false ? undefined : resolveOutlier(o.outlierDetection ?? {}),
    circuitBreaker,
    slowStartMs: numberInRange('slowStartMs', o.slowStartMs ?? d.slowStartMs, 0, undefined, { unit: 'milliseconds' }),
    slowStartInitialWeight: numberInRange(
      'slowStartInitialWeight',
      o.slowStartInitialWeight ?? d.slowStartInitialWeight,
      0,
      1,
      { above: true },
    ),
    ewmaDecayMs: numberInRange('ewmaDecayMs', o.ewmaDecayMs ?? d.ewmaDecayMs, 0, undefined, {
      above: true,
      unit: 'milliseconds',
    }),
    virtualNodes: wholeNumber('virtualNodes', o.virtualNodes ?? d.virtualNodes, 1, MAX_RING_POINTS),
    retryBudget: resolveRetryBudgetOptions({ now, ...(o.retryBudget ?? {}) }, 'retryBudget'),
    now,
    random,
  }
  if (algorithm === 'consistent-hash') checkRingSize(backends, resolved.virtualNodes)
  return Object.freeze(resolved)
}

/** Validates one backend; `where` names it in messages. @internal */
export function resolveBackendConfig(value: unknown, where: string): ResolvedBackendConfig {
  if (value === null || typeof value !== 'object') {
    throw new InvalidArgumentError(`invalid ${where}: expected { id, url, weight? }, got ${describe(value)}`)
  }
  knownOptions(where, value, BACKEND_NAMES)
  const { id, url, weight = 1 } = value as Partial<BackendConfig>
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidArgumentError(`invalid ${where}.id: expected a non-empty string, got ${describe(id)}`)
  }
  if (typeof url !== 'string' || !URL.canParse(url)) {
    throw new InvalidArgumentError(`invalid ${where}.url: expected an absolute URL, got ${describe(url)}`)
  }
  return Object.freeze({ id, url, weight: numberInRange(`${where}.weight`, weight, 0.001, 1e6) })
}

/** Throws when a ring over `backends` would exceed {@link MAX_RING_POINTS}. @internal */
export function checkRingSize(backends: readonly { weight: number }[], virtualNodes: number): void {
  let points = 0
  for (const b of backends) points += ringPoints(b.weight, virtualNodes)
  if (points > MAX_RING_POINTS) {
    throw new InvalidArgumentError(
      `invalid virtualNodes: the consistent-hash ring would hold ${points} points (virtualNodes × each weight), ` +
        `at most ${MAX_RING_POINTS}; lower virtualNodes or the weights`,
    )
  }
}

/** Ring points of one backend: proportional to its weight, at least one. @internal */
export function ringPoints(weight: number, virtualNodes: number): number {
  return Math.max(1, Math.round(weight * virtualNodes))
}

function resolveHealth(value: unknown): ResolvedHealthCheckOptions {
  if (value === null || typeof value !== 'object') {
    throw new InvalidArgumentError(`invalid healthCheck: expected an object or false, got ${describe(value)}`)
  }
  knownOptions('healthCheck', value, HEALTH_CHECK_NAMES)
  const h = value as HealthCheckOptions
  const d = HEALTH_CHECK_DEFAULTS
  const type = h.type ?? d.type
  if (type !== 'http' && type !== 'tcp') {
    throw new InvalidArgumentError(`invalid healthCheck.type: expected 'http' or 'tcp', got ${describe(type)}`)
  }
  const path = h.path ?? d.path
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidArgumentError(
      `invalid healthCheck.path: expected a string starting with '/', got ${describe(path)}`,
    )
  }
  return Object.freeze({
    type,
    path,
    intervalMs: numberInRange('healthCheck.intervalMs', h.intervalMs ?? d.intervalMs, 0, undefined, {
      above: true,
      unit: 'milliseconds',
    }),
    timeoutMs: numberInRange('healthCheck.timeoutMs', h.timeoutMs ?? d.timeoutMs, 0, undefined, {
      above: true,
      unit: 'milliseconds',
    }),
    healthyThreshold: wholeNumber('healthCheck.healthyThreshold', h.healthyThreshold ?? d.healthyThreshold, 1, 1000),
    unhealthyThreshold: wholeNumber(
      'healthCheck.unhealthyThreshold',
      h.unhealthyThreshold ?? d.unhealthyThreshold,
      1,
      1000,
    ),
  })
}

function resolveOutlier(value: unknown): ResolvedOutlierDetectionOptions {
  if (value === null || typeof value !== 'object') {
    throw new InvalidArgumentError(`invalid outlierDetection: expected an object or false, got ${describe(value)}`)
  }
  knownOptions('outlierDetection', value, OUTLIER_DETECTION_NAMES)
  const od = value as OutlierDetectionOptions
  const d = OUTLIER_DETECTION_DEFAULTS
  const baseEjectionMs = numberInRange(
    'outlierDetection.baseEjectionMs',
    od.baseEjectionMs ?? d.baseEjectionMs,
    0,
    undefined,
    { above: true, unit: 'milliseconds' },
  )
  const maxEjectionMs = numberInRange(
    'outlierDetection.maxEjectionMs',
    od.maxEjectionMs ?? Math.max(d.maxEjectionMs, baseEjectionMs),
    0,
    undefined,
    { above: true, unit: 'milliseconds' },
  )
  if (maxEjectionMs < baseEjectionMs) {
    throw new InvalidArgumentError(
      `invalid outlierDetection.maxEjectionMs: expected at least baseEjectionMs (${baseEjectionMs}), got ${maxEjectionMs}`,
    )
  }
  const maxEjectionPercent = numberInRange('outlierDetection.maxEjectionPercent', od.maxEjectionPercent, 0, 100, {
    fallback: d.maxEjectionPercent,
  })
  return Object.freeze({
    consecutiveFailures: wholeNumber(
      'outlierDetection.consecutiveFailures',
      od.consecutiveFailures ?? d.consecutiveFailures,
      1,
      1_000_000,
    ),
    baseEjectionMs,
    maxEjectionMs,
    maxEjectionPercent,
  })
}

/** Validates retry budget options; `where` prefixes option names in messages. @internal */
export function resolveRetryBudgetOptions(value: unknown, where = 'options'): ResolvedRetryBudgetOptions {
  if (value === null || typeof value !== 'object') {
    throw new InvalidArgumentError(`invalid ${where}: expected an object, got ${describe(value)}`)
  }
  knownOptions(where, value, RETRY_BUDGET_NAMES)
  const r = value as RetryBudgetOptions
  const d = RETRY_BUDGET_DEFAULTS
  const ratio = numberInRange(`${where}.ratio`, r.ratio, 0, 1000, { fallback: d.ratio })
  const minRetriesPerSecond = numberInRange(`${where}.minRetriesPerSecond`, r.minRetriesPerSecond, 0, undefined, {
    fallback: d.minRetriesPerSecond,
  })
  const now = functionOption(`${where}.now`, r.now, d.now)
  return Object.freeze({
    ratio,
    minRetriesPerSecond,
    windowMs: numberInRange(`${where}.windowMs`, r.windowMs ?? d.windowMs, 0, undefined, {
      above: true,
      unit: 'milliseconds',
    }),
    now,
  })
}

/** A value for an error message: strings quoted, the rest as String() shows them. @internal */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`
  if (Array.isArray(value)) return 'an array'
  return String(value)
}
