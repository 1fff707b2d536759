import Redis, { Cluster, ReplyError } from 'ioredis'

import {
  ClosedError,
  ConfigError,
  CostExceedsCapacityError,
  InternalError,
  InvalidArgumentError,
  type OptlayerError,
  UnavailableError,
} from '../core/errors'
import type { RateLimitDecision } from './decision'
import { checkKey } from './key'
import { validateQuota, type FixedRateAlgorithm, type Quota } from './quota'
import { RATE_LIMIT_SCRIPTS, scriptArguments } from './redis-scripts'
import { canSend, createRedisClient, warnIfUnsafeClient, whenReady, type RedisAddress } from '../redis/clients'
import { HangGuard } from '../redis/hang-guard'
import { WriteCoalescer } from '../redis/write-coalescer'
import { keyPart } from '../redis/key-part'
import { knownOptions, optionNames, wholeNumber } from '../core/validate'

/**
 * Where a {@link RedisRateLimitStore} finds Redis: a client of yours (`Redis` or `Cluster`,
 * left open by `close()`), or the address of a server (`{ url }`) or of cluster nodes
 * (`{ cluster }`, as `{ host, port }` objects or `'host:port'` strings), for which the store
 * creates a client of its own with the options described on the class.
 */
export type RedisConnection =
  Redis | Cluster | { url: string } | { cluster: ReadonlyArray<{ host: string; port: number }> | readonly string[] }

/** Options of a {@link RedisRateLimitStore}. */
export interface RedisRateLimitStoreOptions {
  /** The algorithm; every key of the store uses it. */
  algorithm: FixedRateAlgorithm
  /** Units admitted per window: a whole number from 1 to 2^32 − 1. */
  limit: number
  /** The window in milliseconds (the bucket algorithms refill `limit` per window). */
  windowMs: number
  /**
   * Units admitted at once, for `'token-bucket'` and `'gcra'` only; the window algorithms
   * admit exactly `limit` per window.
   * @default limit
   */
  burst?: number
  /** The Redis server or cluster. */
  redis: RedisConnection
  /**
   * Prepended to every key. It must not contain `{` or `}`: the user's key is the hash tag.
   * @default 'optlayer:rl:'
   */
  prefix?: string
  /**
   * Names this limiter in its keys; every process that opens a store with the same prefix,
   * name and algorithm shares its counts. It must not contain `{` or `}`.
   * @default the quota, as in `'100/1000ms'` (`'100/1000ms/b150'` with a burst), so that
   * limiters with different quotas never share keys
   */
  name?: string
  /**
   * Longest key accepted, in UTF-8 bytes; longer (and empty) keys are rejected before any
   * round trip.
   * @default 512
   */
  maxKeyLength?: number
  /**
   * For a client the store creates: the longest wait for a connection and for a reply, in
   * milliseconds, before a call rejects with {@link UnavailableError}.
   * @default 1000
   */
  timeoutMs?: number
}

/** The defaults of {@link RedisRateLimitStoreOptions}. */
export const REDIS_RATE_LIMIT_STORE_DEFAULTS = Object.freeze({
  prefix: 'optlayer:rl:',
  maxKeyLength: 512,
  timeoutMs: 1000,
})

const OPTION_NAMES = optionNames<RedisRateLimitStoreOptions>()(REDIS_RATE_LIMIT_STORE_DEFAULTS, {
  algorithm: true,
  limit: true,
  windowMs: true,
  burst: true,
  redis: true,
  name: true,
})

/**
 * Filled in by the call it is given to, as lru-cache's `status`: details of a decision that
 * the decision itself does not carry.
 */
export interface RedisDecisionStatus {
  /**
   * Redis' clock when it decided, in microseconds since the Unix epoch: it orders the
   * decisions of every process on one timeline, and tells which window a decision fell in.
   */
  timeUs?: number
}

/** Options of {@link RedisRateLimitStore.take}. */
export interface RedisTakeOptions {
  /** The fewest units worth taking: fewer available and nothing is taken. @default 1 */
  atLeast?: number
  /** Filled in with details of the decision. */
  status?: RedisDecisionStatus
}

