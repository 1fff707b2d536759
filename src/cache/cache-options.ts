import type { CompressionAlgorithm } from '../compress/algorithms'
import { msgpackSerializer, type Serializer } from '../compress/serializer'
import { InvalidArgumentError } from '../core/errors'
import {
  aliasedOption,
  booleanOption,
  invalidOption,
  knownOptions,
  MAX_TIMER_MS,
  numberInRange,
  optionNames,
  wholeNumber,
} from '../core/validate'
import { L2_DEFAULTS, type L2Options } from './native-store'
import type { CacheRedisConnection } from './redis-tier'

/** Options of the L1 tier: live JavaScript values. */
export interface L1Options {
  /** Most entries held; the least recently used (CLOCK) go first. @default 10_000 */
  maxEntries?: number
  /** Cap on how long an entry stays in L1, below the entry's own TTL. @default 0 (no cap) */
  ttlMs?: number
}

/** Options of the L3 tier beyond the connection. */
export interface L3TierOptions {
  /** A Redis call taking longer fails, and the cache carries on without L3. @default 1000 */
  timeoutMs?: number
  /** Cap on how long an entry stays in Redis, below the entry's own TTL. @default 0 (no cap) */
  ttlMs?: number
  /** Serialized values of at least this many bytes are compressed before they go to Redis. @default 1024 */
  compressAboveBytes?: number
  /** Codec for those values. @default 'zstd' */
  compression?: CompressionAlgorithm
  /**
   * How long (ms) after its last invalidation message a cache repeats that message's number,
   * so that peers which missed the last messages (a Cluster node or link away) find the gap
   * and flush their local tiers; at most this long after the channel works again. 0: never.
   * @default 1000
   */
  heartbeatMs?: number
}

/** Cross-process stampede protection: one process loads a key while the others wait for its value. */
export interface LeaseOptions {
  /** How long a lease holds if its process dies mid-load. @default 10_000 */
  ttlMs?: number
  /** How long the others wait for the value before loading it themselves. @default 5_000 */
  waitMs?: number
  /** How often a waiting process looks for the value. @default 25 */
  pollMs?: number
}

/**
 * What a cache remembers of the writes and deletes made while Redis is away, to replay them
 * when it returns (see `onRedisError`).
 */
export interface OutageJournalOptions {
  /**
   * Keys remembered, each with its latest value (as stored in Redis) or its deletion. Past
   * it, a `set` or `delete` of a key not already remembered rejects with `UnavailableError`
   * and changes nothing (a value a loader fetched is still cached locally, just not
   * replayed). 0 rejects every write during an outage. @default 10_000
   */
  maxKeys?: number
  /**
   * How often (ms) pending changes are retried while every client looks connected but calls
   * still fail: a Redis Cluster failing over a master emits no reconnection to wait for.
   * @default 1000
   */
  retryMs?: number
}

