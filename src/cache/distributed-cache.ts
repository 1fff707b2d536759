import type { CompressionAlgorithm } from '../compress/algorithms'
import { Compressor } from '../compress/compressor'
import type { Serializer } from '../compress/serializer'
import { ClosedError, InvalidArgumentError, NotSerializableError, ValueTooLargeError } from '../core/errors'
import { LatencyHistogram } from '../core/latency-histogram'
import { native } from '../core/native'
import { CachedClock } from '../core/cached-clock'
import { checkKey } from '../ratelimit/key'
import { wholeNumber } from '../core/validate'
import { abortable } from './abortable'
import { resolveCacheOptions, type DistributedCacheOptions } from './cache-options'
import {
  callTtl,
  checkCallOptions,
  type CacheDeleteOptions,
  type CacheGetOptions,
  type CacheLoadOptions,
  type CacheSetOptions,
  type WarmOptions,
} from './call-options'
import { Invalidation, type InvalidationOp } from './invalidation'
import { L1Cache, NOT_FOUND } from './l1-cache'
import { Loading, type Found } from './loading'
import { NativeStore, type L2Stats } from './native-store'
import {
  COMPRESSED,
  decodePayload,
  encodePayload,
  encodeRecord,
  HEADER_BYTES,
  NEGATIVE,
  recordFlags,
  type Payload,
} from './record'
import { OutageJournal, type RedisChange, type WriteKind } from './outage-journal'
import { RedisAvailability } from './redis-availability'
import { RedisTier } from './redis-tier'
import { assertSerializable } from './serializable'
import { openCaches } from './cache-metrics'

/** Loads the value of a key on a miss; `undefined` means "not found". */
export type CacheLoader<V> = (key: string, signal: AbortSignal) => Promise<V | undefined> | V | undefined

/** What {@link DistributedCache.warm} did. */
export interface WarmReport {
  loaded: number
  /** Keys whose loader found nothing. */
  notFound: number
  failed: { key: string; error: unknown }[]
}

/** Hits and misses of one tier. */
export interface TierCounters {
  hits: number
  misses: number
}

/** What {@link DistributedCache.stats} reports. */
export interface DistributedCacheStats {
  name: string
  l1: (TierCounters & { entries: number; maxEntries: number; evictions: number }) | undefined
  /** Hits and misses are this cache's; the rest is the native store's, shared by threads that opened it. */
  l2: (TierCounters & Omit<L2Stats, 'hits' | 'misses'>) | undefined
  l3:
    | (TierCounters & {
        errors: number
        available: boolean
        latencyMs: { p50: number; p99: number; count: number }
      })
    | undefined
  loads: number
  loadErrors: number
  /** `getOrLoad` calls that joined a load already in flight (in this process). */
  coalesced: number
  /** Loads skipped because another process held the lease and its value arrived. */
  leaseWaits: number
  staleServed: number
  earlyRefreshes: number
  negativeHits: number
  bloomSkips: number
  invalidationsReceived: number
  /** Local tiers flushed because invalidations may have been missed. */
  flushes: number
  /** Writes and deletes made while Redis was away (see `outageJournal`). */
  outageJournal: {
    /** Keys waiting to be replayed to Redis. */
    pending: number
    /** Changes replayed to Redis after an outage. */
    replayed: number
    /** Writes and deletes refused with `UnavailableError` because the journal was full. */
    rejected: number
    /** Loaded values cached only locally (journal full), and changes still pending at `close`. */
    dropped: number
  }
}

const MISS = Symbol('miss')
/** getOrLoad must wait: neither a fresh nor a servable stale value is held locally. */
const WAIT = Symbol('wait')

/**
 * Wall-clock ms at most 1 ms old for the hit paths: `Date.now()` on every hit would cost as
 * much as the rest of an L1 hit. Shared by every cache of the thread.
 */
const clock = new CachedClock(Date.now, 1)

/**
 * A multi-tier cache: L1 live JavaScript values (bounded by count), L2 a native off-heap
 * store (bounded by bytes, no GC work, shared by worker_threads opening the same name), L3
 * Redis, Redis Cluster or sharded standalone servers. Misses go down the tiers and hits are
 * copied up. Writes go to every tier and tell the other instances on the same Redis to drop
 * their local copies.
 *
 * - Stampedes: concurrent `getOrLoad` misses of one key run the loader once per process,
 *   and with Redis once across processes (a lease; the others wait for its value). Values
 *   near expiry are reloaded early (XFetch) and, with `staleWhileRevalidateMs`, served
 *   stale while they reload.
 * - Redis away: reads and writes carry on from the local tiers (`onRedisError: 'soft'`),
 *   the outage is logged and counted, and writes and deletes are journaled. When Redis
 *   returns the journal is replayed to it (reads of a key not replayed yet are answered
 *   from the journal), the local tiers are flushed (other instances' changes were not
 *   heard) and L3 is used again. `durable` writes reject with `UnavailableError` instead.
 * - L1 hands out the stored object itself: do not mutate what you get.
 *
 * @example
 * ```ts
 * const cache = new DistributedCache({ l2: { maxBytes: 256 << 20 }, redis: { url: 'redis://127.0.0.1:6379' } })
 * await cache.set('user:1', { name: 'Ada' }, { ttlMs: 60_000 })
 * cache.getSync('user:1') // { name: 'Ada' } from L1 or L2, no promise
 * const user = await cache.getOrLoad('user:2', async (key) => db.users.find(key), { ttlMs: 60_000 })
 * await cache.close()
 * ```
 */
