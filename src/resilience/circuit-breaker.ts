import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'

import { InvalidArgumentError } from '../core/errors'
import { functionOption, knownOptions, numberInRange, optionNames, positiveNumber, wholeNumber } from '../core/validate'
import { SlidingWindowCounter } from './sliding-window-counter'

/**
 * A breaker's state. `closed` admits everything and watches outcomes; `open` rejects
 * everything until its open period ends; `half-open` admits a few probe calls whose
 * outcomes decide between `closed` and `open`.
 */
export type CircuitState = 'closed' | 'open' | 'half-open'

/** Payload of the `'state'` event: one transition. */
export interface CircuitStateChange {
  from: CircuitState
  to: CircuitState
}

/** Events of {@link CircuitBreaker}. */
export type CircuitBreakerEvents = {
  /** Emitted synchronously inside the call that caused or first observed the transition. */
  state: [change: CircuitStateChange]
}

/** Options of {@link CircuitBreaker}. Every one can be omitted; see {@link CIRCUIT_BREAKER_DEFAULTS}. */
export interface CircuitBreakerOptions {
  /**
   * Opens after this many failures in a row while closed. `Infinity` disables the
   * condition (then `minimumCalls` must be finite).
   * @default 5
   */
  consecutiveFailures?: number
  /**
   * Opens when failures / calls over the rolling window reach this share, in (0, 1],
   * once the window holds at least `minimumCalls` calls.
   * @default 0.5
   */
  failureRateThreshold?: number
  /**
   * Calls the rolling window must hold before its failure rate can open the breaker, so
   * that 1 failure in 2 calls does not count as 50 %. `Infinity` disables the rate condition.
   * @default 20
   */
  minimumCalls?: number
  /** Length of the rolling window of the failure rate, in ms. @default 10000 */
  windowMs?: number
  /**
   * Buckets the rolling window is divided into, 1 to 1000: it slides one bucket at a time,
   * so it covers between `windowMs - windowMs / windowBuckets` and `windowMs`.
   * @default 10
   */
  windowBuckets?: number
  /** How long the breaker stays open the first time, in ms. @default 5000 */
  openMs?: number
  /**
   * Ceiling of the open period, which doubles each time a half-open probe fails and returns
   * to `openMs` when the breaker closes.
   * @default 60000, or `openMs` when that is longer
   */
  maxOpenMs?: number
  /**
   * Share of the open period drawn at random and taken off it, in [0, 1): with 0.2 an open
   * period of 10 s lasts between 8 s and 10 s. Spreads the probes of many instances that
   * opened together.
   * @default 0
   */
  jitter?: number
  /** Probe calls admitted at once while half-open. @default 1 */
  halfOpenProbes?: number
  /** Probe successes that close the breaker; one probe failure reopens it. @default 1 */
  successesToClose?: number
  /**
   * A probe without an outcome for this long counts as failed, so a caller that forgets
   * to report cannot hold the breaker half-open forever.
   * @default 30000
   */
  probeTimeoutMs?: number
  /**
   * Clock in ms. Only differences matter, so a monotonic clock is best.
   * @default `performance.now`, monotonic: a wall-clock step (NTP, a manual change) must
   * neither cut nor stretch an open period
   */
  now?: () => number
  /** Source of jitter, uniform in [0, 1). @default Math.random */
  random?: () => number
}

/** Counters and window contents of one breaker, from {@link CircuitBreaker.stats}. */
export interface CircuitBreakerStats {
  state: CircuitState
  /** Successes reported, in any state. */
  successes: number
  /** Failures reported, in any state (probe timeouts included). */
  failures: number
  /** Calls {@link CircuitBreaker.tryAcquire} refused. */
  rejections: number
  /** Transitions into `open`. */
  opens: number
  /** Transitions into `half-open`. */
  halfOpens: number
  /** Transitions into `closed`. */
  closes: number
  /** Current run of failures while closed. */
  consecutiveFailures: number
  /** Calls in the rolling window (closed state only; cleared on every transition). */
  windowCalls: number
  /** Failures in the rolling window. */
  windowFailures: number
}

/** Defaults of every {@link CircuitBreakerOptions} option. */
export const CIRCUIT_BREAKER_DEFAULTS = Object.freeze({
  consecutiveFailures: 5,
  failureRateThreshold: 0.5,
  minimumCalls: 20,
  windowMs: 10_000,
  windowBuckets: 10,
  openMs: 5_000,
  maxOpenMs: 60_000,
  jitter: 0,
  halfOpenProbes: 1,
  successesToClose: 1,
  probeTimeoutMs: 30_000,
  now: (): number => performance.now(),
  random: Math.random,
})

/** Every option name of {@link CircuitBreakerOptions}: all have defaults. @internal */
export const CIRCUIT_BREAKER_OPTION_NAMES = optionNames<CircuitBreakerOptions>()(CIRCUIT_BREAKER_DEFAULTS, {})

/**
 * Checks the names in breaker options a component embeds. The names in `supplied` (the
 * component's own clock) are refused too: the component would overwrite them in silence.
 * @internal
 */
