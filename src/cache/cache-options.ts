import type { CompressionAlgorithm } from '../compress/algorithms'
import type { Serializer } from '../compress/serializer'
import { numberInRange } from '../core/validate'
import type { L2Options } from './native-store'
import type { CacheRedisConnection } from './redis-tier'

/** Options of the L1 tier: live JavaScript values. */
export interface L1Options {
  /** Most entries held; the least recently used (CLOCK) go first. @default 10_000 */
  maxEntries?: number
  /** Cap on how long an entry stays in L1, below the entry's own TTL. */
  ttlMs?: number
}

/** Options of the L3 tier beyond the connection. */
export interface L3TierOptions {
  /** A Redis call taking longer fails, and the cache carries on without L3. @default 1000 */
  timeoutMs?: number
  /** Cap on how long an entry stays in Redis, below the entry's own TTL. */
  ttlMs?: number
  /** Serialized values of at least this many bytes are compressed before they go to Redis. @default 1024 */
  compressAboveBytes?: number
  /** Codec for those values. @default 'zstd' */
  compression?: CompressionAlgorithm
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
  /** Label of this cache in metrics. @default 'default' */
  name?: string
  /**
   * Prefix of every Redis key (`<namespace>:<key>`) and name of the invalidation channel, so
   * services sharing a Redis do not see each other's entries or messages. @default 'optlayer'
   */
  namespace?: string
  /** TTL of entries set without one (ms); 0: until evicted. @default 300_000 */
  defaultTtlMs?: number
  /** The L1 tier, or `false` to go straight to L2. */
  l1?: L1Options | false
  /** The L2 tier, or `false` for none. */
  l2?: L2Options | false
  /** The L3 tier: Redis. Absent, the cache is local only. */
  redis?: CacheRedisConnection
  /** Options of the L3 tier. */
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
  /** Bounds the soft mode's journal of writes made during an outage. */
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
  name: 'default',
  namespace: 'optlayer',
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