export class DistributedCache<V = unknown> {
  readonly name: string
  private readonly namespace: string
  private readonly defaultTtlMs: number
  private readonly maxKeyLength: number
  private readonly maxValueBytes: number
  private readonly staleMs: number
  private readonly l1TtlMs: number
  private readonly l2TtlMs: number
  private readonly l3TtlMs: number
  private readonly compressAbove: number
  private readonly compression: CompressionAlgorithm
  private readonly hardFail: boolean
  private readonly serializer: Serializer
  private readonly l1: L1Cache | undefined
  private readonly l2: NativeStore | undefined
  private readonly l3: RedisTier | undefined
  /** Whether Redis answers; present with `l3`. */
  private readonly redis: RedisAvailability | undefined
  private readonly journal: OutageJournal
  private readonly loading: Loading<V>
  private readonly invalidation: Invalidation | undefined
  private readonly bloom: InstanceType<typeof native.NativeBloomFilter> | undefined
  private readonly l3Latency = new LatencyHistogram({ shards: 1 })
  private closed = false
  /** The freshness of the value the latest `readL2` returned. */
  private l2FreshUntil = 0
  /** Redis reads in flight, and the drops they may have been overtaken by (see `readL3`). */
  private l3ReadsInFlight = 0
  /** Counts drops: each drop during a read takes the next number. */
  private dropSequence = 0
  /** The drop number of every key dropped while reads were in flight; emptied when none is. */
  private readonly droppedDuringReads = new Map<string, number>()
  /** The drop number of the latest flush of every local copy. */
  private lastFlush = 0
  private readonly durableWrites: boolean
  private readonly counts = {
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    l3Hits: 0,
    l3Misses: 0,
    negativeHits: 0,
    bloomSkips: 0,
  }

  /**
   * Opens the tiers; with `redis`, the first calls wait for the connection (see {@link ready}).
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option (of the
   *   cache or of a tier, the Redis connection included) is invalid or unknown; the message
   *   names it.
   * @throws {ConfigMismatchError} `code` `'ERR_OPTLAYER_CONFIG_MISMATCH'`: `l2.name` is open in
   *   this process with other options.
   */
  constructor(options: DistributedCacheOptions = {}) {
    const o = resolveCacheOptions(options)
    this.name = o.name
    this.namespace = o.namespace
    this.defaultTtlMs = o.defaultTtlMs
    this.maxKeyLength = o.maxKeyLength
    this.maxValueBytes = o.maxValueBytes
    this.staleMs = o.staleWhileRevalidateMs
    this.serializer = o.serializer
    this.hardFail = o.onRedisError === 'hard'
    this.durableWrites = o.durableWrites
    this.l1TtlMs = o.l1?.ttlMs ?? 0
    if (o.l1 !== undefined) this.l1 = new L1Cache(o.l1.maxEntries)
    this.l2TtlMs = o.l2TtlMs
    if (o.l2 !== undefined) this.l2 = new NativeStore(o.l2, this.maxKeyLength)
    this.l3TtlMs = o.l3.ttlMs
    this.compressAbove = o.l3.compressAboveBytes
    this.compression = o.l3.compression
    this.journal = new OutageJournal(
      { name: this.name, maxKeys: o.outageJournal.maxKeys, retryMs: o.outageJournal.retryMs, logger: o.logger },
      {
        isClosed: () => this.closed,
        unreachable: (key) => this.redis?.unreachable(key) ?? false,
        redisDown: () => this.redis?.down ?? false,
        connected: () => this.redis?.connected() ?? false,
        apply: (key, change) =>
          (this.redis as RedisAvailability).call(key, undefined, () => this.applyChange(key, change), false),
        dropLocal: (key) => this.dropLocal(key),
        unavailableError: (skipped) => {
          const redis = this.redis as RedisAvailability
          return skipped ? redis.skipped() : redis.unavailableError(undefined)
        },
      },
    )
    this.loading = new Loading<V>(
      { namespace: this.namespace, negativeTtlMs: o.negativeTtlMs, earlyBeta: o.earlyRefreshBeta, lease: o.lease },
      {
        skipsRedis: (key) => this.l3 === undefined || this.knownAbsentLocally(key),
        readL3: (key) => this.readL3(key),
        valueOf: (found) => this.valueOf(found),
        redisCall: (key, call) =>
          (this.redis as RedisAvailability).call(key, undefined, () => call(this.l3 as RedisTier)),
        storeLoaded: (key, value, ttlMs) => this.store(key, value, this.serialize(key, value), ttlMs, 'load'),
        storeNotFound: (key, freshUntil, now) => {
          this.writeLocal(key, NOT_FOUND, undefined, freshUntil, now)
          return this.writeL3(key, NOT_FOUND, freshUntil, 'load')
        },
      },
    )
    if (o.bloom !== undefined) {
      try {
        this.bloom = new native.NativeBloomFilter(o.bloom.expectedItems, o.bloom.falsePositiveRate)
      } catch (err) {
        throw new InvalidArgumentError(`invalid bloom: ${(err as Error).message}`, { cause: err })
      }
    }
    if (o.redis !== undefined) {
      this.l3 = new RedisTier({ redis: o.redis, timeoutMs: o.l3.timeoutMs })
      const first = this.l3.clients[0]
      if (first !== undefined) {
        this.invalidation = new Invalidation(
          first,
          `${this.namespace}:invalidate`,
          {
            onKey: (key, op) => {
              this.dropLocal(key)
              this.journal.supersede(key)
              if (op === 'set') this.bloom?.add(key)
            },
            onLost: () => this.flushLocal(),
            onClear: () => this.clearLocalAfterClear(),
          },
          o.l3.heartbeatMs,
        )
      }
      this.redis = new RedisAvailability(
        this.l3,
        { name: this.name, hardFail: this.hardFail, logger: o.logger },
        {
          isClosed: () => this.closed,
          redisKey: (key) => this.redisKey(key),
          flushLocal: () => this.flushLocal(),
          pendingChanges: () => this.journal.size,
          replay: () => void this.journal.replay(),
        },
      )
    }
    openCaches.add(this)
  }

