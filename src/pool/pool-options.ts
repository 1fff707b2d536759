import { performance } from 'node:perf_hooks'

import { InvalidArgumentError } from '../core/errors'
import {
  checkEmbeddedBreakerOptions,
  resolveCircuitBreakerOptions,
  type CircuitBreakerOptions,
} from '../resilience/circuit-breaker'
import {
  booleanOption,
  functionOption,
  invalidOption,
  knownOptions,
  numberInRange,
  offDuration,
  optionNames,
  timerMs,
  wholeNumber,
} from '../core/validate'

/**
 * Options of `ConnectionPool`. Only `create` is required; every other option has the default
 * listed in {@link POOL_DEFAULTS}. Durations are in milliseconds; where an option says
 * "0 or Infinity turns it off", either value does.
 */
export interface ConnectionPoolOptions<T> {
  /**
   * Makes one resource (connects a socket, opens a client). A throw or rejection is a creation
   * failure: counted, emitted as `'createError'` and fed to the creation circuit breaker.
   */
  create: () => T | PromiseLike<T>
  /** Releases what a resource holds. Errors are emitted as `'destroyError'`, never thrown. @default nothing */
  destroy?: (resource: T) => unknown
  /**
   * Says whether a resource still works: `false`, a throw, a rejection or no answer within
   * `validateTimeoutMs` mean it does not, and it is destroyed and replaced. Used on borrow
   * (`validateOnBorrow`) and on idle resources every `keepAliveMs`.
   * @default none: resources are never validated
   */
  validate?: (resource: T) => boolean | PromiseLike<boolean>
  /** Name in errors, leak reports and metrics. @default 'pool-<n>' */
  name?: string
  /** Resources kept even when idle; created in the background at start and after losses. @default 0 */
  min?: number
  /** Most resources alive at once, borrowed or idle. @default 10 */
  max?: number
  /**
   * Longest wait in `acquire()` before it rejects with a `PoolTimeoutError` that says why.
   * `Infinity` waits for ever (bounded only by the caller's signal).
   * @default 30000 (HikariCP's connectionTimeout)
   */
  acquireTimeoutMs?: number
  /** A `create()` that has not settled by then counts as failed; a late resource is destroyed. @default 30000 */
  createTimeoutMs?: number
  /** A `destroy()` not settled by then is reported as a `'destroyError'` and no longer waited for. @default 5000 */
  destroyTimeoutMs?: number
  /** Creations in flight at once while the pool grows. @default 2 */
  maxConcurrentCreates?: number
  /**
   * Pause before retrying a failed creation on its own (an `acquire()` may try sooner). The
   * circuit breaker bounds how often creation is tried while it keeps failing.
   * @default 100
   */
  createRetryIntervalMs?: number
  /**
   * Idle resources above `min` idle for this long are destroyed (checked every `reapIntervalMs`).
   * 0 or Infinity turns it off.
   * @default 30000
   */
  idleTimeoutMs?: number
  /**
   * A resource older than this is retired: destroyed at once when idle, on return when
   * borrowed (never while in use), then replaced as needed. 0 or Infinity turns it off.
   * @default 1800000 (30 min, HikariCP's maxLifetime)
   */
  maxLifetimeMs?: number
  /**
   * Share of `maxLifetimeMs` drawn at random per resource and taken off it, in [0, 1), so that
   * resources created together do not all retire together.
   * @default 0.025 (HikariCP's 2.5 % variance)
   */
  lifetimeJitter?: number
  /** Validate a resource before lending it (when `validate` is given). @default true */
  validateOnBorrow?: boolean
  /**
   * Validate on borrow only a resource idle (unused and unvalidated) for at least this long;
   * 0 validates every borrow. A resource returned moments ago is known to work.
   * @default 500 (HikariCP's aliveBypassWindowMs)
   */
  validateAfterIdleMs?: number
  /** A validation without an answer by then counts as failed. @default 5000 (HikariCP's validationTimeout) */
  validateTimeoutMs?: number
  /**
   * Keep-alive: idle resources unused and unvalidated for this long are validated in the
   * background (which also keeps the connection's traffic flowing), as HikariCP's
   * keepaliveTime. Needs `validate`. 0 or Infinity turns it off.
   * @default 0
   */
  keepAliveMs?: number
  /**
   * A resource borrowed for longer than this is reported once as a `'leak'` event with the
   * stack that acquired it, and named in acquire timeouts. Capturing the stack costs a
   * microsecond or so per acquire, so it is on only when set. 0 or Infinity turns it off.
   * @default 0
   */
  leakDetectionMs?: number
  /** How often idle resources are checked against `idleTimeoutMs`. @default 1000 */
  reapIntervalMs?: number
  /**
   * What `use(fn)` does with the resource when `fn` throws: `true` destroys it, `false`
   * returns it, a function decides per error.
   * @default false
   */
  destroyOnError?: boolean | ((error: unknown) => boolean)
  /**
   * `close()` waits this long for borrowed resources to come back, then destroys them
   * (their later `release()` is ignored), as HikariCP's shutdown does after 10 s.
   * @default 10000
   */
  closeTimeoutMs?: number
  /**
   * Circuit breaker on creation failures, so a dead server is not hammered: after
   * `consecutiveFailures` failures in a row creation stops for `openMs` (doubling per failed
   * probe up to `maxOpenMs`) and acquires that would need a new resource fail at once with
   * `PoolCircuitOpenError`. `false` turns it off. Defaults in {@link POOL_BREAKER_DEFAULTS},
   * the rest as `CircuitBreaker`'s.
   * @default {}
   */
  breaker?: Omit<CircuitBreakerOptions, 'now' | 'random'> | false
  /** Monotonic clock in ms (the breaker uses it too). @default performance.now */
  now?: () => number
  /** Uniform random numbers in [0, 1), for jitter. @default Math.random */
  random?: () => number
}

