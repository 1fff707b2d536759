import type { Cluster, Redis } from 'ioredis'

import { InvalidArgumentError } from '../../core/errors'
import type { BackoffOptions, TaskContext } from '../types'
import { keyPart } from '../../redis/key-part'
import { booleanOption, knownOptions, MAX_TIMER_MS, optionNames, wholeNumber } from '../../core/validate'
import { BACKOFF_DEFAULTS, resolveBackoff } from '../backoff'

/**
 * Where a {@link DurableTaskQueue} finds Redis: a server (`{ url }`), cluster nodes
 * (`{ cluster }`), or a client of yours (`{ client }`, left open by `stop()`; the queue
 * duplicates it for its subscriber connection). Configure your client as the queue configures
 * its own: `enableOfflineQueue: false` and a `commandTimeout`, so that calls fail at once
 * rather than wait while Redis is away, and `autoResendUnfulfilledCommands: false` (or
 * `maxRetriesPerRequest: 0`; for a `Cluster`, `retryDelayOnFailover: 0`), so that a submit
 * whose reply was lost is not sent twice. The queue emits a process warning (code
 * `OPTLAYER_UNSAFE_REDIS_CLIENT`) when your client lacks them.
 */
export type DurableRedisConnection =
  { url: string } | { cluster: ReadonlyArray<{ host: string; port: number }> } | { client: Redis | Cluster }

/** A handler of durable tasks: what `run` is in-process, registered by name on consumers. */
export type DurableHandler = (args: never, signal: AbortSignal, context: TaskContext) => unknown

/** Options of a {@link DurableTaskQueue}. */
export interface DurableTaskQueueOptions {
  /** The Redis server or cluster holding the queue. */
  redis: DurableRedisConnection
  /**
   * The queue's name: every instance opened with the same prefix and name shares its tasks.
   * It is the hash tag of all the queue's keys, so it must not contain `{` or `}`.
   * @default 'default'
   */
  name?: string
  /**
   * Handlers by task name, run by this instance when it consumes. Every consumer of a queue
   * should register every task name: a consumer that claims a task it has no handler for
   * fails the attempt (an {@link InvalidArgumentError} naming the task). Only the object's own
   * properties are handlers: a task named `constructor` or `toString` finds none.
   * @default {}
   */
  handlers?: Readonly<Record<string, DurableHandler>>
  /** Whether this instance runs tasks; a producer-only instance (`false`) only submits. @default true */
  consume?: boolean
  /** Tasks this instance runs at once (and claims at most). @default 16 */
  concurrency?: number
  /**
   * A claimed task whose consumer sent no heartbeat for this long is taken for dead and given
   * to another consumer. Consumers heartbeat their running tasks every third of it. At most
   * 2^31−1 (the longest a timer waits), as for `pollIntervalMs` and `timeoutMs`.
   * @default 30_000
   */
  visibilityTimeoutMs?: number
  /** Times a task may be reclaimed from a dead consumer before it fails (or is dead-lettered). @default 1 */
  maxStalls?: number
  /** Most tasks waiting (pending or awaiting a retry); `submit` beyond it rejects with QueueFullError. @default 100_000 */
  queueSize?: number
  /** Keep tasks that exhausted their retries in the dead-letter set (state `dead`) rather than dropping them (`failed`). @default true */
  deadLetter?: boolean
  /** Backoff of tasks that give none. @default { initialMs: 100, maxMs: 30_000, factor: 2, jitter: 'full' } */
  backoff?: BackoffOptions
  /** How long finished tasks (succeeded, failed, cancelled) stay readable by `getTask`. @default 3_600_000 */
  keepFinishedMs?: number
  /** Longest wait between two looks at the queue of an idle consumer (new work also wakes it through pub/sub). @default 250 */
  pollIntervalMs?: number
  /** Prepended to every key; must not contain `{` or `}`. @default 'optlayer:q:' */
  prefix?: string
  /** For a client the queue creates: the longest wait for a connection and for a reply. @default 5_000 */
  timeoutMs?: number
}

