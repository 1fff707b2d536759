import type Redis from 'ioredis'
import type { Cluster } from 'ioredis'

import { InvalidArgumentError } from '../core/errors'
import { native } from '../core/native'
import { knownOptions } from '../core/validate'
import { createRedisClient, redisUrl, whenReady, type RedisAddress } from '../redis/clients'
import { WriteCoalescer } from '../redis/write-coalescer'
import { GetBatcher } from './get-batcher'

/**
 * Where the L3 tier finds Redis: a URL, a Redis Cluster (seed nodes), standalone servers
 * sharded by consistent hashing (`nodes`; invalidation messages travel through the first),
 * or a client of yours (`Redis` or `Cluster`: give it `enableOfflineQueue: false` and a
 * `commandTimeout`, or calls wait for Redis during an outage instead of failing soft).
 */
export type CacheRedisConnection = RedisAddress | { nodes: readonly string[] } | { client: Redis | Cluster }

/** Options of the L3 tier. */
export interface L3Options {
  /** How to reach Redis. */
  redis: CacheRedisConnection
  /** A call that takes longer fails (and the cache carries on without L3); validated by the cache. */
  timeoutMs: number
  /** Cap on how long an entry stays in Redis, below the entry's own TTL. */
  ttlMs?: number
}

/** Points per node on the ring of `nodes` (see `NativeHashRing`). */
const RING_VNODES = 160

/** Keys a SCAN step looks at (its COUNT hint) when a clear walks the keyspace. */
const SCAN_BATCH = 1000

/**
 * The clients of the L3 tier and the routing of a key to one of them.
 *
 * Why `enableOfflineQueue: false`: while Redis is away a call fails at once instead of
 * queueing, so the cache answers from its local tiers without waiting (fail-soft); the
 * clients reconnect by themselves. Calls made before the first connection wait for it (up
 * to `timeoutMs`) through {@link RedisTier.ready}.
 * @internal
 */
export class RedisTier {
  /** Every client, the first one also carrying invalidation messages. */
  readonly clients: readonly (Redis | Cluster)[]
  private readonly ring: InstanceType<typeof native.NativeHashRing> | undefined
  private readonly byNode = new Map<string, Redis>()
  private readonly owned: boolean
  readonly timeoutMs: number
  /** One standalone client: every command travels, in order, on one connection. */
  readonly singleConnection: boolean
  private startup: Promise<void> | undefined
  /** The commands of one tick leave in a few writes (see WriteCoalescer). */
  private readonly writes = new WriteCoalescer()
  private readonly batcher = new GetBatcher(this.writes)

  constructor(options: L3Options) {
    const { redis } = options
    this.timeoutMs = options.timeoutMs
    if (typeof redis !== 'object' || redis === null) {
      throw new InvalidArgumentError('invalid redis: expected { url }, { cluster }, { nodes } or { client }')
    }
    // `{ url }` and `{ cluster }` are checked where their client is made.
    if ('client' in redis) knownOptions('redis', redis, ['client'])
    else if ('nodes' in redis) knownOptions('redis', redis, ['nodes'])
    // Reads and writes of a cache are idempotent: one retry per command is harmless.
    const own = (address: RedisAddress): Redis | Cluster =>
      createRedisClient(address, { timeoutMs: this.timeoutMs, atMostOnce: false })
    if ('client' in redis) {
      this.clients = [redis.client]
      this.owned = false
    } else if ('url' in redis || 'cluster' in redis) {
      this.clients = [own(redis)]
      this.owned = true
    } else if ('nodes' in redis) {
      if (!Array.isArray(redis.nodes) || redis.nodes.length === 0 || redis.nodes.some((n) => typeof n !== 'string')) {
        throw new InvalidArgumentError('invalid redis.nodes: expected a non-empty array of URLs')
      }
      // All checked before the first client connects, so a bad one leaves none behind.
      for (const url of redis.nodes) redisUrl('redis.nodes', url)
      this.ring = new native.NativeHashRing(RING_VNODES)
      this.clients = redis.nodes.map((url) => {
        const client = own({ url }) as Redis
        this.byNode.set(url, client)
        this.ring?.add(url, 1)
        return client
      })
      this.owned = true
    } else {
      throw new InvalidArgumentError('invalid redis: expected { url }, { cluster }, { nodes } or { client }')
    }
    this.singleConnection = this.clients.length === 1 && !this.clients[0]?.isCluster
    this.startup = this.connect()
  }