/** Options of a {@link DistributedCache}. */
export interface DistributedCacheOptions {
  /**
   * Label of this cache in metrics (`cache="…"`). @default `cache-1`, `cache-2`, … in order of
   * creation, as unnamed limiters, queues and pools number themselves
   */
  name?: string
  /**
   * Prefix of every Redis key (`<namespace>:<key>`) and name of the invalidation channel, so
   * services sharing a Redis do not see each other's entries or messages. `clear()` deletes
   * every key under it. The default stays clear of the rate limiter's and the durable queue's
   * key prefixes (`optlayer:rl:`, `optlayer:q:`). @default 'optlayer:cache'
   */
  namespace?: string
  /** TTL of entries set without one (ms); 0: until evicted. @default 300_000 */
  defaultTtlMs?: number
  /** `defaultTtlMs` under the name lru-cache and cache-manager users know (also ms); give one of the two. */
  ttl?: number
  /** `l1.maxEntries` under lru-cache's name; give one of the two. */
  max?: number
  /** The L1 tier, or `false` to go straight to L2. @default {} */
  l1?: L1Options | false
  /** The L2 tier, or `false` for none. @default {} */
  l2?: L2Options | false
  /** The L3 tier: Redis. Absent, the cache is local only. */
  redis?: CacheRedisConnection
  /** Options of the L3 tier. @default {} */
  l3?: L3TierOptions
  /** Turns values into bytes for L2 and L3. Its `decode` must not keep the bytes it is given. @default msgpackr */
  serializer?: Serializer
  /** Longest key, in UTF-8 bytes. @default 512 */
  maxKeyLength?: number
  /** Largest serialized value. @default 1 MiB */
  maxValueBytes?: number
  /** How long `getOrLoad` remembers that its loader found nothing (ms); 0: not at all. @default 0 */
  negativeTtlMs?: number
  /** How long past its TTL `getOrLoad` may serve a value while it reloads it in the background. @default 0 */
  staleWhileRevalidateMs?: number
  /**
   * Probabilistic early refresh (XFetch): a `getOrLoad` hit reloads ahead of expiry with a
   * probability rising as expiry nears, scaled by the last load's duration × `beta`; `false` disables it.
   * @default { beta: 1 }
   */
  earlyRefresh?: { beta?: number } | false
  /** Cross-process single-flight through a Redis lease (needs `redis`); `false` disables it. @default {} (on) */
  lease?: LeaseOptions | false
  /**
   * A bloom filter of the keys this cache (and, through invalidation messages, its peers)
   * has written: a key it has certainly never seen skips the Redis lookup. Only for
   * namespaces written solely through optlayer caches started before the writes.
   */
  bloom?: { expectedItems: number; falsePositiveRate?: number }
  /**
   * With Redis away: `'soft'` answers from the local tiers and journals writes and deletes
   * for replay when Redis returns (`outageJournal`); `'hard'` rejects with `UnavailableError`
   * and writes nothing. @default 'soft'
   */
  onRedisError?: 'soft' | 'hard'
  /** Bounds the soft mode's journal of writes made during an outage. @default {} */
  outageJournal?: OutageJournalOptions
  /**
   * The default of every write's `durable` option: with Redis away a write rejects with
   * `UnavailableError` and changes no tier, instead of being journaled. @default false
   */
  durableWrites?: boolean
  /** Where outages and recoveries are reported. @default process warnings */
  logger?: { warn(message: string): void }
}

/** Defaults of {@link DistributedCacheOptions}. */
export const DISTRIBUTED_CACHE_DEFAULTS = Object.freeze({
  namespace: 'optlayer:cache',
  defaultTtlMs: 300_000,
  l1MaxEntries: 10_000,
  maxKeyLength: 512,
  maxValueBytes: 1024 * 1024,
  compressAboveBytes: 1024,
  leaseTtlMs: 10_000,
  leaseWaitMs: 5_000,
  leasePollMs: 25,
  earlyRefreshBeta: 1,
  outageJournalMaxKeys: 10_000,
  outageJournalRetryMs: 1000,
  heartbeatMs: 1000,
})

/**
 * The longest TTL (ms) any tier takes: 2^53 − 1, about 285,000 years, the largest whole
 * number a JavaScript number holds exactly. Redis `PX` takes up to a 64-bit integer and
 * the native store up to 2^64 seconds; a larger or non-finite number would reach them as
 * an error after the local tiers were already written, so it is refused up front.
 */
export const CACHE_MAX_TTL_MS = Number.MAX_SAFE_INTEGER

/** A TTL in ms from 0 to {@link CACHE_MAX_TTL_MS} (0: no expiry where allowed), or `fallback` when absent. @internal */
export function ttl(name: string, value: unknown, fallback: number): number {
  return numberInRange(name, value, 0, CACHE_MAX_TTL_MS, { fallback, unit: 'milliseconds' })
}

