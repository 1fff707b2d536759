import { ClosedError, fromNativeError, InvalidArgumentError } from './errors'
import { native } from './native'
import { knownOptions, numberInRange, optionNames, wholeNumber } from './validate'

/** Options of {@link LatencyHistogram}. */
export interface LatencyHistogramOptions {
  /**
   * Smallest latency told apart from 0, in milliseconds; shorter ones are recorded at this
   * resolution.
   * @default 0.001 (1 µs)
   */
  lowestMs?: number
  /**
   * Largest latency recorded as is, in milliseconds; longer ones are recorded as this value
   * and counted in `clamped`. At least twice `lowestMs`.
   * @default 3_600_000 (1 h)
   */
  highestMs?: number
  /**
   * Decimal digits kept for every latency, 0 to 5: at 3, every value is reported within
   * 0.1 % of itself. Memory grows tenfold with each digit (192 KiB a shard at 3 with the
   * default range).
   * @default 3
   */
  significantFigures?: number
  /**
   * Independently locked parts that threads record into, 1 to 64. A shard's counters are
   * allocated on its first use, so a histogram recorded from one thread holds one.
   * @default 4
   */
  shards?: number
  /**
   * worker_threads of one process that open a histogram of the same name (and the same
   * options) record into one histogram; another configuration under that name throws a
   * `ConfigMismatchError`.
   */
  name?: string
}

/** Defaults of {@link LatencyHistogramOptions}. */
export const LATENCY_HISTOGRAM_DEFAULTS = Object.freeze({
  lowestMs: 0.001,
  highestMs: 3_600_000,
  significantFigures: 3,
  shards: 4,
})

/** The quantiles optlayer reports unless told otherwise: p50, p90, p99, p99.9. */
export const DEFAULT_QUANTILES: readonly number[] = Object.freeze([0.5, 0.9, 0.99, 0.999])

/** Figures of a {@link LatencyHistogram}, latencies in milliseconds; `null` where no value was recorded. */
export interface LatencySnapshot {
  /** Values recorded (invalid ones excluded). */
  count: number
  /** Sum of the values recorded (exact to the nanosecond). */
  sumMs: number
  /** Smallest value recorded. */
  minMs: number | null
  /** Largest value recorded. */
  maxMs: number | null
  /** Arithmetic mean (exact). */
  meanMs: number | null
  /** Standard deviation, within the histogram's precision. */
  stddevMs: number | null
  /** Median. */
  p50Ms: number | null
  /** 90th percentile. */
  p90Ms: number | null
  /** 99th percentile. */
  p99Ms: number | null
  /** 99.9th percentile. */
  p999Ms: number | null
  /** Values refused: NaN, negative or infinite. */
  invalid: number
  /** Values above `highestMs`, recorded as `highestMs`. */
  clamped: number
}

/** Options of the reads of a {@link LatencyHistogram}. */
export interface LatencyReadOptions {
  /**
   * A {@link LatencyHistogram.toBuffer} of the same histogram taken earlier: the read then
   * covers only what was recorded after it (a sliding window). If the histogram was reset
   * since, the read covers everything.
   */
  since?: Uint8Array
}

/** Figures the native read writes before the quantiles (count, sum, min, max, mean, stddev, invalid, clamped). */
const FIELDS = native.HISTOGRAM_STAT_FIELDS
const SNAPSHOT_QUANTILES = new Float64Array(DEFAULT_QUANTILES)

const OPTION_NAMES = optionNames<LatencyHistogramOptions>()(LATENCY_HISTOGRAM_DEFAULTS, { name: true })

function checkQuantiles(quantiles: readonly number[]): Float64Array {
  if (!Array.isArray(quantiles)) {
    throw new InvalidArgumentError(`invalid quantiles: expected an array of numbers from 0 to 1`)
  }
  for (const q of quantiles) numberInRange('quantile', q, 0, 1)
  return new Float64Array(quantiles)
}

