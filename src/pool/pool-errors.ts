import { CircuitOpenError, OptlayerError, TimeoutError } from '../core/errors'

/** One borrowed resource, as named by a {@link PoolTimeoutError} and `ConnectionPool.holders()`. */
export interface PoolHolder {
  /** The resource's number in its pool: 1 for the first one created, and so on. */
  id: number
  /** How long it has been borrowed, in ms. */
  heldMs: number
  /** True when held past `leakDetectionMs` (an apparent leak). */
  leaked: boolean
  /**
   * Stack of the `acquire()` (or `use()`) call that borrowed it, frames only (no first line);
   * captured only while leak detection is on, otherwise undefined.
   */
  stack: string | undefined
}

/**
 * Why a pool could not lend in time, most telling first:
 * - `'leaked'`: resources are held past `leakDetectionMs`, which is the likely cause;
 * - `'saturated'`: all `max` resources are borrowed (the pool is too small or holders too slow);
 * - `'creation-failing'`: the pool could grow but its latest `create()` failed (see `cause`);
 * - `'slow-creation'`: the pool is growing but `create()` had not finished in time;
 * - `'busy'`: none of these, e.g. resources were being validated or others were ahead in line.
 */
export type PoolTimeoutReason = 'leaked' | 'saturated' | 'creation-failing' | 'slow-creation' | 'busy'

/** The state of a pool when an acquire timed out. */
export interface PoolDiagnosis {
  /** The pool's name. */
  pool: string
  /** The most telling cause; see {@link PoolTimeoutReason}. */
  reason: PoolTimeoutReason
  /** All `max` resources were borrowed. */
  saturated: boolean
  /** Borrowed resources held past `leakDetectionMs` (0 while leak detection is off). */
  leaked: number
  /** The latest `create()` failed and the pool was below `max`. */
  creationFailing: boolean
  /** Every borrowed resource, longest-held first (stacks only with leak detection on). */
  holders: PoolHolder[]
  /** Borrowed resources. */
  active: number
  /** Idle resources. */
  idle: number
  /** Callers still waiting, this one excluded. */
  waiting: number
  /** Creations in flight. */
  pending: number
  /** The pool's `max`. */
  max: number
}

const kPoolError = Symbol.for('optlayer.pool.error')

function hasBrand(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && (value as { [kPoolError]?: unknown })[kPoolError] === name
}

function brand(error: Error, name: string): void {
  Object.defineProperty(error, kPoolError, { value: name })
}

/** Holders listed in a timeout message; the error's `holders` has them all. */
const HOLDERS_IN_MESSAGE = 5

/**
 * An acquire waited `acquireTimeoutMs` without getting a resource. Code `ERR_OPTLAYER_TIMEOUT`
 * (it is a {@link TimeoutError}); its properties say why (see {@link PoolDiagnosis}), and its
 * `cause` is the latest creation error when creation was failing.
 */
export class PoolTimeoutError extends TimeoutError implements PoolDiagnosis {
  readonly pool: string
  readonly reason: PoolTimeoutReason
  readonly saturated: boolean
  readonly leaked: number
  readonly creationFailing: boolean
  readonly holders: PoolHolder[]
  readonly active: number
  readonly idle: number
  readonly waiting: number
  readonly pending: number
  readonly max: number
  /** How long the caller waited, in ms. */
  readonly waitedMs: number

  constructor(waitedMs: number, diagnosis: PoolDiagnosis, cause?: unknown) {
    super(describeTimeout(waitedMs, diagnosis), cause === undefined ? undefined : { cause })
    brand(this, 'PoolTimeoutError')
    this.pool = diagnosis.pool
    this.reason = diagnosis.reason
    this.saturated = diagnosis.saturated
    this.leaked = diagnosis.leaked
    this.creationFailing = diagnosis.creationFailing
    this.holders = diagnosis.holders
    this.active = diagnosis.active
    this.idle = diagnosis.idle
    this.waiting = diagnosis.waiting
    this.pending = diagnosis.pending
    this.max = diagnosis.max
    this.waitedMs = waitedMs
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return super[Symbol.hasInstance](value) && hasBrand(value, 'PoolTimeoutError')
  }
}

