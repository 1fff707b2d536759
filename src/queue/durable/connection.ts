import { once } from 'node:events'

import Redis, { Cluster, type ClusterNode } from 'ioredis'

import { InvalidArgumentError } from '../../errors'
import { DURABLE_SCRIPTS } from './scripts'
import type { DurableRedisConnection } from './options'

// Reconnect quickly after an outage; capped so recovery is noticed within a second.
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 1000)

const noop = (): void => {}

/** The two connections of a queue: commands and scripts, and the pub/sub subscriber. @internal */
export interface DurableConnections {
  readonly commands: Redis | Cluster
  readonly subscriber: Redis | Cluster
  /** Whether `commands` was created by the queue (and is closed by it). */
  readonly ownsCommands: boolean
}

/**
 * Opens the queue's connections. Clients the queue creates never queue commands while
 * disconnected (a call rejects at once; the consumer loop retries with backoff) and never
 * re-send a command after a reconnect (a lost reply surfaces as an error rather than as a
 * second submit); they reconnect by themselves, and the subscriber re-subscribes. The
 * scripts are defined on the command client (commands `optlayerQueue*`).
 * @internal
 */
export function openConnections(redis: DurableRedisConnection, timeoutMs: number): DurableConnections {
  let commands: Redis | Cluster
  let subscriber: Redis | Cluster
  let ownsCommands = true
  if ('client' in redis) {
    if (typeof (redis.client as Partial<Redis> | undefined)?.defineCommand !== 'function') {
      throw new InvalidArgumentError('invalid redis.client: expected an ioredis Redis or Cluster')
    }
    commands = redis.client
    subscriber = redis.client.duplicate()
    ownsCommands = false
  } else {
    commands = createClient(redis, timeoutMs, false)
    subscriber = createClient(redis, timeoutMs, true)
    // Failures reach callers (and the consumer loop) as errors; without a listener ioredis
    // would print every failed reconnection attempt.
    commands.on('error', noop)
  }
  subscriber.on('error', noop)
  for (const { command, lua } of Object.values(DURABLE_SCRIPTS))
    commands.defineCommand(command, { numberOfKeys: 8, lua })
  return { commands, subscriber, ownsCommands }
}

/** Waits (at most `timeoutMs`) until `client` is ready, and for a cluster every master too. Never rejects. @internal */
export async function whenReady(client: Redis | Cluster, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const bounded = AbortSignal.any([AbortSignal.timeout(timeoutMs), signal])
  try {
    if (client.status !== 'ready') await once(client, 'ready', { signal: bounded })
    if (client.isCluster) {
      const connecting = (client as Cluster).nodes('master').filter((node) => node.status !== 'ready')
      await Promise.all(connecting.map((node) => once(node, 'ready', { signal: bounded })))
    }
  } catch {
    // Timed out, stopped, or a connection error: the calls report it.
  }
}

function createClient(
  connection: Exclude<DurableRedisConnection, { client: unknown }>,
  timeoutMs: number,
  subscriber: boolean,
): Redis | Cluster {
  const safe = {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // A subscriber's connection stays silent for long stretches; a command timeout would cut it.
    ...(subscriber ? {} : { commandTimeout: timeoutMs }),
    connectTimeout: timeoutMs,
  }
  if ('url' in connection) {
    if (typeof connection.url !== 'string') {
      throw new InvalidArgumentError(`invalid redis.url: expected a string, got ${String(connection.url)}`)
    }
    return new Redis(connection.url, { ...safe, enableOfflineQueue: subscriber, retryStrategy: reconnectDelay })
  }
  if (!Array.isArray(connection.cluster) || connection.cluster.length === 0) {
    throw new InvalidArgumentError('invalid redis.cluster: expected a non-empty array of { host, port }')
  }
  const cluster = new Cluster([...connection.cluster] as ClusterNode[], {
    enableOfflineQueue: subscriber,
    retryDelayOnFailover: 0,
    clusterRetryStrategy: reconnectDelay,
    redisOptions: safe,
  })
  // With the offline queue off, ioredis rejects commands that reach a node while its
  // connection is being set up: connect every node as soon as the cluster learns of it.
  if (!subscriber) cluster.on('+node', (node: Redis) => node.connect().catch(noop))
  return cluster
}
