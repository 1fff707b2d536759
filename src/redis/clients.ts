import { once } from 'node:events'

import Redis, { Cluster, type ClusterNode } from 'ioredis'

import { InvalidArgumentError } from '../core/errors'
import { invalidOption, knownOptions } from '../core/validate'

/** A server (`{ url }`) or the seed nodes of a Redis Cluster (`{ cluster }`). */
export type RedisAddress = { url: string } | { cluster: readonly ClusterNode[] }

/** How {@link createRedisClient} sets a client up. @internal */
export interface RedisClientOptions {
  /** Connect and command timeout, in ms. */
  timeoutMs: number
  /**
   * Never send a written command twice (no retry after a reconnect, no resend on failover):
   * a lost reply surfaces as an error rather than as a second decision or a second submit.
   */
  atMostOnce: boolean
  /** A pub/sub subscriber: it queues SUBSCRIBE until connected and has no command timeout. */
  subscriber?: boolean
}

/**
 * A Redis URL as ioredis takes it: `redis://` or `rediss://` (TLS). Anything else is refused,
 * as ioredis would read it as a host name or a socket path and reconnect to it for ever,
 * keeping the process alive. `name` is the option, for the message.
 * @internal
 */
export function redisUrl(name: string, value: unknown): string {
  const expected = 'a redis:// or rediss:// URL'
  if (typeof value !== 'string') throw invalidOption(name, expected, value)
  let protocol: string
  try {
    protocol = new URL(value).protocol
  } catch {
    throw invalidOption(name, expected, value)
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') throw invalidOption(name, expected, value)
  return value
}

// Reconnect quickly after an outage; capped so that recovery is noticed within a second.
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 1000)

const noop = (): void => {}

/**
 * A client the component owns. Except for subscribers, it never queues commands while
 * disconnected (a call rejects at once, so components answer from their fallbacks without
 * waiting) and it reconnects by itself; failures reach callers as errors, so the client's
 * own `error` events are silenced (ioredis would print every failed reconnection).
 * @internal
 */
export function createRedisClient(address: RedisAddress, options: RedisClientOptions): Redis | Cluster {
  const { timeoutMs, atMostOnce, subscriber = false } = options
  const perNode = {
    maxRetriesPerRequest: atMostOnce ? 0 : 1,
    ...(atMostOnce ? { autoResendUnfulfilledCommands: false } : {}),
    // A subscriber's connection stays silent for long stretches; a command timeout would cut it.
    ...(subscriber ? {} : { commandTimeout: timeoutMs }),
    connectTimeout: timeoutMs,
  }
  // `{ url, tls }` would otherwise connect without the setting the caller meant.
  knownOptions('redis', address, 'url' in address ? ['url'] : ['cluster'])
  let client: Redis | Cluster
  if ('url' in address) {
    client = new Redis(redisUrl('redis.url', address.url), {
      ...perNode,
      enableOfflineQueue: subscriber,
      retryStrategy: reconnectDelay,
    })
  } else {
    if (!Array.isArray(address.cluster) || address.cluster.length === 0) {
      throw new InvalidArgumentError('invalid redis.cluster: expected a non-empty array of nodes')
    }
    const cluster = new Cluster([...address.cluster], {
      enableOfflineQueue: subscriber,
      clusterRetryStrategy: reconnectDelay,
      ...(atMostOnce ? { retryDelayOnFailover: 0 } : {}),
      redisOptions: perNode,
    })
    // With the offline queue off, ioredis rejects the commands that reach a node while its
    // connection is being set up: connect every node as soon as the cluster learns of it.
    if (!subscriber) cluster.on('+node', (node: Redis) => node.connect().catch(noop))
    client = cluster
  }
  client.on('error', noop)
  return client
}

/**
 * Waits (at most `timeoutMs`) until `client` is ready, and for a cluster every master too, so
 * that calls made right after construction do not find it connecting. Never rejects: calls
 * fail on their own.
 * @internal
 */
export async function whenReady(client: Redis | Cluster, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const bounded =
    signal === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([AbortSignal.timeout(timeoutMs), signal])
  try {
    if (client.status !== 'ready') await once(client, 'ready', { signal: bounded })
    if (client.isCluster) {
      const connecting = (client as Cluster).nodes('master').filter((node) => node.status !== 'ready')
      await Promise.all(connecting.map((node) => once(node, 'ready', { signal: bounded })))
    }
  } catch {
    // Timed out, closed, or a connection error: the calls report it.
  }
}

/**
 * Whether `client` says `ready` but its socket can take no more writes. ioredis changes state
 * only on the socket's `close`, an event-loop turn or two after the socket has ended, and a
 * command written meanwhile fails at once: callers ask the socket too, so that they know of
 * the outage before they send into it. A Cluster's per-node sockets are its own to watch.
 * @internal
 */
export function socketEnded(client: Redis | Cluster): boolean {
  const stream = (client as { stream?: { writable: boolean } }).stream
  return client.status === 'ready' && stream !== undefined && !stream.writable
}

/** Whether `client` can send a command now (see {@link socketEnded}). @internal */
export function canSend(client: Redis | Cluster): boolean {
  return client.status === 'ready' && !socketEnded(client)
}

// Clients already warned about, so that components sharing a client warn once.
const warnedClients = new WeakSet<object>()

/** The options of a caller's client that break the at-most-once or the no-hang guarantee. */
function unsafeOptions(client: Redis | Cluster): string[] {
  if (client.isCluster) {
    const { retryDelayOnFailover, redisOptions } = (client as Cluster).options
    return [
      ...(retryDelayOnFailover === undefined || retryDelayOnFailover > 0 ? ['retryDelayOnFailover: 0'] : []),
      ...(redisOptions?.commandTimeout === undefined ? ['redisOptions.commandTimeout'] : []),
    ]
  }
  const { autoResendUnfulfilledCommands, maxRetriesPerRequest, commandTimeout } = (client as Redis).options
  return [
    ...(autoResendUnfulfilledCommands !== false && maxRetriesPerRequest !== 0
      ? ['autoResendUnfulfilledCommands: false (or maxRetriesPerRequest: 0)']
      : []),
    ...(commandTimeout === undefined ? ['commandTimeout'] : []),
  ]
}

/**
 * For a caller's client: emits a process warning (code `OPTLAYER_UNSAFE_REDIS_CLIENT`, once
 * per client) when it lacks what {@link createRedisClient} sets with `atMostOnce` (ioredis'
 * defaults send an unanswered command again after a reconnect) or a command timeout. `risk`
 * says what a second run of a command would do to the component.
 * @internal
 */
export function warnIfUnsafeClient(client: Redis | Cluster, risk: string): void {
  const missing = unsafeOptions(client)
  if (missing.length === 0 || warnedClients.has(client)) return
  warnedClients.add(client)
  process.emitWarning(`this ioredis client ${risk}, or wait forever for a reply; set ${missing.join(', ')}`, {
    code: 'OPTLAYER_UNSAFE_REDIS_CLIENT',
  })
}