/** Defaults of {@link ConnectionPoolOptions}. */
export const POOL_DEFAULTS = Object.freeze({
  min: 0,
  max: 10,
  acquireTimeoutMs: 30_000,
  createTimeoutMs: 30_000,
  destroyTimeoutMs: 5_000,
  maxConcurrentCreates: 2,
  createRetryIntervalMs: 100,
  idleTimeoutMs: 30_000,
  maxLifetimeMs: 1_800_000,
  lifetimeJitter: 0.025,
  validateOnBorrow: true,
  validateAfterIdleMs: 500,
  validateTimeoutMs: 5_000,
  keepAliveMs: 0,
  leakDetectionMs: 0,
  reapIntervalMs: 1_000,
  destroyOnError: false as boolean | ((error: unknown) => boolean),
  closeTimeoutMs: 10_000,
  now: (): number => performance.now(),
  random: Math.random,
})

/**
 * Defaults of the creation breaker, where they differ from `CIRCUIT_BREAKER_DEFAULTS`: only
 * failures in a row count (a pool makes few creations, too few for a rate), and the first
 * open period is short because a restarted server is usually back within seconds.
 */
export const POOL_BREAKER_DEFAULTS = Object.freeze({
  consecutiveFailures: 3,
  minimumCalls: Infinity,
  openMs: 1_000,
  maxOpenMs: 30_000,
  jitter: 0.2,
})

/** Every option name of {@link ConnectionPoolOptions}. @internal */
export const POOL_OPTION_NAMES = optionNames<ConnectionPoolOptions<unknown>>()(POOL_DEFAULTS, {
  create: true,
  destroy: true,
  validate: true,
  name: true,
  breaker: true,
})

/** Validated options; durations that are off are Infinity. @internal */
export interface ResolvedPoolOptions<T> {
  create: () => T | PromiseLike<T>
  destroy: ((resource: T) => unknown) | undefined
  validate: ((resource: T) => boolean | PromiseLike<boolean>) | undefined
  name: string
  min: number
  max: number
  acquireTimeoutMs: number
  createTimeoutMs: number
  destroyTimeoutMs: number
  maxConcurrentCreates: number
  createRetryIntervalMs: number
  idleTimeoutMs: number
  maxLifetimeMs: number
  lifetimeJitter: number
  validateOnBorrow: boolean
  validateAfterIdleMs: number
  validateTimeoutMs: number
  keepAliveMs: number
  leakDetectionMs: number
  reapIntervalMs: number
  destroyOnError: (error: unknown) => boolean
  closeTimeoutMs: number
  breaker: CircuitBreakerOptions | false
  now: () => number
  random: () => number
}

let unnamed = 0

/**
 * Validates pool options and fills in defaults; throws {@link InvalidArgumentError} naming
 * the option at fault, with what was expected and what came.
 * @internal
 */
