import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

import { AbortError } from '../core/errors'
import type { LeaseOptions } from './cache-options'
import type { WarmOptions } from './call-options'
import type { CacheLoader, WarmReport } from './distributed-cache'
import type { RedisTier } from './redis-tier'

/** A value read from a tier, stale or not. */
export interface Found {
  value: unknown
  freshUntil: number
}

/** What a {@link Loading} needs of its cache. @internal */
export interface LoadingHost<V> {
  /** Whether a load of `key` leaves Redis out: none configured, or the bloom filter proves the key was never written. */
  skipsRedis(key: string): boolean
  /** The record of `key` in Redis, copied into the local tiers; undefined on a miss or outage. */
  readL3(key: string): Promise<Found | undefined>
  /** A found value as callers get it (a remembered miss: `undefined`, counted). */
  valueOf(found: Found): V | undefined
  /** A call to Redis about `key`, through the outage tracking (`undefined` when it failed, in soft mode). */
  redisCall<T>(key: string, call: (l3: RedisTier) => Promise<T>): Promise<T | undefined>
  /** Stores a loaded value in every tier for `ttlMs`. */
  storeLoaded(key: string, value: V, ttlMs: number): Promise<void>
  /** Remembers in every tier, until `freshUntil`, that `key` has no value. */
  storeNotFound(key: string, freshUntil: number, now: number): Promise<void>
}

/** The options of a {@link Loading}. @internal */
export interface LoadingOptions {
  /** The cache's namespace in Redis (lease keys live under it). */
  namespace: string
  /** How long a loader's `undefined` is remembered (0: not at all). */
  negativeTtlMs: number
  /** The XFetch factor (`earlyRefreshBeta`; 0: no early refresh). */
  earlyBeta: number
  /** The cross-process lease; undefined when off. */
  lease: Required<LeaseOptions> | undefined
}

/**
 * The loads of a cache: one load per key at a time in this process (`flight`), and with
 * Redis one across processes (a lease; the others wait for its value). Values near expiry
 * are reloaded early (XFetch) and stale ones reloaded in the background; a loader's
 * `undefined` is remembered for `negativeTtlMs`.
 * @internal
 */
export class Loading<V> {
  /** Loader calls. */
  loads = 0
  /** Loader calls that threw or rejected. */
  loadErrors = 0
  /** Callers that joined a load already in flight (in this process). */
  coalesced = 0
  /** Loads skipped because another process held the lease and its value arrived. */
  leaseWaits = 0
  /** Stale values served while they reload. */
  staleServed = 0
  /** Fresh values reloaded early (XFetch). */
  earlyRefreshes = 0
  private readonly flights = new Map<string, Promise<V | undefined>>()
  /** Aborted on close: the signal loaders get. */
  private readonly closing = new AbortController()
  /** Mean load duration (ms), the XFetch scale. */
  private loadMs = 0

  constructor(
    private readonly o: LoadingOptions,
    private readonly host: LoadingHost<V>,
  ) {}

  /** XFetch: refresh with a probability that rises as expiry nears, scaled by the load time. */
  shouldRefreshEarly(freshUntil: number, now: number): boolean {
    if (this.o.earlyBeta === 0 || freshUntil === Infinity || this.loadMs === 0) return false
    return now - this.loadMs * this.o.earlyBeta * Math.log(Math.random()) >= freshUntil
  }

  /** Reloads a fresh value near its expiry in the background (see {@link shouldRefreshEarly}). */
  refreshEarly(key: string, loader: CacheLoader<V>, ttlMs: number): void {
    this.earlyRefreshes++
    this.refreshInBackground(key, loader, ttlMs)
  }

  /** Reloads a stale value being served (within `staleWhileRevalidateMs`) in the background. */
  refreshStale(key: string, loader: CacheLoader<V>, ttlMs: number): void {
    this.staleServed++
    this.refreshInBackground(key, loader, ttlMs)
  }

  /** The one load of `key` in flight in this process, joined by every concurrent caller. */
  flight(key: string, loader: CacheLoader<V>, ttlMs: number, refresh = false): Promise<V | undefined> {
    const running = this.flights.get(key)
    if (running !== undefined) {
      this.coalesced++
      return running
    }
    const promise = this.load(key, loader, ttlMs, refresh).finally(() => this.flights.delete(key))
    this.flights.set(key, promise)
    return promise
  }