/** The defaults of {@link DurableTaskQueueOptions}. */
export const DURABLE_QUEUE_DEFAULTS = Object.freeze({
  name: 'default',
  consume: true,
  concurrency: 16,
  visibilityTimeoutMs: 30_000,
  maxStalls: 1,
  queueSize: 100_000,
  deadLetter: true,
  backoff: BACKOFF_DEFAULTS,
  keepFinishedMs: 3_600_000,
  pollIntervalMs: 250,
  prefix: 'optlayer:q:',
  timeoutMs: 5_000,
})

/** Every option name of {@link DurableTaskQueueOptions}. @internal */
export const DURABLE_QUEUE_OPTION_NAMES = optionNames<DurableTaskQueueOptions>()(DURABLE_QUEUE_DEFAULTS, {
  redis: true,
  handlers: true,
})

/** Validated options with the defaults applied. @internal */
export type ResolvedDurableOptions = Required<Omit<DurableTaskQueueOptions, 'backoff' | 'handlers'>> & {
  backoff: Required<BackoffOptions>
  /** Own properties only: a task named `constructor` or `__proto__` finds no handler. */
  handlers: ReadonlyMap<string, DurableHandler>
}

/** Applies the defaults and validates, throwing {@link InvalidArgumentError}. @internal */
export function resolveDurableOptions(options: DurableTaskQueueOptions): ResolvedDurableOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`invalid options: expected an object, got ${String(options)}`)
  }
  knownOptions('durable queue options', options, DURABLE_QUEUE_OPTION_NAMES)
  const d = DURABLE_QUEUE_DEFAULTS
  const handlers = options.handlers ?? {}
  if (typeof handlers !== 'object' || handlers === null) {
    throw new InvalidArgumentError('invalid handlers: expected an object of functions by task name')
  }
  for (const [name, handler] of Object.entries(handlers)) {
    if (typeof handler !== 'function') {
      throw new InvalidArgumentError(`invalid handlers.${name}: expected a function, got ${typeof handler}`)
    }
  }
  // Looking names up on the object itself would find Object.prototype's members.
  const byName = new Map(Object.entries(handlers as Record<string, DurableHandler>))
  if (typeof options.redis !== 'object' || options.redis === null) {
    throw new InvalidArgumentError('invalid redis: expected { url }, { cluster } or { client }')
  }
  const consume = booleanOption('consume', options.consume, d.consume)
  const deadLetter = booleanOption('deadLetter', options.deadLetter, d.deadLetter)
  return {
    redis: options.redis,
    name: keyPart('name', options.name ?? d.name, false),
    prefix: keyPart('prefix', options.prefix ?? d.prefix, false),
    handlers: byName,
    consume,
    deadLetter,
    concurrency: wholeNumber('concurrency', options.concurrency, 1, undefined, d.concurrency),
    visibilityTimeoutMs: wholeNumber(
      'visibilityTimeoutMs',
      options.visibilityTimeoutMs,
      100,
      MAX_TIMER_MS,
      d.visibilityTimeoutMs,
    ),
    maxStalls: wholeNumber('maxStalls', options.maxStalls, 0, undefined, d.maxStalls),
    queueSize: wholeNumber('queueSize', options.queueSize, 1, undefined, d.queueSize),
    backoff: resolveBackoff(options.backoff, d.backoff),
    keepFinishedMs: wholeNumber('keepFinishedMs', options.keepFinishedMs, 1, undefined, d.keepFinishedMs),
    pollIntervalMs: wholeNumber('pollIntervalMs', options.pollIntervalMs, 1, MAX_TIMER_MS, d.pollIntervalMs),
    timeoutMs: wholeNumber('timeoutMs', options.timeoutMs, 1, MAX_TIMER_MS, d.timeoutMs),
  }
}