function asBuffer(data: Uint8Array): Buffer {
  // IPC and worker messages may hand over a plain Uint8Array; the native side takes a Buffer view.
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

const orNull = (value: number | undefined): number | null => (value === undefined || Number.isNaN(value) ? null : value)

/**
 * A latency histogram in native memory (an HDR histogram from `crates/stats`): constant
 * memory and about 45 ns a record from JavaScript, every value kept to `significantFigures`
 * digits from `lowestMs` to `highestMs`, any quantile read at any time.
 *
 * Recording takes numbers only and creates nothing; reads write every figure into one reused
 * Float64Array in a single native call. Histograms serialize ({@link LatencyHistogram.toBuffer},
 * HdrHistogram V2 inside an envelope of exact totals) and merge exactly, which is how fleets
 * of processes add their latencies up; a `name` shares one histogram between worker_threads.
 *
 * @example
 * ```ts
 * const latency = new LatencyHistogram()
 * latency.record(12.5) // milliseconds
 * const [p50, p99] = latency.percentiles([0.5, 0.99])
 * const { count, meanMs, p999Ms } = latency.snapshot()
 * ```
 */
export class LatencyHistogram {
  /** The options in effect, defaults filled in. */
  readonly options: Readonly<{
    lowestMs: number
    highestMs: number
    significantFigures: number
    shards: number
    name: string | undefined
  }>
  private readonly native: InstanceType<typeof native.NativeHistogram>
  /**
   * The raw native recording function, bound to this histogram: `recorder(ms)` is
   * {@link LatencyHistogram.record} without the error translation, for the hottest loops.
   */
  readonly recorder: (valueMs: number) => void
  private out = new Float64Array(FIELDS + DEFAULT_QUANTILES.length)

  /** The native histogram, for native code recording into it (the HTTP front). @internal */
  get nativeHistogram(): unknown {
    return this.isClosed ? undefined : this.native
  }
  private isClosed = false

  constructor(options: LatencyHistogramOptions = {}) {
    knownOptions('latency histogram options', options, OPTION_NAMES)
    const d = LATENCY_HISTOGRAM_DEFAULTS
    const lowestMs = numberInRange('lowestMs', options.lowestMs, 1e-6, 1e12, { fallback: d.lowestMs })
    // The default too must be at least twice lowestMs.
    const highestMs = numberInRange('highestMs', options.highestMs ?? d.highestMs, 2 * lowestMs, 1e12)
    const significantFigures = wholeNumber('significantFigures', options.significantFigures, 0, 5, d.significantFigures)
    const shards = wholeNumber('shards', options.shards, 1, 64, d.shards)
    const name = options.name
    if (name !== undefined && (typeof name !== 'string' || name.length === 0)) {
      throw new InvalidArgumentError(`invalid name: expected a non-empty string, got ${String(name)}`)
    }
    try {
      this.native = new native.NativeHistogram({ lowestMs, highestMs, significantFigures, shards, name })
    } catch (err) {
      throw fromNativeError(err)
    }
    this.options = Object.freeze({ lowestMs, highestMs, significantFigures, shards, name })
    // A raw function bound to the histogram: napi-rs's per-call wrapping of methods costs
    // several times the record itself (see crates/node/src/raw_call.rs).
    this.recorder = this.native.recorders().record
  }

  /**
   * A histogram holding the serialized one, e.g. another process's {@link LatencyHistogram.toBuffer}
   * (or HdrHistogram V2 from another library); values are re-recorded at this histogram's
   * precision when the shapes differ.
   */
  static fromBuffer(data: Uint8Array, options: LatencyHistogramOptions = {}): LatencyHistogram {
    const histogram = new LatencyHistogram(options)
    try {
      histogram.merge(data)
    } catch (err) {
      histogram.close()
      throw err
    }
    return histogram
  }

  /**
   * Records one latency in milliseconds. NaN, negative and infinite values are counted as
   * `invalid` and not recorded; values above `highestMs` are recorded as `highestMs` and
   * counted as `clamped`. Throws `InvalidArgumentError` for a non-number, `ClosedError`
   * once closed.
   */
  record(valueMs: number): void {
    if (this.isClosed) throw closedError()
    try {
      this.recorder(valueMs)
    } catch (err) {
      throw fromNativeError(err)
    }
  }

  /**
   * Records the first `count` latencies (milliseconds) of `valuesMs` in one native call, each
   * as {@link LatencyHistogram.record} would: for hot paths that buffer their records.
   */
  recordMany(valuesMs: Float64Array, count: number = valuesMs.length): void {
    this.call(() => this.native.recordMany(valuesMs, count))
  }

  /**
   * The latency at each quantile (0 to 1; 0.99 is p99), in milliseconds, in one native call;
   * NaN where nothing was recorded.
   */
  percentiles(quantiles: readonly number[] = DEFAULT_QUANTILES, options: LatencyReadOptions = {}): number[] {
    const q = quantiles === DEFAULT_QUANTILES ? SNAPSHOT_QUANTILES : checkQuantiles(quantiles)
    const out = this.read(q, options.since)
    return Array.from(out.subarray(FIELDS, FIELDS + q.length))
  }

  /** Count, sum, extremes, mean, standard deviation and p50/p90/p99/p99.9, in one native call. */
  snapshot(options: LatencyReadOptions = {}): LatencySnapshot {
    const out = this.read(SNAPSHOT_QUANTILES, options.since)
    return {
      count: out[0] ?? 0,
      sumMs: out[1] ?? 0,
      minMs: orNull(out[2]),
      maxMs: orNull(out[3]),
      meanMs: orNull(out[4]),
      stddevMs: orNull(out[5]),
      invalid: out[6] ?? 0,
      clamped: out[7] ?? 0,
      p50Ms: orNull(out[8]),
      p90Ms: orNull(out[9]),
      p99Ms: orNull(out[10]),
      p999Ms: orNull(out[11]),
    }
  }

  /**
   * How many values were at most each bound (milliseconds), within the histogram's
   * precision: the cumulative `_bucket` counts of a Prometheus histogram.
   */
  cumulativeCounts(boundsMs: readonly number[], options: LatencyReadOptions = {}): number[] {
    if (!Array.isArray(boundsMs) || boundsMs.some((b) => typeof b !== 'number' || Number.isNaN(b))) {
      throw new InvalidArgumentError('invalid boundsMs: expected an array of numbers')
    }
    const bounds = new Float64Array(boundsMs)
    const out = new Float64Array(bounds.length)
    this.call(() =>
      this.native.cumulativeCounts(bounds, out, options.since === undefined ? undefined : asBuffer(options.since)),
    )
    return Array.from(out)
  }

  /**
   * Everything recorded, serialized: HdrHistogram V2 inside a small envelope with the exact
   * sum, extremes and invalid/clamped counts. Feed it to {@link LatencyHistogram.merge}
   * elsewhere, or keep it as the `since` of a later read.
   */
  toBuffer(): Buffer {
    return this.call(() => this.native.toBuffer())
  }

  /**
   * Adds another histogram into this one: a {@link LatencyHistogram}, its
   * {@link LatencyHistogram.toBuffer}, or plain or compressed HdrHistogram V2. Histograms of
   * the same options add exactly. Corrupt input throws `CorruptInputError` and changes nothing.
   */
  merge(source: LatencyHistogram | Uint8Array): void {
    const data = source instanceof LatencyHistogram ? source.toBuffer() : source
    if (!(data instanceof Uint8Array)) {
      throw new InvalidArgumentError('invalid source: expected a LatencyHistogram, a Buffer or a Uint8Array')
    }
    this.call(() => this.native.merge(asBuffer(data)))
  }

  /** Forgets everything recorded (for every worker thread sharing the histogram). */
  reset(): void {
    this.call(() => this.native.reset())
  }

  /** Bytes of native counters held now. */
  get allocatedBytes(): number {
    return this.call(() => this.native.allocatedBytes())
  }

  /** Whether {@link LatencyHistogram.close} was called. */
  get closed(): boolean {
    return this.isClosed
  }

  /**
   * Lets go of the native histogram (a named one lives on while other threads hold it);
   * later calls throw `ClosedError`. Idempotent.
   */
  close(): void {
    this.isClosed = true
    this.native.close()
  }

  /** Reads the figures and `quantiles` into the reused output array. */
  private read(quantiles: Float64Array, since: Uint8Array | undefined): Float64Array {
    if (this.out.length < FIELDS + quantiles.length) this.out = new Float64Array(FIELDS + quantiles.length)
    const out = this.out
    this.call(() => this.native.read(out, quantiles, since === undefined ? undefined : asBuffer(since)))
    return out
  }

  /** Every call but `record` goes through here: a closed histogram never reaches native. */
  private call<T>(fn: () => T): T {
    if (this.isClosed) throw closedError()
    try {
      return fn()
    } catch (err) {
      throw fromNativeError(err)
    }
  }
}

function closedError(): ClosedError {
  return new ClosedError('the histogram is closed')
}