/** What {@link RedisRateLimitStore.take} took. */
export interface RedisTakeResult {
  /** Units taken: from `atLeast` to `upTo` when `decision.allowed`, else 0. */
  granted: number
  /**
   * The decision on the units granted: `remaining` is what is left after them; when denied,
   * `retryAfterMs` is the wait for `atLeast` units.
   */
  decision: RateLimitDecision
}

type ScriptCommand = (key: string, ...args: number[]) => Promise<unknown>

// Reconnect quickly after an outage; capped so recovery is noticed within a second.
/**
 * Distributed rate limiting on Redis or Redis Cluster: every decision is one atomic Lua script
 * (one round trip, Redis `TIME` as the clock, one key per call, a TTL that removes the key once
 * its state is back to full; see `redis-scripts.ts`). Keys are
 * `${prefix}${name}:${algorithm}:{${key}}`: the user's key is the hash tag.
 *
 * **Never counted twice.** A script whose reply is lost (the connection dropped after Redis
 * ran it) must not run again, or the request would be counted twice. The store gets that from
 * client options rather than from request ids deduplicated in the scripts. Measured on the
 * development machine, the simplest Lua-side dedup (one id remembered per key) cost about the
 * same as no dedup (11–15 µs of Redis CPU and 31–50 µs per sequential round trip either way,
 * within the noise), but it is not enough: a correct one must remember every id whose retry may
 * still arrive, so a hot key would hold its request rate times the retry horizon in ids (and the
 * sliding log's list has nowhere to keep them), while client options cost nothing per call and
 * work for every algorithm. A client the store creates is configured so that no command written
 * to a socket is ever sent again:
 * `maxRetriesPerRequest: 0` (commands in flight when a connection closes are rejected at
 * once), `autoResendUnfulfilledCommands: false` (nor re-sent after a reconnect, which also
 * covers a command that timed out), and for a cluster `retryDelayOnFailover: 0` (ioredis would
 * otherwise send a command again to another node after its connection closed; redirections
 * such as MOVED, ASK, TRYAGAIN and CLUSTERDOWN are still followed: Redis refused those without
 * running them). A lost reply therefore rejects with {@link UnavailableError}: the request was
 * counted once or not at all, and the caller cannot tell which (as with any timeout).
 *
 * **Never hangs.** The store's client also has `enableOfflineQueue: false` (a call while
 * Redis is unreachable rejects at once, so {@link available} lets the caller skip it),
 * `commandTimeout` and `connectTimeout` of `timeoutMs`, and reconnects by itself (every 50 ms
 * growing to 1 s), so the same store works again once Redis is back. Calls made while the
 * first connection is being set up wait for it, up to `timeoutMs`.
 *
 * **Your own client** is used as it is, and you must configure it the same way:
 * `{ autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, commandTimeout }` for a
 * `Redis` (ioredis' defaults re-send an unanswered command after reconnecting, and a command
 * only rejects on its own with a `commandTimeout`); for a `Cluster`, `retryDelayOnFailover: 0`
 * and `redisOptions: { commandTimeout }`. The store emits a process warning (code
 * `OPTLAYER_UNSAFE_REDIS_CLIENT`) when a client lacks them. It defines its scripts on your
 * client with `defineCommand` (commands named `optlayerRateLimit*`).
 */
export class RedisRateLimitStore {
  /** The algorithm of every key. */
  readonly algorithm: FixedRateAlgorithm
  /** The validated quota. */
  readonly quota: Quota
  /** The largest cost of one request: the burst (equal to the limit for the window algorithms). */
  readonly capacity: number
  /** Longest key accepted, in UTF-8 bytes. */
  readonly maxKeyLength: number
  private readonly client: Redis | Cluster
  /** A client that let a command time out gets none until it answers a probe: a hung Redis costs one timeout. */
  private readonly hangs = new HangGuard()
  private readonly writes = new WriteCoalescer()
  private readonly ownsClient: boolean
  private readonly keyPrefix: string
  private readonly parameters: readonly number[]
  private readonly script: ScriptCommand
  private startup: Promise<void> | undefined
  private readonly closed = new AbortController()
  private closing: Promise<void> | undefined

