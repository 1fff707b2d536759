import { InvalidArgumentError } from '../core/errors'
import { knownOptions, numberInRange, optionNames, positiveNumber, wholeNumber } from '../core/validate'

/** The adaptive limit algorithms. */
export type AdaptiveAlgorithm = 'aimd' | 'gradient'

/**
 * A limit that adapts to observed outcomes: a concurrency limit, or a rate in units per
 * window. Feed it one sample per completed request and read {@link AdaptiveLimit.limit}.
 */
export interface AdaptiveLimit {
  /** Which algorithm this is. */
  readonly algorithm: AdaptiveAlgorithm
  /** The current limit: a real number within [minLimit, maxLimit]; round it as you need. */
  readonly limit: number
  /**
   * Feeds one completed request.
   * @param latencyMs - how long it took, or `undefined` when unknown
   * @param ok - whether it succeeded
   * @param inUse - how much of the limit was in use (requests in flight for a concurrency
   *   limit, units admitted over the last window for a rate). Below half the limit the
   *   caller is app-limited, the sample says nothing about capacity, and the limit does not
   *   grow. Omit it when unknown: every sample then counts as taken at full use.
   * @throws {InvalidArgumentError} when `latencyMs` or `inUse` is negative or not finite
   */
  onSample(latencyMs: number | undefined, ok: boolean, inUse?: number): void
}

/** Bounds shared by every algorithm. */
export interface AdaptiveLimitBounds {
  /** The lowest the limit goes, above 0. @default 1 */
  minLimit?: number
  /** The highest the limit goes. @default 1000 */
  maxLimit?: number
  /** Where the limit starts, within [minLimit, maxLimit]. @default 20, moved into [minLimit, maxLimit] */
  initialLimit?: number
}

/** Options of {@link AimdLimit}. */
export interface AimdLimitOptions extends AdaptiveLimitBounds {
  /** Added to the limit per successful sample at or under the latency target. @default 1 */
  increase?: number
  /** The limit is multiplied by this on a failure or a slow sample, in [0.5, 1). @default 0.9 */
  backoffRatio?: number
  /** A sample slower than this counts as congestion, like a failure; `Infinity` ignores latency. @default 1000 */
  targetLatencyMs?: number
}

/** Options of {@link GradientLimit}. */
export interface GradientLimitOptions extends AdaptiveLimitBounds {
  /** Weight of each new estimate in the limit, in (0, 1]: lower is steadier. @default 0.2 */
  smoothing?: number
  /**
   * Growth allowance per sample before smoothing: what lets the limit rise while latency
   * holds, and the queueing it tolerates. @default 4
   */
  queueSize?: number
  /** Samples the long-term (baseline) latency average spans. @default 600 */
  longWindow?: number
  /** Samples the short-term latency average spans; 1 uses the last sample alone, as Gradient2 does. @default 1 */
  shortWindow?: number
  /** Samples the baseline is a plain mean of before it turns exponential. @default 10 */
  warmupSamples?: number
}

/** Options of {@link createAdaptiveLimit}: an algorithm name and its options. */
export type AdaptiveLimitOptions =
  ({ algorithm?: 'aimd' } & AimdLimitOptions) | ({ algorithm: 'gradient' } & GradientLimitOptions)

/** Defaults of {@link AimdLimitOptions}. */
export const AIMD_DEFAULTS = Object.freeze({
  minLimit: 1,
  maxLimit: 1000,
  initialLimit: 20,
  increase: 1,
  backoffRatio: 0.9,
  targetLatencyMs: 1000,
})

/** Defaults of {@link GradientLimitOptions}. */
export const GRADIENT_DEFAULTS = Object.freeze({
  minLimit: 1,
  maxLimit: 1000,
  initialLimit: 20,
  smoothing: 0.2,
  queueSize: 4,
  longWindow: 600,
  shortWindow: 1,
  warmupSamples: 10,
})

const AIMD_NAMES = optionNames<{ algorithm?: 'aimd' } & AimdLimitOptions>()(AIMD_DEFAULTS, { algorithm: true })
const GRADIENT_NAMES = optionNames<{ algorithm?: 'gradient' } & GradientLimitOptions>()(GRADIENT_DEFAULTS, {
  algorithm: true,
})