// The defaults above are flat (`l1MaxEntries`, `leaseTtlMs`, ...), so the option names are
// listed here per options type; the compiler holds each list to its type.
const CACHE_NAMES = optionNames<DistributedCacheOptions>()(
  {},
  {
    name: true,
    namespace: true,
    defaultTtlMs: true,
    ttl: true,
    max: true,
    l1: true,
    l2: true,
    redis: true,
    l3: true,
    serializer: true,
    maxKeyLength: true,
    maxValueBytes: true,
    negativeTtlMs: true,
    staleWhileRevalidateMs: true,
    earlyRefresh: true,
    lease: true,
    bloom: true,
    onRedisError: true,
    outageJournal: true,
    durableWrites: true,
    logger: true,
  },
)
const L1_NAMES = optionNames<L1Options>()({}, { maxEntries: true, ttlMs: true })
const L2_NAMES = optionNames<L2Options>()(L2_DEFAULTS, { name: true, ttlMs: true })
const L3_NAMES = optionNames<L3TierOptions>()(
  {},
  { timeoutMs: true, ttlMs: true, compressAboveBytes: true, compression: true, heartbeatMs: true },
)
const LEASE_NAMES = optionNames<LeaseOptions>()({}, { ttlMs: true, waitMs: true, pollMs: true })
const JOURNAL_NAMES = optionNames<OutageJournalOptions>()({}, { maxKeys: true, retryMs: true })
const EARLY_REFRESH_NAMES = optionNames<Exclude<DistributedCacheOptions['earlyRefresh'], false | undefined>>()(
  {},
  { beta: true },
)
const BLOOM_NAMES = optionNames<NonNullable<DistributedCacheOptions['bloom']>>()(
  {},
  { expectedItems: true, falsePositiveRate: true },
)

/** Validated cache options with every default filled in; a tier turned off is `undefined`. @internal */
export interface ResolvedCacheOptions {
  name: string
  namespace: string
  defaultTtlMs: number
  maxKeyLength: number
  maxValueBytes: number
  negativeTtlMs: number
  staleWhileRevalidateMs: number
  /** 0 when early refresh is off. */
  earlyRefreshBeta: number
  serializer: Serializer
  onRedisError: 'soft' | 'hard'
  durableWrites: boolean
  outageJournal: Required<OutageJournalOptions>
  logger: { warn(message: string): void }
  l1: { maxEntries: number; ttlMs: number } | undefined
  /** Handed to the native store, which checks its sizes itself. */
  l2: L2Options | undefined
  /** Caps of the L2 entries; 0: none. */
  l2TtlMs: number
  redis: CacheRedisConnection | undefined
  l3: {
    timeoutMs: number
    ttlMs: number
    compressAboveBytes: number
    compression: CompressionAlgorithm
    heartbeatMs: number
  }
  /** `undefined` when off or without Redis. */
  lease: Required<LeaseOptions> | undefined
  bloom: { expectedItems: number; falsePositiveRate: number } | undefined
}

/** The lease options in effect: validated always, used only with Redis. */
function resolveLease(lease: LeaseOptions, withRedis: boolean): Required<LeaseOptions> | undefined {
  const d = DISTRIBUTED_CACHE_DEFAULTS
  const resolved = {
    ttlMs: wholeNumber('lease.ttlMs', lease.ttlMs, 1, undefined, d.leaseTtlMs),
    waitMs: wholeNumber('lease.waitMs', lease.waitMs, 0, undefined, d.leaseWaitMs),
    pollMs: wholeNumber('lease.pollMs', lease.pollMs, 1, undefined, d.leasePollMs),
  }
  return withRedis ? resolved : undefined
}

/** Unnamed caches created so far, which numbers the next one. */
let unnamed = 0

/**
 * Validates cache options and fills in defaults; throws {@link InvalidArgumentError} naming
 * the option at fault, misspelt option names included.
 * @internal
 */