  /** Resolves once Redis (if any) is connected and subscribed, or its connect timeout passed. */
  async ready(): Promise<void> {
    await Promise.all([this.l3?.ready(), this.invalidation?.ready()])
  }

  /**
   * The fresh value of `key` from the local tiers (L1, then L2), synchronously; `undefined`
   * on a miss. Never asks Redis.
   */
  getSync(key: string): V | undefined {
    if (this.closed) throw this.closedError()
    clock.touch()
    const now = clock.t
    const l1 = this.l1
    if (l1 !== undefined) {
      const entry = l1.getFresh(key, now)
      if (entry !== undefined) {
        this.counts.l1Hits++
        return entry.value === NOT_FOUND ? undefined : (entry.value as V)
      }
      this.counts.l1Misses++
    }
    checkKey(key, this.maxKeyLength)
    const value = this.readL2(key, now)
    return value === MISS || value === NOT_FOUND || this.l2FreshUntil <= now ? undefined : (value as V)
  }

  /**
   * The L2 tier's native store, for native components that read it directly (the HTTP
   * front reads stored responses under their cache keys); undefined without L2 or once closed.
   * @internal
   */
  nativeL2(): unknown {
    return this.closed ? undefined : this.l2?.native
  }

  /** The fresh value of `key` from the first tier holding it; `undefined` on a miss. */
  async get(key: string, options: CacheGetOptions = {}): Promise<V | undefined> {
    checkCallOptions('get', options)
    const local = this.getSync(key)
    if (local !== undefined || this.l3 === undefined) return local
    if (this.knownAbsentLocally(key)) return undefined
    const found = await this.readL3(key, options.signal)
    return found === undefined || found.freshUntil <= Date.now() || found.value === NOT_FOUND
      ? undefined
      : (found.value as V)
  }

  /** Whether `key` has a fresh value in some tier. */
  async has(key: string, options: CacheGetOptions = {}): Promise<boolean> {
    return (await this.get(key, options)) !== undefined
  }

  /** The values of `keys`, in order (`undefined` for misses): local tiers in one pass, Redis for the rest at once. */
  async mget(keys: readonly string[], options: CacheGetOptions = {}): Promise<(V | undefined)[]> {
    checkCallOptions('get', options)
    if (this.closed) throw this.closedError()
    if (!Array.isArray(keys)) throw new InvalidArgumentError('invalid keys: expected an array of strings')
    const values = this.readLocalMany(keys)
    if (this.l3 === undefined) return values
    await Promise.all(
      values.map(async (value, i) => {
        const key = keys[i] as string
        if (value !== undefined || this.knownAbsentLocally(key)) return
        const found = await this.readL3(key, options.signal)
        if (found !== undefined && found.freshUntil > Date.now() && found.value !== NOT_FOUND) {
          values[i] = found.value as V
        }
      }),
    )
    return values
  }