/**
 * AIMD (additive increase, multiplicative decrease), TCP Reno's congestion avoidance
 * (Jacobson 1988; RFC 5681) applied to a limit as in Netflix concurrency-limits' AIMDLimit:
 * a success at or under the latency target adds `increase` unless the caller is
 * app-limited; a failure or a slower sample multiplies by `backoffRatio`. Each sample acts
 * on its own, so a burst of failures cuts fast (20 failures at 0.9 leave 12 %); the
 * breaker beside it is what stops traffic altogether.
 */
export class AimdLimit implements AdaptiveLimit {
  readonly algorithm = 'aimd'
  private value: number
  private readonly minLimit: number
  private readonly maxLimit: number
  private readonly increase: number
  private readonly backoffRatio: number
  private readonly targetLatencyMs: number

  /** @throws {InvalidArgumentError} when an option is out of range; the message names it. */
  constructor(options: AimdLimitOptions = {}) {
    knownOptions('adaptive options', options, AIMD_NAMES)
    const d = AIMD_DEFAULTS
    ;[this.minLimit, this.maxLimit, this.value] = bounds(options, d)
    this.increase = positiveNumber('increase', options.increase ?? d.increase)
    this.backoffRatio = numberInRange('backoffRatio', options.backoffRatio, 0.5, 1, {
      below: true,
      fallback: d.backoffRatio,
    })
    this.targetLatencyMs = positiveNumber('targetLatencyMs', options.targetLatencyMs ?? d.targetLatencyMs, true)
  }

  get limit(): number {
    return this.value
  }

  onSample(latencyMs: number | undefined, ok: boolean, inUse?: number): void {
    checkSample(latencyMs, inUse)
    if (!ok || (latencyMs !== undefined && latencyMs > this.targetLatencyMs)) {
      this.value = Math.max(this.minLimit, this.value * this.backoffRatio)
    } else if (inUse === undefined || inUse * 2 >= this.value) {
      this.value = Math.min(this.maxLimit, this.value + this.increase)
    }
  }
}

/**
 * A latency-gradient limit after Netflix concurrency-limits' Gradient2Limit (described in
 * "Performance Under Load", Netflix Tech Blog, 2018). It compares a short-term latency
 * (the last sample, or an EWMA over `shortWindow`) with a long-term baseline (a mean over
 * the first `warmupSamples`, then an EWMA over `longWindow` samples, factor 2 / (n + 1)):
 *
 *     gradient = clamp(long / short, 0.5, 1)        // 1: no queueing; never halve at once
 *     limit    = limit * (1 - smoothing) + (limit * gradient + queueSize) * smoothing
 *
 * When the baseline exceeds twice the short-term latency (load has passed) it decays by
 * 10 % per sample instead of waiting for the EWMA. App-limited samples update the averages
 * but not the limit. Two departures from Gradient2, which sees only latencies: a failure
 * is the strongest congestion signal, so it applies gradient 0.5 without the queue
 * allowance (a cut of `smoothing / 2`, 10 % by default) and is kept out of the averages,
 * where a fast error would drag the baseline down; a success without a latency carries no
 * information for it and changes nothing.
 */
export class GradientLimit implements AdaptiveLimit {
  readonly algorithm = 'gradient'
  private value: number
  private readonly minLimit: number
  private readonly maxLimit: number
  private readonly smoothing: number
  private readonly queueSize: number
  private readonly longFactor: number
  private readonly shortFactor: number
  private readonly warmupSamples: number
  private samples = 0
  private long = 0
  private short = 0

