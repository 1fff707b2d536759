import { ClosedError, fromNativeError, InvalidArgumentError } from '../core/errors'
import { native } from '../core/native'
import { functionOption, wholeNumber } from '../core/validate'
import type { RateLimitDecision } from './decision'
import type { FixedRateAlgorithm, Quota } from './quota'

/** What a local limiter does with a new key when it already tracks `maxKeys` keys. */
export type CapPolicy = 'reject-new' | 'evict-idle' | 'allow-untracked'

/** Options of the native keyed store behind a local limiter. */
export interface LocalStoreOptions {
  /**
   * Most keys tracked at once: the bound on memory (about 40–70 bytes a key, off the V8 heap).
   * @default 1_000_000; 10_000 for the adaptive algorithm
   */
  maxKeys?: number
  /**
   * At the key cap: `'evict-idle'` forgets keys whose state is back to full and then denies,
   * `'reject-new'` denies new keys (fail closed), `'allow-untracked'` admits them without
   * tracking (fail open). Each outcome is counted in the stats.
   * @default 'evict-idle'
   */
  atCap?: CapPolicy
  /** Independently locked shards, a power of two up to 256. @default 64 */
  shards?: number
  /** Longest key in UTF-8 bytes; longer or empty keys throw. @default 512 */
  maxKeyLength?: number
  /**
   * Worker threads of one process that open a limiter of the same name (and the same
   * options) share one store.
   */
  name?: string
  /** A clock in ms for tests and simulations; omitted, the native monotonic clock decides. */
  now?: () => number
}

/** Defaults of {@link LocalStoreOptions}. */
export const LOCAL_STORE_DEFAULTS = Object.freeze({
  maxKeys: 1_000_000,
  atCap: 'evict-idle' as CapPolicy,
  shards: 64,
  maxKeyLength: 512,
})

/** Counters of a local store. */
export interface LocalLimiterStats {
  /** Keys tracked now. */
  keys: number
  /** Idle keys forgotten. */
  evictions: number
  /** Requests of new keys denied at the key cap. */
  rejectedAtCap: number
  /** Requests of new keys admitted untracked at the key cap. */
  allowedUntracked: number
  /** Requests admitted. */
  allowed: number
  /** Requests denied. */
  denied: number
}

const ALGORITHM: Record<FixedRateAlgorithm, number> = {
  'token-bucket': native.LimiterAlgorithm.TokenBucket,
  gcra: native.LimiterAlgorithm.Gcra,
  'sliding-window': native.LimiterAlgorithm.SlidingWindow,
  'sliding-log': native.LimiterAlgorithm.SlidingLog,
  'fixed-window': native.LimiterAlgorithm.FixedWindow,
}

const CAP_POLICY: Record<CapPolicy, number> = {
  'reject-new': native.LimiterCapPolicy.RejectNew,
  'evict-idle': native.LimiterCapPolicy.EvictIdle,
  'allow-untracked': native.LimiterCapPolicy.AllowUntracked,
}

/** Shards swept per tick of the idle-key timer: a full pass every `shards / 8` seconds. */
const SWEEP_SHARDS_PER_TICK = 8
const SWEEP_INTERVAL_MS = 1000

/**
 * A keyed limiter in native memory: the synchronous engine behind `RateLimiter.allowSync`.
 * The native side answers with a boolean and leaves the three numbers in a shared
 * Float64Array, so one decision creates nothing natively; the decision object is built here.
 * @internal
 */
export class LocalLimiter {
  private readonly limiter: InstanceType<typeof native.NativeRateLimiter>
  private readonly decide: ReturnType<InstanceType<typeof native.NativeRateLimiter>['decisions']>
  private readonly scratch: Float64Array
  private readonly now: (() => number) | undefined
  private readonly sweeper: NodeJS.Timeout
  /** The largest cost of one request: the burst. */
  readonly capacity: number
  /**
   * Checked before every native call: the native handle of a closed limiter must never be
   * used, whatever the native side does with stale handles.
   */
  private closed = false

  /** The native store, for native code deciding with it (the HTTP front); none on a caller's clock. @internal */
  get native(): unknown {
    return this.now === undefined ? this.limiter : undefined
  }
  constructor(algorithm: FixedRateAlgorithm, quota: Quota, options: LocalStoreOptions = {}) {
    const atCap = options.atCap ?? LOCAL_STORE_DEFAULTS.atCap
    if (!(atCap in CAP_POLICY)) {
      throw new InvalidArgumentError(`invalid atCap: expected one of ${Object.keys(CAP_POLICY).join(', ')}`)
    }
    // Without one, the native monotonic clock decides. Checked before the native store exists.
    this.now = functionOption<() => number>('now', options.now)
    const maxKeys = wholeNumber('maxKeys', options.maxKeys, 1, undefined, LOCAL_STORE_DEFAULTS.maxKeys)
    const shards = wholeNumber('shards', options.shards, 1, 256, LOCAL_STORE_DEFAULTS.shards)
    const maxKeyLength = wholeNumber(
      'maxKeyLength',
      options.maxKeyLength,
      1,
      1 << 20,
      LOCAL_STORE_DEFAULTS.maxKeyLength,
    )
    try {
      this.limiter = new native.NativeRateLimiter({
        algorithm: ALGORITHM[algorithm],
        limit: quota.limit,
        windowMs: quota.windowMs,
        burst: quota.burst,
        maxKeys,
        atCap: CAP_POLICY[atCap],
        shards,
        maxKeyLength,
        name: options.name,
      })
    } catch (err) {
      throw fromNativeError(err)
    }
    this.capacity = quota.burst
    // Raw native functions bound to this limiter: napi-rs's per-call wrapping costs more
    // than a whole decision (see crates/node/src/raw_call.rs).
    this.decide = this.limiter.decisions()
    this.scratch = this.limiter.scratch()
    this.sweeper = sweepWhileAlive(this.limiter)
  }

  /** Decides a request of `cost` for `key`; throws typed errors for bad input. */
  allow(key: string, cost: number): RateLimitDecision {
    if (this.closed) throw closedError()
    let allowed: boolean
    try {
      allowed = this.now === undefined ? this.decide.allow(key, cost) : this.decide.allowAt(key, cost, this.now())
    } catch (err) {
      throw fromNativeError(err)
    }
    const s = this.scratch
    return { allowed, remaining: s[0]!, retryAfterMs: s[1]!, resetMs: s[2]! }
  }

  /** Keys tracked now. */
  get size(): number {
    if (this.closed) throw closedError()
    return this.limiter.size
  }

  /** The store's counters. */
  stats(): LocalLimiterStats {
    if (this.closed) throw closedError()
    return this.limiter.stats()
  }

  /** Stops the idle-key timer and lets go of the store; later calls throw `ClosedError`. */
  close(): void {
    this.closed = true
    clearInterval(this.sweeper)
    this.limiter.close()
  }
}

/**
 * Forgets idle keys on a timer. The timer holds the store weakly, so a limiter dropped
 * without `close()` is still collected (and its timer stops) instead of living forever.
 */
function sweepWhileAlive(limiter: InstanceType<typeof native.NativeRateLimiter>): NodeJS.Timeout {
  const store = new WeakRef(limiter)
  const timer: NodeJS.Timeout = setInterval(() => {
    const alive = store.deref()
    if (alive === undefined) clearInterval(timer)
    else alive.sweep(SWEEP_SHARDS_PER_TICK)
  }, SWEEP_INTERVAL_MS).unref()
  return timer
}

function closedError(): ClosedError {
  return new ClosedError('the rate limiter is closed')
}