  /** Validates the options (throwing {@link InvalidArgumentError}) and connects when given an address. */
  constructor(options: RedisRateLimitStoreOptions) {
    knownOptions('redis rate limit store options', options, OPTION_NAMES)
    const { algorithm } = options
    if (!(typeof algorithm === 'string' && Object.hasOwn(RATE_LIMIT_SCRIPTS, algorithm))) {
      throw new InvalidArgumentError(
        `invalid algorithm: expected one of ${Object.keys(RATE_LIMIT_SCRIPTS).join(', ')}, got ${String(algorithm)}`,
      )
    }
    this.algorithm = algorithm
    this.quota = validateQuota(algorithm, options)
    this.capacity = this.quota.burst
    this.parameters = scriptArguments(algorithm, this.quota)
    const { limit, windowMs, burst } = this.quota
    const prefix = keyPart('prefix', options.prefix ?? REDIS_RATE_LIMIT_STORE_DEFAULTS.prefix, true)
    const name = keyPart('name', options.name ?? `${limit}/${windowMs}ms${burst === limit ? '' : `/b${burst}`}`, true)
    this.keyPrefix = `${prefix}${name}:${algorithm}:`
    this.maxKeyLength = wholeNumber(
      'maxKeyLength',
      options.maxKeyLength,
      1,
      undefined,
      REDIS_RATE_LIMIT_STORE_DEFAULTS.maxKeyLength,
    )
    const timeoutMs = wholeNumber(
      'timeoutMs',
      options.timeoutMs,
      1,
      undefined,
      REDIS_RATE_LIMIT_STORE_DEFAULTS.timeoutMs,
    )

    const { redis } = options
    if (isClient(redis)) {
      this.client = redis
      this.ownsClient = false
      warnIfUnsafeClient(redis, 'may count a rate-limited request twice after a reconnect')
    } else {
      this.client = createRedisClient(redis as RedisAddress, { timeoutMs, atMostOnce: true })
      this.ownsClient = true
      this.startup = whenReady(this.client, timeoutMs, this.closed.signal).finally(() => {
        this.startup = undefined
      })
    }
    const { command, lua } = RATE_LIMIT_SCRIPTS[algorithm]
    this.client.defineCommand(command, { numberOfKeys: 1, lua })
    this.script = (this.client as unknown as Record<string, ScriptCommand>)[command] as ScriptCommand
  }

  /**
   * Decides a request of `cost` units for `key` and, when admitted, consumes them. A cost of 0
   * asks without consuming.
   *
   * Rejects with {@link InvalidArgumentError} for an empty or oversized key or a cost that is
   * not a whole number, {@link CostExceedsCapacityError} for a cost above {@link capacity}
   * (both before any round trip), {@link UnavailableError} when Redis does not answer (the
   * original error as `cause`), {@link ConfigError} when the key holds data of another kind,
   * and {@link ClosedError} after {@link close}.
   */
  async decide(key: string, cost: number, status?: RedisDecisionStatus): Promise<RateLimitDecision> {
    this.checkRequest(key, cost)
    return (await this.run(key, cost, 0, status)).decision
  }

  /**
   * Takes as many units as are available for `key`, up to `upTo` (at most {@link capacity}),
   * if at least `atLeast` are; otherwise takes nothing. `take(key, n, { atLeast: n })` decides
   * exactly as `decide(key, n)`. Rejects as {@link decide} does.
   */
  async take(key: string, upTo: number, options: RedisTakeOptions = {}): Promise<RedisTakeResult> {
    const atLeast = options.atLeast ?? 1
    if (!Number.isSafeInteger(upTo) || upTo < 1) {
      throw new InvalidArgumentError(`invalid upTo: expected a whole number of at least 1, got ${String(upTo)}`)
    }
    if (!Number.isSafeInteger(atLeast) || atLeast < 1 || atLeast > upTo) {
      throw new InvalidArgumentError(
        `invalid atLeast: expected a whole number from 1 to upTo (${upTo}), got ${String(atLeast)}`,
      )
    }
    this.checkRequest(key, atLeast)
    return this.run(key, Math.min(upTo, this.capacity), atLeast, options.status)
  }

