import type Redis from 'ioredis'
import type { Cluster } from 'ioredis'

import { InvalidArgumentError } from '../../core/errors'
import { knownOptions } from '../../core/validate'
import { createRedisClient, warnIfUnsafeClient } from '../../redis/clients'
import { DURABLE_SCRIPTS } from './scripts'
import type { DurableRedisConnection } from './options'

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
    knownOptions('redis', redis, ['client'])
    if (typeof (redis.client as Partial<Redis> | undefined)?.defineCommand !== 'function') {
      throw new InvalidArgumentError('invalid redis.client: expected an ioredis Redis or Cluster')
    }
    commands = redis.client
    warnIfUnsafeClient(
      commands,
      'may store a submitted task twice or claim tasks that no consumer receives after a reconnect',
    )
    subscriber = redis.client.duplicate()
    ownsCommands = false
  } else {
    commands = createRedisClient(redis, { timeoutMs, atMostOnce: true })
    subscriber = createRedisClient(redis, { timeoutMs, atMostOnce: true, subscriber: true })
  }
  subscriber.on('error', noop)
  for (const { command, lua } of Object.values(DURABLE_SCRIPTS))
    commands.defineCommand(command, { numberOfKeys: 8, lua })
  return { commands, subscriber, ownsCommands }
}