  /**
   * Runs `load` for every key of `keys`, `concurrency` at a time, and reports what each
   * found. Failures are collected, not thrown.
   */
  async warm(
    keys: readonly string[],
    concurrency: number,
    load: (key: string) => Promise<V | undefined>,
    options: WarmOptions,
  ): Promise<WarmReport> {
    const report: WarmReport = { loaded: 0, notFound: 0, failed: [] }
    let next = 0
    let done = 0
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        if (options.signal?.aborted) throw new AbortError('warm was aborted')
        const key = keys[next++] as string
        try {
          const value = await load(key)
          if (value === undefined) report.notFound++
          else report.loaded++
        } catch (error) {
          report.failed.push({ key, error })
        }
        options.onProgress?.(++done, keys.length)
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker))
    return report
  }

  /** Aborts the signal loaders were given; loads that settle later store nothing. */
  close(): void {
    this.closing.abort()
  }

  private get closed(): boolean {
    return this.closing.signal.aborted
  }

  private refreshInBackground(key: string, loader: CacheLoader<V>, ttlMs: number): void {
    if (this.flights.has(key)) return
    // Counted in loadErrors; the stale or current value stays until its own expiry.
    this.flight(key, loader, ttlMs, true).catch(() => {})
  }

  private async load(key: string, loader: CacheLoader<V>, ttlMs: number, refresh: boolean): Promise<V | undefined> {
    const skipL3 = this.host.skipsRedis(key)
    if (!skipL3 && !refresh) {
      const found = await this.host.readL3(key)
      if (found !== undefined && found.freshUntil > Date.now()) return this.host.valueOf(found)
    }
    let leaseToken: string | undefined
    const lease = this.o.lease
    if (!skipL3 && lease !== undefined) {
      const token = randomBytes(12).toString('base64')
      const leaseKey = this.internalKey('lease', key)
      const taken = await this.host.redisCall(key, (l3) => l3.acquireLease(leaseKey, token, lease.ttlMs))
      if (taken === true) leaseToken = token
      else if (taken === false) {
        const arrived = await this.awaitOthersLoad(key, lease)
        if (arrived !== undefined) {
          this.leaseWaits++
          return this.host.valueOf(arrived)
        }
      }
    }
    try {
      this.loads++
      const started = performance.now()
      let value: V | undefined
      try {
        value = await loader(key, this.closing.signal)
      } catch (err) {
        this.loadErrors++
        throw err
      }
      const took = performance.now() - started
      this.loadMs = this.loadMs === 0 ? took : this.loadMs * 0.8 + took * 0.2
      if (this.closed) return value
      if (value === undefined) {
        if (this.o.negativeTtlMs > 0) await this.writeNegative(key)
        return undefined
      }
      await this.host.storeLoaded(key, value, ttlMs)
      return value
    } finally {
      if (leaseToken !== undefined) {
        const leaseKey = this.internalKey('lease', key)
        const token = leaseToken
        await this.host.redisCall(key, (l3) => l3.releaseLease(leaseKey, token))
      }
    }
  }

  /** Waits (up to lease.waitMs) for the process holding the lease to store the value. */
  private async awaitOthersLoad(key: string, lease: Required<LeaseOptions>): Promise<Found | undefined> {
    const { waitMs, pollMs } = lease
    const deadline = Date.now() + waitMs
    while (Date.now() < deadline && !this.closed) {
      await sleep(pollMs, undefined, { ref: false })
      const found = await this.host.readL3(key)
      if (found !== undefined && found.freshUntil > Date.now()) return found
    }
    return undefined
  }

  private async writeNegative(key: string): Promise<void> {
    const now = Date.now()
    await this.host.storeNotFound(key, now + this.o.negativeTtlMs, now)
  }

  /**
   * The Redis key of the cache's own record `kind` about `key`. User keys are
   * `<namespace>:<key>`; here a newline follows the namespace, which a namespace cannot
   * contain, so no user key can reach it. The user key stays whole at the end, so a hash
   * tag in it puts both keys in the same Cluster slot.
   */
  private internalKey(kind: 'lease', key: string): string {
    return `${this.o.namespace}\n${kind}:${key}`
  }
}