  /**
   * Stores `value` in every tier and tells the other instances to drop their copies. With
   * Redis away (soft mode) the write is journaled and replayed when Redis returns; a
   * `durable` write (or hard mode, or a full journal) rejects with `UnavailableError` instead
   * and leaves every tier as it was. Throws `InvalidArgumentError` for a bad key or TTL,
   * `NotSerializableError` for `undefined`, functions and symbols, `ValueTooLargeError`
   * past `maxValueBytes`. `options` may be the TTL in ms alone, as in cache-manager's
   * `set(key, value, ttl)`.
   */
  async set(key: string, value: V, options: CacheSetOptions | number = {}): Promise<void> {
    const call = typeof options === 'number' ? { ttlMs: options } : (options ?? {})
    checkCallOptions('set', call)
    const ttlMs = callTtl(call, this.defaultTtlMs)
    const kind = this.writeKind(call)
    await this.store(key, value, this.serialize(key, value), ttlMs, kind, call.signal)
  }

  /**
   * Stores every `[key, value]` pair as {@link set} does, concurrently. The TTL, keys and
   * values are all checked before any tier is written.
   */
  async mset(entries: Iterable<readonly [string, V]>, options: CacheSetOptions = {}): Promise<void> {
    checkCallOptions('set', options)
    const ttlMs = callTtl(options, this.defaultTtlMs)
    const kind = this.writeKind(options)
    const list = [...entries].map(([key, value]) => [key, value, this.serialize(key, value)] as const)
    await Promise.all(list.map(([key, value, payload]) => this.store(key, value, payload, ttlMs, kind, options.signal)))
  }

  /**
   * Removes `key` from every tier and tells the other instances; true if a local tier held
   * it. With Redis away it is journaled or rejected as {@link set} is.
   */
  async delete(key: string, options: CacheDeleteOptions = {}): Promise<boolean> {
    checkCallOptions('delete', options)
    if (this.closed) throw this.closedError()
    checkKey(key, this.maxKeyLength)
    const kind = this.writeKind(options)
    this.journal.refuseIfUnjournaled(key, kind)
    const held = this.dropLocal(key)
    if (this.l3 !== undefined) await this.writeL3(key, undefined, 0, kind, options.signal)
    return held
  }

  /**
   * The value of `key`, loading it with `loader` on a miss: one load per key at a time in
   * this process, and with Redis (lease on) one across processes. A stale value within
   * `staleWhileRevalidateMs` is returned at once while it reloads in the background; a
   * loader's `undefined` is remembered for `negativeTtlMs`. A loader's error reaches every
   * caller waiting for that load and nothing is cached.
   */
  async getOrLoad(key: string, loader: CacheLoader<V>, options: CacheLoadOptions = {}): Promise<V | undefined> {
    const local = this.loadLocal(key, loader, options)
    return local === WAIT ? this.load(key, loader, options) : local
  }

  /**
   * {@link getOrLoad} without a promise when it needs none: `{ value }` when the local tiers
   * answer (as {@link getOrLoadLocal}), else getOrLoad's promise, its load already started.
   * One read of the local tiers either way, for callers whose hits must not pay a promise.
   *
   * @example
   * ```ts
   * const answer = cache.getOrLoadNow('user:1', loadUser)
   * const user = answer instanceof Promise ? await answer : answer.value
   * ```
   */
  getOrLoadNow(
    key: string,
    loader: CacheLoader<V>,
    options: CacheLoadOptions = {},
  ): { value: V | undefined } | Promise<V | undefined> {
    const local = this.loadLocal(key, loader, options)
    return local === WAIT ? this.load(key, loader, options) : { value: local }
  }

  /**
   * What {@link getOrLoad} answers without waiting, synchronously: `{ value }` when the local
   * tiers hold `key` fresh (an early refresh started as getOrLoad would) or stale within
   * `staleWhileRevalidateMs` (its reload started); `undefined` when getOrLoad would wait for
   * Redis or the loader. For callers whose hits must not pay a promise.
   *
   * @example
   * ```ts
   * const local = cache.getOrLoadLocal('user:1', loadUser)
   * const user = local !== undefined ? local.value : await cache.getOrLoad('user:1', loadUser)
   * ```
   */
  getOrLoadLocal(
    key: string,
    loader: CacheLoader<V>,
    options: CacheLoadOptions = {},
  ): { value: V | undefined } | undefined {
    const local = this.loadLocal(key, loader, options)
    return local === WAIT ? undefined : { value: local }
  }

  /** The waiting part of getOrLoad: one load per key, shared; the call's signal stops its wait. */
  private load(key: string, loader: CacheLoader<V>, options: CacheLoadOptions): Promise<V | undefined> {
    return abortable(this.loading.flight(key, loader, callTtl(options, this.defaultTtlMs)), options.signal)
  }