export function resolvePoolOptions<T>(options: ConnectionPoolOptions<T>): ResolvedPoolOptions<T> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(
      `invalid pool options: expected an object with at least create, got ${String(options)}`,
    )
  }
  knownOptions('pool options', options, POOL_OPTION_NAMES)
  const d = POOL_DEFAULTS
  const create = fn('create', options.create, false)
  const destroy = fn('destroy', options.destroy, true)
  const validate = fn('validate', options.validate, true)
  const name = options.name ?? `pool-${++unnamed}`
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`invalid name: expected a non-empty string, got ${String(name)}`)
  }
  const max = wholeNumber('max', options.max ?? d.max, 1)
  const min = wholeNumber('min', options.min ?? d.min, 0)
  if (min > max) throw new InvalidArgumentError(`invalid min: expected at most max (${max}), got ${min}`)
  const acquireTimeoutMs = timerMs('acquireTimeoutMs', options.acquireTimeoutMs ?? d.acquireTimeoutMs, true)
  const validateOnBorrow = booleanOption('validateOnBorrow', options.validateOnBorrow, d.validateOnBorrow)
  const keepAliveMs = offDuration('keepAliveMs', options.keepAliveMs ?? d.keepAliveMs)
  if (keepAliveMs !== Infinity && validate === undefined) {
    throw new InvalidArgumentError('invalid keepAliveMs: keep-alive validates idle resources, so it needs validate')
  }
  const lifetimeJitter = numberInRange('lifetimeJitter', options.lifetimeJitter, 0, 1, {
    below: true,
    fallback: d.lifetimeJitter,
  })
  const destroyOnError = options.destroyOnError ?? d.destroyOnError
  if (typeof destroyOnError !== 'boolean' && typeof destroyOnError !== 'function') {
    throw invalidOption('destroyOnError', 'a boolean or a function', destroyOnError)
  }
  const now = functionOption('now', options.now, d.now)
  const random = functionOption('random', options.random, d.random)
  let breaker: CircuitBreakerOptions | false = false
  if (options.breaker !== false) {
    checkEmbeddedBreakerOptions('breaker', options.breaker, ['now', 'random'])
    breaker = { ...POOL_BREAKER_DEFAULTS, ...options.breaker, now, random }
    resolveCircuitBreakerOptions(breaker) // validates now, so a bad option fails here and not on first failure
  }
  return {
    create,
    destroy,
    validate,
    name,
    min,
    max,
    acquireTimeoutMs,
    createTimeoutMs: timerMs('createTimeoutMs', options.createTimeoutMs ?? d.createTimeoutMs, true),
    destroyTimeoutMs: timerMs('destroyTimeoutMs', options.destroyTimeoutMs ?? d.destroyTimeoutMs, true),
    maxConcurrentCreates: wholeNumber(
      'maxConcurrentCreates',
      options.maxConcurrentCreates ?? d.maxConcurrentCreates,
      1,
    ),
    createRetryIntervalMs: timerMs('createRetryIntervalMs', options.createRetryIntervalMs ?? d.createRetryIntervalMs),
    idleTimeoutMs: offDuration('idleTimeoutMs', options.idleTimeoutMs ?? d.idleTimeoutMs),
    maxLifetimeMs: offDuration('maxLifetimeMs', options.maxLifetimeMs ?? d.maxLifetimeMs),
    lifetimeJitter,
    validateOnBorrow: validateOnBorrow && validate !== undefined,
    validateAfterIdleMs: numberInRange('validateAfterIdleMs', options.validateAfterIdleMs, 0, Number.MAX_VALUE, {
      fallback: d.validateAfterIdleMs,
      unit: 'milliseconds',
    }),
    validateTimeoutMs: timerMs('validateTimeoutMs', options.validateTimeoutMs ?? d.validateTimeoutMs, true),
    keepAliveMs,
    leakDetectionMs: offDuration('leakDetectionMs', options.leakDetectionMs ?? d.leakDetectionMs),
    reapIntervalMs: timerMs('reapIntervalMs', options.reapIntervalMs ?? d.reapIntervalMs),
    destroyOnError: typeof destroyOnError === 'function' ? destroyOnError : () => destroyOnError,
    closeTimeoutMs: timerMs('closeTimeoutMs', options.closeTimeoutMs ?? d.closeTimeoutMs, true),
    breaker,
    now,
    random,
  }
}

function fn<F>(name: string, value: F, optional: true): F | undefined
function fn<F>(name: string, value: F, optional: false): F
function fn<F>(name: string, value: F, optional: boolean): F | undefined {
  if (value === undefined && optional) return undefined
  if (typeof value !== 'function') {
    throw invalidOption(name, 'a function', value === null ? 'null' : typeof value)
  }
  return value
}