function describeTimeout(waitedMs: number, d: PoolDiagnosis): string {
  const parts = [`pool ${JSON.stringify(d.pool)}: no resource within ${Math.round(waitedMs)} ms`]
  if (d.saturated) parts.push(`saturated: all ${d.max} (max) are borrowed`)
  else parts.push(`${d.active} borrowed, ${d.idle} idle, ${d.pending} being created, max ${d.max}`)
  if (d.leaked > 0) parts.push(`${d.leaked} held past leakDetectionMs (apparent leaks)`)
  if (d.creationFailing) parts.push('creating resources is failing (see cause)')
  else if (d.reason === 'slow-creation') parts.push('creating resources is slow')
  let message = parts.join('; ')
  if (d.holders.length > 0) {
    const named = d.holders.slice(0, HOLDERS_IN_MESSAGE).map((h) => {
      const frame = h.stack === undefined ? '' : ` ${firstFrame(h.stack)}`
      return `#${h.id} held ${Math.round(h.heldMs)} ms${h.leaked ? ' (leaked)' : ''}${frame}`
    })
    const more = d.holders.length > HOLDERS_IN_MESSAGE ? `, and ${d.holders.length - HOLDERS_IN_MESSAGE} more` : ''
    message += `; holders: ${named.join(', ')}${more}`
    if (d.holders[0]?.stack === undefined) message += ' (set leakDetectionMs to record where they were acquired)'
  }
  return message
}

function firstFrame(stack: string): string {
  const line = stack.split('\n', 1)[0] ?? ''
  return line.trim()
}

/**
 * The pool cannot lend because creating resources keeps failing and its circuit breaker is
 * open: raised at once rather than after `acquireTimeoutMs`. Code `ERR_OPTLAYER_CIRCUIT_OPEN`;
 * `cause` is the latest creation error.
 */
export class PoolCircuitOpenError extends CircuitOpenError {
  /** The pool's name. */
  readonly pool: string
  /** When the breaker lets the next creation attempt through, in ms from now. */
  readonly retryAfterMs: number

  constructor(pool: string, retryAfterMs: number, cause: unknown) {
    super(
      `pool ${JSON.stringify(pool)}: creating resources is failing, so its circuit breaker is open; ` +
        `next attempt in ${retryAfterMs} ms (see cause)`,
      cause === undefined ? undefined : { cause },
    )
    brand(this, 'PoolCircuitOpenError')
    this.pool = pool
    this.retryAfterMs = retryAfterMs
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return super[Symbol.hasInstance](value) && hasBrand(value, 'PoolCircuitOpenError')
  }
}

/** What was wrong with a `release()` or `destroy()` call. */
export type PoolReleaseFault = 'double-release' | 'foreign'

/**
 * `release(r)` or `destroy(r)` of a resource that is not borrowed from this pool: returned
 * twice (`'double-release'`) or never lent by it (`'foreign'`). Code
 * `ERR_OPTLAYER_POOL_RELEASE` (formerly `ERR_OPTLAYER_INVALID_ARGUMENT`): a mistake in the
 * borrowing code, not a bad option. The pool's state is unchanged.
 */
export class PoolReleaseError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_POOL_RELEASE' as const
  /** The pool's name. */
  readonly pool: string
  /** Which mistake it was. */
  readonly fault: PoolReleaseFault

  constructor(pool: string, fault: PoolReleaseFault, detail: string) {
    super(`pool ${JSON.stringify(pool)}: ${detail}`)
    brand(this, 'PoolReleaseError')
    this.pool = pool
    this.fault = fault
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return super[Symbol.hasInstance](value) && hasBrand(value, 'PoolReleaseError')
  }
}