  /** The local part of getOrLoad: the value it answers at once, or {@link WAIT}. */
  private loadLocal(key: string, loader: CacheLoader<V>, options: CacheLoadOptions): V | undefined | typeof WAIT {
    if (this.closed) throw this.closedError()
    checkKey(key, this.maxKeyLength)
    if (typeof loader !== 'function') throw new InvalidArgumentError('invalid loader: expected a function')
    checkCallOptions('load', options)
    const ttlMs = callTtl(options, this.defaultTtlMs)
    const now = Date.now()
    const local = this.readLocal(key, now)
    if (local === undefined) return WAIT
    if (local.freshUntil > now) {
      if (this.loading.shouldRefreshEarly(local.freshUntil, now)) this.loading.refreshEarly(key, loader, ttlMs)
      return this.valueOf(local)
    }
    if (local.freshUntil + this.staleMs > now) {
      this.loading.refreshStale(key, loader, ttlMs)
      return this.valueOf(local)
    }
    return WAIT
  }

  /**
   * {@link DistributedCache.getOrLoad} under the name lru-cache users know (`fetch`), with
   * the loader passed per call rather than configured once.
   */
  fetch(key: string, loader: CacheLoader<V>, options: CacheLoadOptions = {}): Promise<V | undefined> {
    return this.getOrLoad(key, loader, options)
  }

  /**
   * {@link DistributedCache.getOrLoad} as cache-manager's `wrap(key, fn, ttl)`: `fn` takes no
   * arguments and `ttlMs` (milliseconds, as cache-manager 5 and later) is the entry's TTL.
   */
  wrap(key: string, fn: () => Promise<V | undefined> | V | undefined, ttlMs?: number): Promise<V | undefined> {
    return this.getOrLoad(key, () => fn(), ttlMs === undefined ? {} : { ttlMs })
  }
  /**
   * Loads `keys` into the cache (those not already fresh), `concurrency` at a time.
   * Failures are collected, not thrown.
   */
  async warm(keys: Iterable<string>, loader: CacheLoader<V>, options: WarmOptions = {}): Promise<WarmReport> {
    const list = [...keys]
    // Checked once here: per key, the error would only land in `failed`.
    checkCallOptions('warm', options)
    const concurrency = wholeNumber('concurrency', options.concurrency, 1, 10_000, 8)
    const load = { ttlMs: callTtl(options, this.defaultTtlMs), signal: options.signal }
    if (typeof loader !== 'function') throw new InvalidArgumentError('invalid loader: expected a function')
    return this.loading.warm(list, concurrency, (key) => this.getOrLoad(key, loader, load), options)
  }

  /** Counters of every tier; see {@link DistributedCacheStats}. */
  stats(): DistributedCacheStats {
    const c = this.counts
    const loading = this.loading
    const journal = this.journal
    const l2 = this.l2?.stats()
    const latency = this.l3Latency.closed ? undefined : this.l3Latency.snapshot()
    return {
      name: this.name,
      l1:
        this.l1 === undefined
          ? undefined
          : {
              hits: c.l1Hits,
              misses: c.l1Misses,
              entries: this.l1.size,
              maxEntries: this.l1.maxEntries,
              evictions: this.l1.evictions,
            },
      l2: l2 === undefined ? undefined : { ...l2, hits: c.l2Hits, misses: c.l2Misses },
      l3:
        this.redis === undefined
          ? undefined
          : {
              hits: c.l3Hits,
              misses: c.l3Misses,
              errors: this.redis.errors,
              available: !this.redis.down,
              latencyMs: { p50: latency?.p50Ms ?? 0, p99: latency?.p99Ms ?? 0, count: latency?.count ?? 0 },
            },
      loads: loading.loads,
      loadErrors: loading.loadErrors,
      coalesced: loading.coalesced,
      leaseWaits: loading.leaseWaits,
      staleServed: loading.staleServed,
      earlyRefreshes: loading.earlyRefreshes,
      negativeHits: c.negativeHits,
      bloomSkips: c.bloomSkips,
      invalidationsReceived: this.invalidation?.received ?? 0,
      flushes: this.invalidation?.flushes ?? 0,
      outageJournal: {
        pending: journal.size,
        replayed: journal.replayed,
        rejected: journal.rejected,
        dropped: journal.dropped,
      },
    }
  }

  /** Drops every entry of the local tiers (L2 for every thread sharing it); Redis keeps its entries. */
  clearLocal(): void {
    if (this.closed) throw this.closedError()
    this.flushLocal()
  }