  /** @throws {InvalidArgumentError} when an option is out of range; the message names it. */
  constructor(options: GradientLimitOptions = {}) {
    knownOptions('adaptive options', options, GRADIENT_NAMES)
    const d = GRADIENT_DEFAULTS
    ;[this.minLimit, this.maxLimit, this.value] = bounds(options, d)
    this.smoothing = numberInRange('smoothing', options.smoothing, 0, 1, { above: true, fallback: d.smoothing })
    this.queueSize = numberInRange('queueSize', options.queueSize, 0, undefined, { fallback: d.queueSize })
    this.longFactor = 2 / (wholeNumber('longWindow', options.longWindow ?? d.longWindow, 1) + 1)
    this.shortFactor = 2 / (wholeNumber('shortWindow', options.shortWindow ?? d.shortWindow, 1) + 1)
    this.warmupSamples = wholeNumber('warmupSamples', options.warmupSamples ?? d.warmupSamples, 1)
  }

  get limit(): number {
    return this.value
  }

  /** The long-term latency baseline in ms; 0 before the first sample. */
  get longLatencyMs(): number {
    return this.long
  }

  /** The short-term latency in ms; 0 before the first sample. */
  get shortLatencyMs(): number {
    return this.short
  }

  onSample(latencyMs: number | undefined, ok: boolean, inUse?: number): void {
    checkSample(latencyMs, inUse)
    if (!ok) {
      this.value = Math.max(this.minLimit, this.value * (1 - this.smoothing / 2))
      return
    }
    if (latencyMs === undefined) return
    this.samples++
    if (this.samples <= this.warmupSamples) this.long += (latencyMs - this.long) / this.samples
    else this.long += (latencyMs - this.long) * this.longFactor
    this.short = this.samples === 1 ? latencyMs : this.short + (latencyMs - this.short) * this.shortFactor
    if (this.long > 2 * this.short) this.long *= 0.9
    if (inUse !== undefined && inUse * 2 < this.value) return
    // Written without a division so that zero latencies cannot produce NaN.
    const gradient = this.short <= this.long ? 1 : Math.max(0.5, this.long / this.short)
    const estimate = this.value * gradient + this.queueSize
    const next = this.value * (1 - this.smoothing) + estimate * this.smoothing
    this.value = Math.min(this.maxLimit, Math.max(this.minLimit, next))
  }
}

/**
 * Creates the adaptive limit named by `options.algorithm` (default `'aimd'`).
 * @throws {InvalidArgumentError} when the algorithm is unknown or an option is out of range
 */
export function createAdaptiveLimit(options: AdaptiveLimitOptions = {}): AdaptiveLimit {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`invalid adaptive options: expected an object, got ${String(options)}`)
  }
  const algorithm = options.algorithm ?? 'aimd'
  if (algorithm === 'aimd') return new AimdLimit(options)
  if (algorithm === 'gradient') return new GradientLimit(options)
  throw new InvalidArgumentError(`invalid algorithm: expected 'aimd' or 'gradient', got ${String(algorithm)}`)
}

/** Validates minLimit ≤ initialLimit ≤ maxLimit, moving only a defaulted initial limit into range. */
function bounds(options: AdaptiveLimitBounds, defaults: Required<AdaptiveLimitBounds>): [number, number, number] {
  const minLimit = positiveNumber('minLimit', options.minLimit ?? defaults.minLimit)
  const maxLimit = positiveNumber('maxLimit', options.maxLimit ?? defaults.maxLimit)
  if (maxLimit < minLimit) {
    throw new InvalidArgumentError(`invalid maxLimit: expected at least minLimit (${minLimit}), got ${maxLimit}`)
  }
  if (options.initialLimit === undefined) {
    return [minLimit, maxLimit, Math.min(maxLimit, Math.max(minLimit, defaults.initialLimit))]
  }
  return [minLimit, maxLimit, numberInRange('initialLimit', options.initialLimit, minLimit, maxLimit)]
}

function checkSample(latencyMs: number | undefined, inUse: number | undefined): void {
  if (latencyMs !== undefined && (typeof latencyMs !== 'number' || !(latencyMs >= 0 && latencyMs < Infinity))) {
    throw new InvalidArgumentError(
      `invalid latencyMs: expected a finite number of at least 0, got ${String(latencyMs)}`,
    )
  }
  if (inUse !== undefined && (typeof inUse !== 'number' || !(inUse >= 0 && inUse < Infinity))) {
    throw new InvalidArgumentError(`invalid inUse: expected a finite number of at least 0, got ${String(inUse)}`)
  }
}
