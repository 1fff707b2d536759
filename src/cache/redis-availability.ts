import type { EventEmitter } from 'node:events'

import type { Cluster, Redis } from 'ioredis'

import { AbortError, UnavailableError } from '../core/errors'
import { canSend, socketEnded } from '../redis/clients'
import { HangGuard } from '../redis/hang-guard'
import { abortable } from './abortable'
import type { RedisTier } from './redis-tier'

/** What a {@link RedisAvailability} needs of its cache. @internal */
export interface AvailabilityHost {
  /** Whether the cache is closed: an outage or a recovery then changes nothing. */
  isClosed(): boolean
  /** The Redis key of a cache key (it decides which connection serves the key). */
  redisKey(key: string): string
  /** Drops every local copy. */
  flushLocal(): void
  /** Changes made while Redis was away, waiting to be replayed. */
  pendingChanges(): number
  /** Replays them to Redis; never rejects. */
  replay(): void
}

/** The options of a {@link RedisAvailability}. @internal */
export interface AvailabilityOptions {
  /** The cache's name, in messages. */
  name: string
  /** `onRedisError: 'hard'`: a failed call rejects with `UnavailableError` rather than answering `undefined`. */
  hardFail: boolean
  logger: { warn(message: string): void }
}

/**
 * Whether Redis answers. During a known outage calls are not attempted (except for keys
 * whose connection is ready again); a failure starts an outage, a reconnection or a call
 * that works ends it, and each is logged once. A reconnection flushes the local tiers; the
 * end of an outage replays the outage journal. A connection that stays open but stopped
 * answering (a command timed out on it) gets no calls until it answers a probe, so a hung
 * Redis costs one timeout, not one per call.
 * @internal
 */
export class RedisAvailability {
  /** Whether an outage is known. */
  down = false
  /** Redis calls that failed or were skipped during an outage. */
  errors = 0
  /** Listeners added to the Redis clients (maybe the caller's), removed by `close`. */
  private readonly listeners: [client: EventEmitter, event: string, listener: () => void][] = []
  /** Connections that look ready but let a command time out; a probe that works ends the outage. */
  private readonly hangs = new HangGuard(() => this.markUp(false))

  constructor(
    private readonly l3: RedisTier,
    private readonly o: AvailabilityOptions,
    private readonly host: AvailabilityHost,
  ) {
    for (const client of l3.clients) {
      this.listen(client, 'close', () => this.markDown(new Error('connection closed')))
      this.listen(client, 'ready', () => this.markUp(true))
    }
  }

  /**
   * Runs a Redis call for `key`. While Redis is away it is not attempted; a failure marks the
   * outage, a success ends it. `hard` false answers `undefined` on failure; true rejects
   * with `UnavailableError`.
   */
  async call<T>(
    key: string,
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
    hard = this.o.hardFail,
  ): Promise<T | undefined> {
    if (signal?.aborted) throw new AbortError('the cache call was aborted')
    if (this.unreachable(key)) return this.failed(undefined, hard)
    let result: T
    try {
      result = await abortable(call(), signal)
    } catch (err) {
      if (err instanceof AbortError) throw err
      this.hangs.failed(this.clientOf(key), err)
      return this.failed(err, hard)
    }
    // A Cluster that lost one master emits no 'ready' once it has failed over: a call that
    // works is the sign.
    if (this.down) this.markUp(false)
    return result
  }

  /**
   * Whether a call for `key` would not be attempted now: an outage is known and its
   * connection is not ready, or its connection is hung. A socket that has just ended makes
   * the outage known here, before a call or change is sent into it.
   */
  unreachable(key: string): boolean {
    const client = this.clientOf(key)
    if (socketEnded(client)) this.markDown(new Error('connection closed'))
    if (!this.down && !this.hangs.any) return false
    return this.hangs.suspect(client) || (this.down && !canSend(client))
  }

  /** Whether every connection is ready. */
  connected(): boolean {
    return this.l3.clients.every(canSend)
  }

  /** The `UnavailableError` of a call or change Redis could not take. */
  unavailableError(cause: unknown): UnavailableError {
    return new UnavailableError(`cache '${this.o.name}': Redis is unavailable`, { cause })
  }

  /** The error of a call not attempted because Redis is away, counted as a failed call. */
  skipped(): UnavailableError {
    this.errors++
    return this.unavailableError(undefined)
  }

  /** Removes the listeners this cache added to the Redis clients. */
  close(): void {
    for (const [client, event, listener] of this.listeners) client.off(event, listener)
    this.listeners.length = 0
    this.hangs.close()
  }

  /** The connection that serves `key`. */
  private clientOf(key: string): Redis | Cluster {
    return this.l3.clientFor(this.host.redisKey(key))
  }

  private failed(err: unknown, hard: boolean): undefined {
    this.errors++
    if (err !== undefined) this.markDown(err as Error)
    if (hard) throw this.unavailableError(err)
    return undefined
  }

  private markDown(err: Error): void {
    if (this.down || this.host.isClosed()) return
    this.down = true
    this.o.logger.warn(`optlayer cache '${this.o.name}': Redis unavailable (${err.message}); serving from local tiers`)
  }

  /** Ends an outage; `reconnected` when a connection came back rather than a call succeeded. */
  private markUp(reconnected: boolean): void {
    if (!this.down || this.host.isClosed()) return
    this.down = false
    // Other instances' changes made while the connection was down were not heard: the local
    // copies may be stale. Our own changes are safe in the journal.
    if (reconnected) this.host.flushLocal()
    const pending = this.host.pendingChanges()
    this.o.logger.warn(
      `optlayer cache '${this.o.name}': Redis is back` +
        (reconnected ? '; local tiers flushed' : '') +
        (pending > 0 ? `; replaying ${pending} changes made meanwhile` : ''),
    )
    this.host.replay()
  }

  /** Adds `listener` to a Redis client, to be removed on close: the client may be the caller's. */
  private listen(client: EventEmitter, event: string, listener: () => void): void {
    client.on(event, listener)
    this.listeners.push([client, event, listener])
  }
}