  /**
   * Empties the cache in every tier, as lru-cache's and cache-manager's `clear()`: this
   * instance's L1 and L2 (L2 for every thread sharing it), every key under the namespace in
   * Redis (SCAN and UNLINK on every node), and the local tiers of the other instances on the
   * same Redis (an invalidation message). Changes journaled during an outage are dropped.
   * Everything under `<namespace>:` goes, so caches that must not be emptied together need
   * namespaces of their own. With Redis away the local tiers are emptied and it rejects with
   * `UnavailableError`, Redis keeping its entries. Resolves to the number of Redis keys deleted.
   */
  async clear(): Promise<number> {
    if (this.closed) throw this.closedError()
    this.clearLocalAfterClear()
    if (this.l3 === undefined || this.redis === undefined) return 0
    const l3 = this.l3
    const pattern = `${globEscape(this.namespace)}:*`
    const deleted = await this.redis.call('', undefined, () => l3.deleteMatching(pattern), true)
    // Unannounced, it still reaches the others: their next message from us shows a gap, and a gap flushes.
    await this.invalidation?.publish('clear', '').catch(() => {})
    return deleted ?? 0
  }

  /** Closes the Redis connections and lets go of L2; later calls throw `ClosedError`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.loading.close()
    openCaches.delete(this)
    this.journal.close()
    this.redis?.close()
    this.l1?.clear()
    this.l2?.close()
    await Promise.all([this.invalidation?.close(), this.l3?.close()])
    this.l3Latency.close()
  }

  private closedError(): ClosedError {
    return new ClosedError(`cache '${this.name}' is closed`)
  }

  private valueOf(found: Found): V | undefined {
    if (found.value !== NOT_FOUND) return found.value as V
    this.counts.negativeHits++
    return undefined
  }

  /** Writes `value` (serialized as `payload`) to every tier, `ttlMs` already checked. */
  private async store(
    key: string,
    value: V,
    payload: Payload,
    ttlMs: number,
    kind: WriteKind,
    signal?: AbortSignal,
  ): Promise<void> {
    this.journal.refuseIfUnjournaled(key, kind)
    const now = Date.now()
    const freshUntil = ttlMs > 0 ? now + ttlMs : Infinity
    this.writeLocal(key, value, payload, freshUntil, now)
    this.bloom?.add(key)
    await this.writeL3(key, payload, freshUntil, kind, signal)
  }

  private writeKind(options: CacheDeleteOptions): WriteKind {
    const durable = options.durable ?? this.durableWrites
    if (typeof durable !== 'boolean') {
      throw new InvalidArgumentError(`invalid durable: expected a boolean, got ${String(durable)}`)
    }
    return durable || this.hardFail ? 'durable' : 'write'
  }

  private serialize(key: string, value: V): Payload {
    if (this.closed) throw this.closedError()
    checkKey(key, this.maxKeyLength)
    assertSerializable(value)
    let payload: Payload
    try {
      payload = encodePayload(value, this.serializer)
    } catch (err) {
      throw new NotSerializableError(`cannot serialize the value of '${key}': ${(err as Error).message}`, {
        cause: err,
      })
    }
    if (payload.bytes.length > this.maxValueBytes) {
      throw new ValueTooLargeError(
        `the value of '${key}' is ${payload.bytes.length} bytes serialized, above maxValueBytes (${this.maxValueBytes})`,
      )
    }
    return payload
  }

  /** Writes L1 and L2; `payload` undefined stores a "not found". */
  private writeLocal(key: string, value: unknown, payload: Payload | undefined, freshUntil: number, now: number): void {
    const hardMs = freshUntil === Infinity ? 0 : freshUntil - now + this.staleMs
    this.l1?.set(key, value, freshUntil, now + capTtl(hardMs, this.l1TtlMs, Infinity))
    this.l2?.set(key, encodeRecord(payload?.bytes, freshUntil, payload?.flags), capTtl(hardMs, this.l2TtlMs, 0))
  }

  /**
   * Sends a change of `key` to Redis (`payload` undefined: a delete; `NOT_FOUND`: a
   * remembered miss) and announces it. If Redis cannot take it, soft mode journals it for
   * replay; a durable write, or one the full journal has no room for, rejects with
   * `UnavailableError` and drops the local copy made for it. A loader's value stays local.
   */
  private async writeL3(
    key: string,
    payload: Payload | typeof NOT_FOUND | undefined,
    freshUntil: number,
    kind: WriteKind,
    signal?: AbortSignal,
  ): Promise<void> {
    if (this.l3 === undefined) return
    // Not abortable itself: an aborted caller stops waiting, the journal still learns the outcome.
    const failure = await abortable(this.journal.send(key, this.l3Change(payload, freshUntil), kind), signal)
    if (failure !== undefined) throw failure
  }