  /** Resolves once every client is connected, or after `timeoutMs`, whichever comes first. */
  ready(): Promise<void> {
    return this.startup ?? Promise.resolve()
  }

  /** Whether the clients are still making their first connection (see {@link RedisTier.ready}). */
  connecting(): boolean {
    return this.startup !== undefined
  }

  /** The client holding `key`. */
  clientFor(key: string): Redis | Cluster {
    if (this.ring === undefined) return this.clients[0] as Redis | Cluster
    return this.byNode.get(this.ring.nodeFor(key) as string) as Redis
  }

  /** The client holding `key`, corked for the commands of this tick (see WriteCoalescer). */
  private writerFor(key: string): Redis | Cluster {
    const client = this.clientFor(key)
    this.writes.beforeCommand(client)
    return client
  }

  /** The stored record of `key`, or null; the reads of one tick share MGETs. */
  async get(key: string): Promise<Buffer | null> {
    if (this.startup !== undefined) await this.startup
    return this.batcher.get(this.clientFor(key), key)
  }

  /** Stores `record` under `key` for `ttlMs` (0: no expiry). */
  async set(key: string, record: Buffer, ttlMs: number): Promise<void> {
    if (this.startup !== undefined) await this.startup
    const client = this.writerFor(key)
    await (ttlMs > 0 ? client.set(key, record, 'PX', Math.ceil(ttlMs)) : client.set(key, record))
  }

  /** Removes `key`. */
  async delete(key: string): Promise<void> {
    if (this.startup !== undefined) await this.startup
    const client = this.writerFor(key)
    await client.del(key)
  }

  /**
   * Deletes every key matching the SCAN glob `pattern` on every node (each master of a
   * Cluster); resolves to how many were deleted. One key per UNLINK: in a Cluster the keys of
   * one node may lie in different slots, which a multi-key command refuses.
   */
  async deleteMatching(pattern: string): Promise<number> {
    if (this.startup !== undefined) await this.startup
    const nodes = this.clients.flatMap((client) =>
      client.isCluster ? (client as Cluster).nodes('master') : [client as Redis],
    )
    const deleted = await Promise.all(
      nodes.map(async (node) => {
        let count = 0
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH)
          cursor = next
          const results = await Promise.all(
            keys.map((key) => {
              this.writes.beforeCommand(node)
              return node.unlink(key)
            }),
          )
          for (const n of results) count += n
        } while (cursor !== '0')
        return count
      }),
    )
    return deleted.reduce((sum, n) => sum + n, 0)
  }

  /** Takes the lease `key` for `ttlMs` if nobody holds it; true when taken. */
  async acquireLease(key: string, token: string, ttlMs: number): Promise<boolean> {
    if (this.startup !== undefined) await this.startup
    const client = this.writerFor(key)
    return (await client.set(key, token, 'PX', ttlMs, 'NX')) === 'OK'
  }

  /** Lets go of the lease `key` if `token` still holds it. */
  async releaseLease(key: string, token: string): Promise<void> {
    if (this.startup !== undefined) await this.startup
    const client = this.writerFor(key)
    await client.eval(RELEASE_LEASE, 1, key, token)
  }

  private async connect(): Promise<void> {
    await Promise.all(this.clients.map((client) => whenReady(client, this.timeoutMs)))
    this.startup = undefined
  }

  /** Disconnects the clients the tier created. */
  async close(): Promise<void> {
    if (!this.owned) return
    await Promise.all(this.clients.map((client) => client.quit().catch(() => client.disconnect())))
  }
}

/** Deletes a lease only if it still holds the caller's token (it may have expired and been retaken). */
const RELEASE_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