export function checkEmbeddedBreakerOptions(
  what: string,
  options: object | undefined,
  supplied: readonly string[],
): void {
  knownOptions(
    what,
    options,
    CIRCUIT_BREAKER_OPTION_NAMES.filter((name) => !supplied.includes(name)),
  )
}

/** Validated options with every default filled in. @internal */
export type ResolvedCircuitBreakerOptions = Readonly<Required<CircuitBreakerOptions>>

/**
 * Validates breaker options and fills in defaults; throws {@link InvalidArgumentError}
 * naming the option at fault.
 * @internal
 */
export function resolveCircuitBreakerOptions(options: CircuitBreakerOptions = {}): ResolvedCircuitBreakerOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`invalid breaker options: expected an object, got ${String(options)}`)
  }
  knownOptions('breaker options', options, CIRCUIT_BREAKER_OPTION_NAMES)
  const d = CIRCUIT_BREAKER_DEFAULTS
  const openMs = positiveNumber('openMs', options.openMs ?? d.openMs, false, 'milliseconds')
  const resolved = {
    consecutiveFailures: wholeNumber(
      'consecutiveFailures',
      options.consecutiveFailures ?? d.consecutiveFailures,
      1,
      undefined,
      { infinite: true },
    ),
    failureRateThreshold: numberInRange(
      'failureRateThreshold',
      options.failureRateThreshold ?? d.failureRateThreshold,
      0,
      1,
      { above: true },
    ),
    minimumCalls: wholeNumber('minimumCalls', options.minimumCalls ?? d.minimumCalls, 1, undefined, { infinite: true }),
    windowMs: positiveNumber('windowMs', options.windowMs ?? d.windowMs, false, 'milliseconds'),
    windowBuckets: wholeNumber('windowBuckets', options.windowBuckets ?? d.windowBuckets, 1, 1000),
    openMs,
    maxOpenMs: numberInRange('maxOpenMs', options.maxOpenMs ?? Math.max(d.maxOpenMs, openMs), openMs, undefined, {
      unit: 'milliseconds',
    }),
    jitter: numberInRange('jitter', options.jitter, 0, 1, { below: true, fallback: d.jitter }),
    halfOpenProbes: wholeNumber('halfOpenProbes', options.halfOpenProbes ?? d.halfOpenProbes, 1),
    successesToClose: wholeNumber('successesToClose', options.successesToClose ?? d.successesToClose, 1),
    probeTimeoutMs: positiveNumber('probeTimeoutMs', options.probeTimeoutMs ?? d.probeTimeoutMs, false, 'milliseconds'),
    now: functionOption('now', options.now, d.now),
    random: functionOption('random', options.random, d.random),
  }
  if (resolved.consecutiveFailures === Infinity && resolved.minimumCalls === Infinity) {
    throw new InvalidArgumentError(
      'invalid breaker options: consecutiveFailures and minimumCalls are both Infinity, so the breaker could never open',
    )
  }
  return Object.freeze(resolved)
}

// Kinds of outcome the rolling window counts.
const CALLS = 0
const FAILURES = 1

/**
 * A circuit breaker: rejects calls fast while what they depend on is failing, and lets a
 * few probe calls find out when it has recovered.
 *
 * It opens on `consecutiveFailures` failures in a row, or when the failure rate over a
 * rolling window of `windowMs` reaches `failureRateThreshold` after at least `minimumCalls`
 * calls. Open, it rejects everything for `openMs`, then turns half-open and admits up to
 * `halfOpenProbes` probes at once: `successesToClose` probe successes close it, one probe
 * failure opens it again for twice as long (up to `maxOpenMs`).
 *
 * It owns no timers: time-driven transitions happen lazily inside the next call that
 * looks, so an idle breaker costs nothing and a fake clock makes tests exact. The rolling
 * window is a ring of counters, O(1) per outcome. Outcomes are not tied to the call that
 * acquired: any success reported while half-open counts as a probe success, and outcomes
 * reported while open (of calls admitted before it opened) only reach the counters.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ consecutiveFailures: 5, openMs: 2_000 })
 * breaker.on('state', ({ from, to }) => log.warn(`upstream breaker ${from} -> ${to}`))
 * if (!breaker.tryAcquire()) return reply(503, { retryAfterMs: breaker.retryAfterMs() })
 * try {
 *   const result = await callUpstream()
 *   breaker.recordSuccess()
 *   return result
 * } catch (err) {
 *   breaker.recordFailure()
 *   throw err
 * }
 * ```
 */
export class CircuitBreaker extends EventEmitter<CircuitBreakerEvents> {
  private readonly options: ResolvedCircuitBreakerOptions
  private current: CircuitState = 'closed'
  /** Failures in a row while closed; reset by a success and by every transition. */
  private consecutive = 0
  /** Calls and failures over the rolling window (closed state only). */
  private readonly window: SlidingWindowCounter
  /** The open period before jitter: `openMs`, doubled per failed probe, at most `maxOpenMs`. */
  private backoffMs: number
  /** When the open period ends (valid while open). */
  private openUntil = 0
  /** Probes admitted and not yet reported (valid while half-open). */
  private probes = 0
  private probeSuccesses = 0
  /** When the latest probe was admitted: every outstanding probe is at least this old. */
  private lastProbeAt = 0
  private successes = 0
  private failures = 0
  private rejections = 0
  private opens = 0
  private halfOpens = 0
  private closes = 0