  /** What a change of a key sends to Redis: its record (undefined: a delete) and when it expires there. */
  private l3Change(payload: Payload | typeof NOT_FOUND | undefined, freshUntil: number): RedisChange {
    if (payload === undefined) return { record: undefined, expiresAt: 0 }
    const now = Date.now()
    const ttlMs = capTtl(freshUntil === Infinity ? 0 : freshUntil - now + this.staleMs, this.l3TtlMs, 0)
    let body = payload === NOT_FOUND ? undefined : payload.bytes
    let flags = payload === NOT_FOUND ? 0 : payload.flags
    if (body !== undefined && body.length >= this.compressAbove) {
      const packed = Compressor.compress(body, this.compression)
      if (packed.length < body.length) {
        body = packed
        flags |= COMPRESSED
      }
    }
    return { record: encodeRecord(body, freshUntil, flags), expiresAt: ttlMs === 0 ? 0 : now + ttlMs }
  }

  /** Makes Redis hold `change` (a deletion once it has expired) and announces it; true once done. */
  private async applyChange(key: string, change: RedisChange): Promise<true> {
    const { record, expiresAt } = change
    const now = Date.now()
    if (record === undefined || (expiresAt !== 0 && expiresAt <= now)) {
      await this.writeThenAnnounce((l3) => l3.delete(this.redisKey(key)), 'delete', key)
    } else {
      const ttlMs = expiresAt === 0 ? 0 : expiresAt - now
      await this.writeThenAnnounce((l3) => l3.set(this.redisKey(key), record, ttlMs), 'set', key)
    }
    return true
  }

  /**
   * Writes to Redis, then tells the other instances. On one standalone connection both go
   * out together: Redis runs a connection's commands in order, so no peer can hear of the
   * change before it is made. Elsewhere (Cluster, sharded) the message waits for the write.
   */
  private async writeThenAnnounce(
    write: (l3: RedisTier) => Promise<void>,
    op: InvalidationOp,
    key: string,
  ): Promise<void> {
    const l3 = this.l3 as RedisTier
    // The first changes after construction wait for the connection (within its timeout): the
    // client queues nothing while connecting, so the message would fail as if Redis were down.
    if (l3.connecting()) await l3.ready()
    if (l3.singleConnection) {
      // The write is issued first, in this tick: its command leaves before the message.
      await Promise.all([write(l3), this.invalidation?.publish(op, key)])
    } else {
      await write(l3)
      await this.invalidation?.publish(op, key)
    }
  }

  /** The value in L1 or L2, fresh or stale (the caller decides); copied up to L1 from L2. */
  private readLocal(key: string, now: number): Found | undefined {
    const entry = this.l1?.get(key, now)
    if (entry !== undefined) {
      this.counts.l1Hits++
      return entry
    }
    if (this.l1 !== undefined) this.counts.l1Misses++
    const value = this.readL2(key, now)
    return value === MISS ? undefined : { value, freshUntil: this.l2FreshUntil }
  }

  /**
   * The value in L2 (`MISS` if none), fresh or stale, copied up to L1; its freshness is left
   * in `l2FreshUntil` rather than in a new object, which a hit would otherwise allocate.
   */
  private readL2(key: string, now: number): unknown {
    const l2 = this.l2
    if (l2 === undefined) return MISS
    const len = l2.get(key)
    if (len < 0) {
      this.counts.l2Misses++
      return MISS
    }
    this.counts.l2Hits++
    return this.takeL2Record(key, l2.view, 0, len, now)
  }

  /**
   * Decodes the L2 record of `key` in `bytes[start, end)` (`NOT_FOUND` for a remembered miss),
   * copies it up to L1, and leaves its freshness in `l2FreshUntil`.
   */
  private takeL2Record(key: string, bytes: Buffer, start: number, end: number, now: number): unknown {
    const flags = recordFlags(bytes, start, end)
    const freshUntil = bytes.readDoubleLE(start + 1)
    const value = flags & NEGATIVE ? NOT_FOUND : decodePayload(flags, bytes, start + HEADER_BYTES, end, this.serializer)
    this.l1?.set(key, value, freshUntil, capL1(freshUntil + this.staleMs, now, this.l1TtlMs))
    this.l2FreshUntil = freshUntil
    return value
  }

  /** Fresh local values of `keys`: L1 one by one, then every L1 miss from L2 in one native call. */
  private readLocalMany(keys: readonly string[]): (V | undefined)[] {
    clock.touch()
    const now = clock.t
    const values: (V | undefined)[] = keys.map(() => undefined)
    const fromL2: number[] = []
    for (const [i, key] of keys.entries()) {
      checkKey(key, this.maxKeyLength)
      const entry = this.l1?.getFresh(key, now)
      if (entry !== undefined) {
        this.counts.l1Hits++
        values[i] = entry.value === NOT_FOUND ? undefined : (entry.value as V)
      } else {
        if (this.l1 !== undefined) this.counts.l1Misses++
        fromL2.push(i)
      }
    }
    if (this.l2 === undefined || fromL2.length === 0) return values
    const l2 = this.l2
    const lengths = l2.getMany(fromL2.map((i) => keys[i] as string))
    let offset = 0
    for (const [j, i] of fromL2.entries()) {
      const len = lengths === undefined ? -1 : (lengths[j] as number)
      if (len < 0) {
        this.counts.l2Misses++
        continue
      }
      this.counts.l2Hits++
      const value = this.takeL2Record(keys[i] as string, l2.view, offset, offset + len, now)
      offset += len
      if (value !== NOT_FOUND && this.l2FreshUntil > now) values[i] = value as V
    }
    return values
  }