export function resolveCacheOptions(options: DistributedCacheOptions = {}): ResolvedCacheOptions {
  knownOptions('cache options', options, CACHE_NAMES)
  const d = DISTRIBUTED_CACHE_DEFAULTS
  const namespace = options.namespace ?? d.namespace
  if (typeof namespace !== 'string' || namespace.length === 0 || namespace.includes('\n')) {
    throw new InvalidArgumentError('invalid namespace: expected a non-empty single-line string')
  }
  const name = options.name ?? `cache-${++unnamed}`
  if (typeof name !== 'string' || name.length === 0) throw invalidOption('name', 'a non-empty string', name)
  const onRedisError = options.onRedisError ?? 'soft'
  if (onRedisError !== 'soft' && onRedisError !== 'hard') {
    throw invalidOption('onRedisError', "'soft' or 'hard'", onRedisError)
  }
  knownOptions('outageJournal', options.outageJournal, JOURNAL_NAMES)
  const l1 = options.l1 === false ? undefined : (options.l1 ?? {})
  knownOptions('l1', l1, L1_NAMES)
  const maxEntries = aliasedOption('cache options', 'max', options.max, 'l1.maxEntries', l1?.maxEntries)
  const defaultTtl = aliasedOption('cache options', 'ttl', options.ttl, 'defaultTtlMs', options.defaultTtlMs)
  if (options.max !== undefined && l1 === undefined) {
    throw new InvalidArgumentError('invalid cache options: max sizes the L1 tier, which l1: false turns off')
  }
  const l2 = options.l2 === false ? undefined : (options.l2 ?? {})
  knownOptions('l2', l2, L2_NAMES)
  const l3 = options.l3 ?? {}
  knownOptions('l3', l3, L3_NAMES)
  const lease = options.lease === false ? undefined : (options.lease ?? {})
  knownOptions('lease', lease, LEASE_NAMES)
  const earlyRefresh = options.earlyRefresh === false ? undefined : options.earlyRefresh
  knownOptions('earlyRefresh', earlyRefresh, EARLY_REFRESH_NAMES)
  knownOptions('bloom', options.bloom, BLOOM_NAMES)
  return {
    name,
    namespace,
    defaultTtlMs: ttl(defaultTtl.name, defaultTtl.value, d.defaultTtlMs),
    maxKeyLength: wholeNumber('maxKeyLength', options.maxKeyLength, 1, 1 << 20, d.maxKeyLength),
    maxValueBytes: wholeNumber('maxValueBytes', options.maxValueBytes, 1, 2 ** 31, d.maxValueBytes),
    negativeTtlMs: ttl('negativeTtlMs', options.negativeTtlMs, 0),
    staleWhileRevalidateMs: ttl('staleWhileRevalidateMs', options.staleWhileRevalidateMs, 0),
    earlyRefreshBeta:
      options.earlyRefresh === false
        ? 0
        : numberInRange('earlyRefresh.beta', earlyRefresh?.beta, 0, 100, { fallback: d.earlyRefreshBeta }),
    serializer: options.serializer ?? msgpackSerializer({ copyBuffers: true }),
    onRedisError,
    durableWrites: booleanOption('durableWrites', options.durableWrites, false),
    outageJournal: {
      maxKeys: wholeNumber(
        'outageJournal.maxKeys',
        options.outageJournal?.maxKeys,
        0,
        undefined,
        d.outageJournalMaxKeys,
      ),
      retryMs: wholeNumber(
        'outageJournal.retryMs',
        options.outageJournal?.retryMs,
        1,
        MAX_TIMER_MS,
        d.outageJournalRetryMs,
      ),
    },
    logger: options.logger ?? { warn: (message) => process.emitWarning(message, 'OptlayerCacheWarning') },
    l1:
      l1 === undefined
        ? undefined
        : {
            maxEntries: wholeNumber(maxEntries.name, maxEntries.value, 1, 2 ** 24, d.l1MaxEntries),
            ttlMs: ttl('l1.ttlMs', l1.ttlMs, 0),
          },
    l2,
    l2TtlMs: ttl('l2.ttlMs', l2?.ttlMs, 0),
    redis: options.redis,
    l3: {
      timeoutMs: wholeNumber('l3.timeoutMs', l3.timeoutMs, 1, undefined, 1000),
      ttlMs: ttl('l3.ttlMs', l3.ttlMs, 0),
      compressAboveBytes: wholeNumber(
        'l3.compressAboveBytes',
        l3.compressAboveBytes,
        0,
        undefined,
        d.compressAboveBytes,
      ),
      compression: l3.compression ?? 'zstd',
      heartbeatMs: wholeNumber('l3.heartbeatMs', l3.heartbeatMs, 0, 2 ** 31 - 1, d.heartbeatMs),
    },
    // Checked without Redis too, so that a bad value is refused rather than silently unused.
    lease: lease === undefined ? undefined : resolveLease(lease, options.redis !== undefined),
    bloom:
      options.bloom === undefined
        ? undefined
        : { expectedItems: options.bloom.expectedItems, falsePositiveRate: options.bloom.falsePositiveRate ?? 0.01 },
  }
}