  /**
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option is out of
   *   range or unknown; the message names it.
   */
  constructor(options: CircuitBreakerOptions = {}) {
    super()
    this.options = resolveCircuitBreakerOptions(options)
    this.window = new SlidingWindowCounter(this.options.windowMs, this.options.windowBuckets, 2)
    this.backoffMs = this.options.openMs
  }

  /** The current state, after any transition that time has made due. */
  get state(): CircuitState {
    if (this.current !== 'closed') this.refresh(this.options.now())
    return this.current
  }

  /**
   * Asks to make a call. `false` means reject it now without calling. While half-open,
   * `true` takes a probe slot that the call's {@link recordSuccess}, {@link recordFailure}
   * or {@link release} gives back. Allocation-free; reads no clock while closed.
   */
  tryAcquire(): boolean {
    if (this.current === 'closed') return true
    const now = this.options.now()
    this.refresh(now)
    if (this.current === 'half-open' && this.probes < this.options.halfOpenProbes) {
      this.probes++
      this.lastProbeAt = now
      return true
    }
    this.rejections++
    return false
  }

  /** Reports that a call succeeded. While half-open it counts as a probe success. */
  recordSuccess(): void {
    this.successes++
    if (this.current === 'closed') {
      this.consecutive = 0
      this.count(this.options.now(), false)
      return
    }
    this.refresh(this.options.now())
    if (this.current !== 'half-open') return
    if (this.probes > 0) this.probes--
    if (++this.probeSuccesses >= this.options.successesToClose) this.transition('closed')
  }

  /** Reports that a call failed. While closed it may open the breaker; while half-open it does. */
  recordFailure(): void {
    this.failures++
    const now = this.options.now()
    if (this.current === 'closed') {
      this.consecutive++
      this.count(now, true)
      const o = this.options
      const calls = this.window.total(CALLS)
      if (
        this.consecutive >= o.consecutiveFailures ||
        (calls >= o.minimumCalls && this.window.total(FAILURES) >= o.failureRateThreshold * calls)
      ) {
        this.open(now, o.openMs)
      }
      return
    }
    this.refresh(now)
    if (this.current === 'half-open') this.failProbe(now)
  }

  /** Gives back a probe slot whose call was abandoned without an outcome (say, the caller gave up). */
  release(): void {
    if (this.current === 'half-open' && this.probes > 0) this.probes--
  }

  /** Milliseconds until an open breaker turns half-open, rounded up; 0 in any other state. */
  retryAfterMs(): number {
    if (this.current === 'closed') return 0
    const now = this.options.now()
    this.refresh(now)
    return this.current === 'open' ? Math.ceil(this.openUntil - now) : 0
  }

  /** A snapshot of the counters and the rolling window. */
  stats(): CircuitBreakerStats {
    const state = this.state
    if (state === 'closed') this.window.advance(this.options.now())
    return {
      state,
      successes: this.successes,
      failures: this.failures,
      rejections: this.rejections,
      opens: this.opens,
      halfOpens: this.halfOpens,
      closes: this.closes,
      consecutiveFailures: this.consecutive,
      windowCalls: this.window.total(CALLS),
      windowFailures: this.window.total(FAILURES),
    }
  }

  /** Applies the transitions that time has made due: open → half-open, overdue probes → open. */
  private refresh(now: number): void {
    if (this.current === 'open' && now >= this.openUntil) this.transition('half-open')
    if (this.current === 'half-open' && this.probes > 0 && now - this.lastProbeAt >= this.options.probeTimeoutMs) {
      this.failures++
      this.failProbe(now)
    }
  }

  private failProbe(now: number): void {
    this.open(now, Math.min(this.backoffMs * 2, this.options.maxOpenMs))
  }

  private open(now: number, backoffMs: number): void {
    this.backoffMs = backoffMs
    // Jitter only shortens the period, so maxOpenMs stays a true ceiling.
    this.openUntil = now + backoffMs * (1 - this.options.jitter * this.options.random())
    this.transition('open')
  }

  private transition(to: CircuitState): void {
    const from = this.current
    this.current = to
    this.consecutive = 0
    this.probes = 0
    this.probeSuccesses = 0
    // The window restarts with every state: failures that opened the breaker must not trip
    // it again the moment it closes.
    this.window.clear()
    if (to === 'open') this.opens++
    else if (to === 'half-open') this.halfOpens++
    else {
      this.closes++
      this.backoffMs = this.options.openMs
    }
    this.emit('state', { from, to })
  }

  /** Adds one outcome to the current bucket of the rolling window. */
  private count(now: number, failed: boolean): void {
    this.window.add(now, CALLS)
    if (failed) this.window.add(now, FAILURES)
  }
}