  /** The record of `key` in Redis, copied into the local tiers; undefined on a miss or outage. */
  private async readL3(key: string, signal?: AbortSignal, retry = true): Promise<Found | undefined> {
    // Changed while Redis was away and not replayed yet: Redis still holds the older value.
    const pending = this.journal.get(key)
    if (pending !== undefined) {
      if (pending.record === undefined) return undefined
      return this.decodeL3Record(key, pending.record, true)
    }
    const since = this.dropSequence
    this.l3ReadsInFlight++
    const started = performance.now()
    let record: Buffer | null | undefined
    let dropped: boolean
    try {
      record = await (this.redis as RedisAvailability).call(key, signal, () =>
        (this.l3 as RedisTier).get(this.redisKey(key)),
      )
    } finally {
      dropped = this.lastFlush > since || (this.droppedDuringReads.get(key) ?? 0) > since
      if (--this.l3ReadsInFlight === 0) this.droppedDuringReads.clear()
    }
    if (record === undefined) return undefined
    this.l3Latency.record(performance.now() - started)
    // The key was invalidated while the read was in flight: the reply may predate the change
    // (replies and messages travel on different connections). Read once more; a value read
    // after the message arrived is current. If that is overtaken too, answer but do not keep it.
    if (dropped && retry) return this.readL3(key, signal, false)
    if (record === null) {
      this.counts.l3Misses++
      return undefined
    }
    this.counts.l3Hits++
    return this.decodeL3Record(key, record, !dropped)
  }

  /** The value in an L3 record, copied into the local tiers if `keep`. */
  private decodeL3Record(key: string, record: Buffer, keep: boolean): Found {
    const flags = recordFlags(record, 0, record.length)
    const freshUntil = record.readDoubleLE(1)
    if (flags & NEGATIVE) {
      if (keep) this.writeLocal(key, NOT_FOUND, undefined, freshUntil, Date.now())
      return { value: NOT_FOUND, freshUntil }
    }
    let bytes = record.subarray(HEADER_BYTES)
    if (flags & COMPRESSED) bytes = Compressor.decompress(bytes, this.compression)
    const value = decodePayload(flags, bytes, 0, bytes.length, this.serializer)
    const payload = { bytes, flags: flags & ~COMPRESSED }
    const now = Date.now()
    if (keep && freshUntil + this.staleMs > now) this.writeLocal(key, value, payload, freshUntil, now)
    return { value, freshUntil }
  }

  /** A miss the bloom filter proves (the key was never written anywhere this cache heard of). */
  private knownAbsentLocally(key: string): boolean {
    if (this.bloom === undefined || this.bloom.has(key)) return false
    this.counts.bloomSkips++
    return true
  }

  private dropLocal(key: string): boolean {
    if (this.l3ReadsInFlight > 0) this.droppedDuringReads.set(key, ++this.dropSequence)
    const inL1 = this.l1?.delete(key) ?? false
    const inL2 = this.l2?.delete(key) ?? false
    return inL1 || inL2
  }

  /** The local side of a clear, this instance's or another's: nothing pending may come back. */
  private clearLocalAfterClear(): void {
    this.flushLocal()
    this.journal.discardAll()
  }

  private flushLocal(): void {
    this.lastFlush = ++this.dropSequence
    this.l1?.clear()
    this.l2?.clear()
  }

  private redisKey(key: string): string {
    return `${this.namespace}:${key}`
  }
}

/** `text` matched literally by a Redis SCAN glob: its `*`, `?`, `[`, `]` and backslashes escaped. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/** `ttlMs` capped by a tier's own cap (0: none); `none` when neither limits. */
function capTtl(ttlMs: number, tierCapMs: number, none: number): number {
  if (ttlMs === 0) return tierCapMs === 0 ? none : tierCapMs
  return tierCapMs === 0 ? ttlMs : Math.min(ttlMs, tierCapMs)
}

/** L1 deadline of a value promoted from a lower tier. */
function capL1(hardUntil: number, now: number, l1TtlMs: number): number {
  return l1TtlMs === 0 ? hardUntil : Math.min(hardUntil, now + l1TtlMs)
}