  /**
   * Throws the error {@link decide} would reject with for this key and cost before any round
   * trip (for callers that answer some requests without one).
   */
  checkRequest(key: string, cost: number): void {
    checkKey(key, this.maxKeyLength)
    if (!Number.isSafeInteger(cost) || cost < 0) {
      throw new InvalidArgumentError(`invalid cost: expected a whole number of at least 0, got ${String(cost)}`)
    }
    if (cost > this.capacity) {
      throw new CostExceedsCapacityError(
        `a request of cost ${cost} can never be admitted: the limiter holds at most ${this.capacity} (raise burst or lower the cost)`,
      )
    }
  }

  /**
   * Whether the client is connected and ready: while it is not, calls reject at once with
   * {@link UnavailableError}, so a caller with a fallback can skip the attempt.
   */
  available(): boolean {
    return this.closing === undefined && canSend(this.client) && !this.hangs.suspect(this.client)
  }

  /**
   * Closes the client the store created (a client you passed stays open). Calls in flight
   * settle; later calls reject with {@link ClosedError}. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed.abort()
      this.hangs.close()
      if (!this.ownsClient) return
      try {
        await this.client.quit()
      } catch {
        // Not connected: nothing to say goodbye to.
        this.client.disconnect()
      }
    })()
    return this.closing
  }

  /** The Redis key that holds `key`'s state (before any `keyPrefix` of your client). */
  redisKey(key: string): string {
    return `${this.keyPrefix}{${key}}`
  }

  private async run(
    key: string,
    upTo: number,
    atLeast: number,
    status: RedisDecisionStatus | undefined,
  ): Promise<RedisTakeResult> {
    if (this.closing !== undefined) throw new ClosedError('the rate limit store is closed')
    if (this.startup !== undefined && this.client.status !== 'ready') await this.startup
    if (this.hangs.suspect(this.client)) {
      throw new UnavailableError('Redis let a command time out and has not answered a probe since: not waiting on it')
    }
    let reply: unknown
    try {
      this.writes.beforeCommand(this.client)
      reply = await this.script.call(this.client, this.redisKey(key), upTo, atLeast, ...this.parameters)
    } catch (error) {
      this.hangs.failed(this.client, error)
      throw this.failure(error)
    }
    if (!isReply(reply)) {
      throw new InternalError(`unexpected reply from the ${this.algorithm} script: ${JSON.stringify(reply)}`)
    }
    const [allowed, remaining, retryAfterMs, resetMs, granted, timeUs] = reply
    if (status !== undefined) status.timeUs = timeUs
    return { granted, decision: { allowed: allowed === 1, remaining, retryAfterMs, resetMs } }
  }

  private failure(error: unknown): OptlayerError {
    if (this.closing !== undefined) return new ClosedError('the rate limit store was closed', { cause: error })
    const message = error instanceof Error ? error.message : String(error)
    if (error instanceof ReplyError && message.startsWith('WRONGTYPE')) {
      return new ConfigError(
        `a rate limit key under '${this.keyPrefix}' holds data of another kind: choose another prefix or name`,
        { cause: error },
      )
    }
    if (error instanceof ReplyError && /^ERR .*script/i.test(message)) {
      return new InternalError(`the ${this.algorithm} script failed: ${message}`, { cause: error })
    }
    return new UnavailableError(`Redis did not decide: ${message}`, { cause: error })
  }
}

function isClient(redis: RedisConnection): redis is Redis | Cluster {
  return typeof (redis as Partial<Redis>).defineCommand === 'function'
}

function isReply(reply: unknown): reply is [number, number, number, number, number, number] {
  return Array.isArray(reply) && reply.length === 6 && reply.every((value) => typeof value === 'number')
}
