import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'

import type { Cluster, Redis } from 'ioredis'

import { AbortError, ClosedError, InvalidArgumentError, QueueFullError, UnavailableError } from '../../core/errors'
import { openDurableQueues } from '../queue-metrics'
import {
  Priority,
  type DeadLetter,
  type StopOptions,
  type StopReport,
  type TaskHandle,
  type TaskInfo,
  type TaskQueueStats,
  type TaskSpec,
  type TaskState,
} from '../types'
import { fromTaskError } from '../task-error'
import { decodeValue, encodeValue, parseTaskError } from './codec'
import { whenReady } from '../../redis/clients'
import { openConnections } from './connection'
import { DurableConsumer } from './consumer'
import { timerDuration, wholeNumber } from '../../core/validate'
import { resolveBackoff } from '../backoff'
import { resolveDurableOptions, type DurableTaskQueueOptions } from './options'
import type { ResolvedDurableOptions } from './options'
import {
  DurableStore,
  type ClaimedTask,
  type Depth,
  type Settlement,
  type StoredTask,
  type SubmitStatus,
} from './store'

/** What the events of a {@link DurableTaskQueue} carry. */
export interface DurableTaskEvent {
  /** The task's id. */
  id: string
  /** The task's (handler's) name. */
  name: string
  /** The attempt that started or ended (1 for the first run). */
  attempt: number
  /** Run time of the attempt, in milliseconds (absent for `started`). */
  runMs?: number
  /** The result (`succeeded`). */
  result?: unknown
  /** The error (`failed`, `retrying`, `dead`). */
  error?: Error
  /** `failed`: always true, no attempt follows (as BullMQ's final `failed`). */
  final?: true
  /** `failed`: the task entered the dead-letter queue (a `dead` event follows). */
  deadLettered?: boolean
}

/** The events of a {@link DurableTaskQueue}, with their arguments. */
export interface DurableTaskQueueEvents {
  /** A task was claimed here and starts (attempt `attempt`). */
  started: [DurableTaskEvent]
  /** A task run here succeeded. */
  succeeded: [DurableTaskEvent]
  /**
   * A task run here failed for good: its last attempt failed. Emitted with or without a
   * dead-letter queue, with `final: true` and `deadLettered` (then `dead` follows).
   */
  failed: [DurableTaskEvent]
  /** An attempt run here failed; a retry is scheduled. */
  retrying: [DurableTaskEvent]
  /** A task run here exhausted its retries and is a dead letter. */
  dead: [DurableTaskEvent]
  /** A task running here was cancelled (its handler returned after the abort). */
  cancelled: [DurableTaskEvent]
  /** A background Redis call failed; it is retried (emitted only when listened to). */
  error: [unknown]
}

/** Counters of a durable queue beyond {@link TaskQueueStats}: what the metrics export. */
export interface DurableTaskQueueStats extends TaskQueueStats {
  /** The queue's name (the `queue` label of its metrics). */
  name: string
  /** Tasks awaiting a retry (in Redis, all consumers). */
  delayed: number
  /** Tasks claimed and not finished (in Redis, all consumers). */
  active: number
  /** Runs that ended here. */
  runs: number
  /** Total time of the runs that ended here, in seconds. */
  runSeconds: number
  /** Tasks started here. */
  started: number
  /** Total time the tasks started here waited since submission, in seconds. */
  waitSeconds: number
  /** Background Redis calls that failed (and were retried). */
  redisErrors: number
}

const PRIORITY_NAMES = Object.keys(Priority) as (keyof typeof Priority)[]
const MAX_ID_LENGTH = 256
const MAX_SUBMIT_BATCH = 1000
const DRAIN_POLL_MS = 50
const DEPTH_REFRESH_MS = 1000
const noop = (): void => {}

interface Waiter {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

interface QueuedSubmit {
  task: StoredTask
  resolve: (status: SubmitStatus) => void
  reject: (error: unknown) => void
}

/**
 * The task queue in durable mode: tasks live in Redis (standalone or Cluster) and any number
 * of processes submit and consume them, with at-least-once delivery. It has the methods of
 * the in-process `TaskQueue`, asynchronous where Redis must be asked.
 *
 * Tasks carry no `run` function: they name a handler registered on the consuming instances
 * (`handlers`). A consumer claims tasks in batches (one Lua script acknowledges what finished
 * and claims as many tasks as it has free slots) and heartbeats them; a consumer that dies
 * stops heartbeating and its tasks go to another one after `visibilityTimeoutMs` (counted as
 * a stall; past `maxStalls` the task fails). Failed attempts are retried with exponential
 * backoff and jitter; tasks that exhaust their retries go to the dead-letter set
 * ({@link deadLetters}, {@link requeue}, {@link purgeDeadLetters}). Priorities are served by a
 * weighted round robin (8:4:2:1), so Low is never starved. See `scripts.ts` for the data model
 * and why it uses lists and Lua rather than Streams.
 *
 * `result` settles whichever process finishes the task (through pub/sub; after a reconnect
 * the queue reads the state of the tasks it waits for, as messages may have been missed).
 *
 * Events (emitted by the instance that observed them): `started`, `succeeded`, `failed`,
 * `retrying`, `dead`, `cancelled` (a {@link DurableTaskEvent}), and `error` for failed
 * background Redis calls, which are retried (only emitted when listened to).
 */
export class DurableTaskQueue extends EventEmitter<DurableTaskQueueEvents> {
  /** The queue's name. */
  readonly name: string
  private readonly options: ResolvedDurableOptions
  private readonly commands: Redis | Cluster
  private readonly subscriber: Redis | Cluster
  private readonly ownsCommands: boolean
  private readonly store: DurableStore
  private readonly consumer: DurableConsumer | undefined
  private readonly waiters = new Map<string, Waiter>()
  private submits: QueuedSubmit[] = []
  private submitting = false
  private startup: Promise<void> | undefined
  private readonly closed = new AbortController()
  private stopping: Promise<StopReport> | undefined
  private readonly depthTimer: NodeJS.Timeout | undefined
  private depth: Depth = { byPriority: [0, 0, 0, 0], delayed: 0, active: 0 }
  private readonly counters = {
    submitted: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    retried: 0,
    deadLettered: 0,
    timedOut: 0,
    rejected: 0,
    runs: 0,
    runSeconds: 0,
    started: 0,
    waitSeconds: 0,
    redisErrors: 0,
  }

  /**
   * Validates the options, connects and, when consuming, starts claiming. Reaching Redis is
   * not waited for: calls made meanwhile wait for it, up to `timeoutMs`.
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option (the
   *   Redis connection and the handlers included) is missing, invalid or unknown; the message
   *   names it.
   */
  constructor(options: DurableTaskQueueOptions) {
    super()
    this.options = resolveDurableOptions(options)
    this.name = this.options.name
    const { commands, subscriber, ownsCommands } = openConnections(this.options.redis, this.options.timeoutMs)
    this.commands = commands
    this.subscriber = subscriber
    this.ownsCommands = ownsCommands
    this.store = new DurableStore(commands, this.options.prefix, this.name)
    subscriber.on('message', (_channel: string, message: string) => this.message(message))
    // ioredis re-subscribes after a reconnect; messages sent meanwhile are lost, so re-read.
    let connected = false
    subscriber.on('ready', () => {
      if (connected) void this.resync()
      connected = true
    })
    // Ready once subscribed too: a consumer would otherwise miss the first "new work"
    // messages and sleep until its next poll.
    const subscribed = subscriber.subscribe(this.store.keys.channel).then(noop, noop)
    const ready = Promise.all([
      whenReady(commands, this.options.timeoutMs, this.closed.signal),
      Promise.race([subscribed, sleep(this.options.timeoutMs, undefined, { ref: false })]),
    ]).then(noop)
    this.startup = ready.then(() => {
      this.startup = undefined
    })
    this.consumer = this.options.consume
      ? new DurableConsumer(
          this.store,
          this.options,
          {
            started: (task) => this.started(task),
            finished: (task, state, payload, runMs) => this.finished(task, state, payload, runMs),
            depth: (depth) => (this.depth = depth),
            error: (error) => this.backgroundError(error),
            abandoned: (_task, runMs) => {
              this.counters.runs++
              this.counters.runSeconds += runMs / 1000
            },
          },
          ready,
        )
      : undefined
    // Consumers learn the depth with every cycle; producers read it every second.
    if (this.consumer === undefined) {
      this.depthTimer = setInterval(() => {
        this.store.depth().then(
          (depth) => (this.depth = depth),
          (error: unknown) => this.backgroundError(error),
        )
      }, DEPTH_REFRESH_MS)
      this.depthTimer.unref()
    }
    openDurableQueues.add(this)
  }

  /**
   * Stores a task in Redis and resolves once it is accepted, to its id and a `result` that
   * settles when a consumer (of any process) finishes it: the handler's value, or the last
   * error (a {@link TimeoutError} after `timeoutMs`, an {@link AbortError} when cancelled).
   *
   * Rejects with {@link InvalidArgumentError} (a `run` function, a bad priority, retries,
   * backoff, timeout or id, a live task with the same id), {@link NotSerializableError}
   * (args JSON cannot carry), {@link QueueFullError} (`queueSize` tasks waiting),
   * {@link UnavailableError} (Redis did not answer: the task may or may not be stored) and
   * {@link ClosedError} after {@link stop}. Submits made together are sent in one script call.
   */
  async submit<A = unknown, R = unknown>(spec: TaskSpec<A, R>): Promise<TaskHandle<R>> {
    const task = this.toStored(spec)
    await this.opened()
    if (this.waiters.has(task.id)) {
      this.counters.rejected++
      throw duplicateId(task.id)
    }
    const result = this.wait<R>(task.id)
    let status: SubmitStatus
    try {
      status = await new Promise<SubmitStatus>((resolve, reject) => {
        this.submits.push({ task, resolve, reject })
        if (!this.submitting) queueMicrotask(() => this.flushSubmits())
      })
    } catch (error) {
      this.waiters.delete(task.id)
      this.counters.rejected++
      throw error
    }
    if (status !== 1) {
      this.waiters.delete(task.id)
      this.counters.rejected++
      if (status === 3) throw new QueueFullError(`the durable task queue ${this.name} is full (queueSize)`)
      throw duplicateId(task.id)
    }
    this.counters.submitted++
    return { id: task.id, result }
  }

  /**
   * Stores every task or none (one Lua script): rejects as {@link submit} does, and with
   * {@link QueueFullError} when they do not all fit.
   */
  async submitBatch<A = unknown, R = unknown>(specs: readonly TaskSpec<A, R>[]): Promise<TaskHandle<R>[]> {
    if (!Array.isArray(specs)) throw new InvalidArgumentError('invalid specs: expected an array of tasks')
    const tasks = specs.map((spec) => this.toStored(spec))
    if (new Set(tasks.map((t) => t.id)).size !== tasks.length) {
      throw new InvalidArgumentError('invalid specs: two tasks of the batch have the same id')
    }
    await this.opened()
    const live = tasks.find((task) => this.waiters.has(task.id))
    if (live !== undefined) {
      this.counters.rejected += tasks.length
      throw duplicateId(live.id)
    }
    if (tasks.length === 0) return []
    const results = tasks.map((task) => this.wait<R>(task.id))
    try {
      await this.store.submit(tasks, this.options.queueSize, true)
    } catch (error) {
      for (const task of tasks) this.waiters.delete(task.id)
      this.counters.rejected += tasks.length
      throw error
    }
    this.counters.submitted += tasks.length
    return tasks.map((task, i) => ({ id: task.id, result: results[i] as Promise<R> }))
  }

  /** The record of task `id`, or undefined when there is none (never submitted, or finished longer than `keepFinishedMs` ago). */
  async getTask(id: string): Promise<TaskInfo | undefined> {
    await this.opened()
    return this.store.info(checkId(id))
  }

  /**
   * Cancels task `id`: a pending or retrying task is cancelled at once; a running one is
   * aborted on the process that runs it (its signal fires) and is cancelled when its handler
   * returns. Resolves to whether the task was live.
   */
  async cancel(id: string): Promise<boolean> {
    await this.opened()
    const state = await this.store.cancel(checkId(id), this.options.keepFinishedMs)
    if (state === 'pending' || state === 'retrying') {
      this.counters.cancelled++
      this.settle({ id, state: 'cancelled', payload: '' })
      return true
    }
    if (state === 'running') {
      this.consumer?.abort(id)
      return true
    }
    return false
  }

  /** Dead letters, oldest first (at most `limit` from `offset`). */
  async deadLetters(options: { offset?: number; limit?: number } = {}): Promise<DeadLetter[]> {
    await this.opened()
    const offset = wholeNumber('offset', options.offset, 0, undefined, 0)
    const limit = wholeNumber('limit', options.limit, 1, undefined, 1000)
    return this.store.deadLetters(offset, limit)
  }

  /** Moves dead letter `id` back to pending with its attempts reset; false when it is not a dead letter. */
  async requeue(id: string): Promise<boolean> {
    await this.opened()
    return this.store.requeue(checkId(id), this.options.queueSize)
  }

  /** Deletes every dead letter; resolves to how many. */
  async purgeDeadLetters(): Promise<number> {
    await this.opened()
    return this.store.purge()
  }

  /**
   * Counters of this instance and the queue's depth as Redis last reported it (with every
   * consumer round trip, or every second for a producer).
   */
  stats(): DurableTaskQueueStats {
    const { byPriority, delayed, active } = this.depth
    const depth = Object.fromEntries(PRIORITY_NAMES.map((name, i) => [name, byPriority[i] ?? 0])) as Record<
      keyof typeof Priority,
      number
    >
    return {
      name: this.name,
      depth,
      delayed,
      active,
      running: this.consumer?.active ?? 0,
      workers: this.consumer === undefined ? 0 : this.options.concurrency,
      ...this.counters,
    }
  }

  /**
   * Stops the queue. With `drain`, first waits (up to `timeoutMs`) until the queue holds no
   * task (pending, retrying or running, on any consumer) and every task this instance
   * submitted has settled; otherwise, or once the time is up, running tasks are aborted and
   * handed back to the queue for another consumer (their attempt not counted). Nothing
   * accepted is lost: tasks stay in Redis. `unfinished` lists the tasks handed back and those
   * submitted here whose result had not settled (their `result` rejects with
   * {@link ClosedError}). Closes the connections the queue created. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<StopReport> {
    this.stopping ??= this.shutdown(options)
    return this.stopping
  }

  private async shutdown({ drain = false, timeoutMs }: StopOptions): Promise<StopReport> {
    const limit =
      timeoutMs === undefined || timeoutMs === Infinity
        ? Infinity
        : timerDuration(wholeNumber('timeoutMs', timeoutMs, 0))
    this.closed.abort()
    while (this.submitting || this.submits.length > 0) await sleep(5)
    const emptied = drain && (await this.drain(limit === Infinity ? undefined : AbortSignal.timeout(limit)))
    // Handing tasks back needs Redis: if it does not answer within timeoutMs, they are
    // reclaimed after the visibility timeout instead.
    const released = (await this.consumer?.stop(!emptied, AbortSignal.timeout(this.options.timeoutMs))) ?? []
    const unfinished = [...new Set([...released, ...this.waiters.keys()])]
    for (const [id, waiter] of this.waiters) {
      waiter.reject(new ClosedError(`the queue stopped before task ${id} finished; it stays in Redis`))
    }
    this.waiters.clear()
    clearInterval(this.depthTimer)
    openDurableQueues.delete(this)
    this.store.close()
    this.subscriber.disconnect()
    if (this.ownsCommands) await this.commands.quit().catch(() => this.commands.disconnect())
    return { drained: emptied || (!drain && unfinished.length === 0), unfinished, returned: [], deadLettered: [] }
  }

  private async drain(deadline: AbortSignal | undefined): Promise<boolean> {
    while (deadline?.aborted !== true) {
      let empty = this.consumer === undefined
      if (!empty) {
        try {
          const depth = await this.store.depth()
          empty = depth.active + depth.delayed + depth.byPriority.reduce((a, b) => a + b, 0) === 0
        } catch {
          empty = false
        }
      }
      if (empty && this.waiters.size === 0) return true
      await sleep(DRAIN_POLL_MS)
    }
    return false
  }

  private toStored<A, R>(spec: TaskSpec<A, R>): StoredTask {
    if (typeof spec !== 'object' || spec === null) {
      throw new InvalidArgumentError(`invalid task: expected an object, got ${String(spec)}`)
    }
    if (spec.run !== undefined) {
      throw new InvalidArgumentError(
        'invalid task: durable tasks carry no run function; register a handler under the task name on the consumers',
      )
    }
    if (typeof spec.name !== 'string' || spec.name === '') {
      throw new InvalidArgumentError(`invalid name: expected a non-empty string, got ${String(spec.name)}`)
    }
    const priority = spec.priority ?? Priority.Normal
    if (!Number.isInteger(priority) || priority < Priority.Critical || priority > Priority.Low) {
      throw new InvalidArgumentError(
        `invalid priority: expected one of Priority's values (0-3), got ${String(priority)}`,
      )
    }
    const retries = wholeNumber('retries', spec.retries, 0, undefined, 0)
    const timeout =
      spec.timeoutMs === undefined || spec.timeoutMs === Infinity
        ? Infinity
        : timerDuration(wholeNumber('timeoutMs', spec.timeoutMs, 1))
    const timeoutMs = timeout === Infinity ? '' : String(timeout)
    const backoff = spec.backoff === undefined ? '' : JSON.stringify(spec.backoff)
    if (spec.backoff !== undefined) resolveBackoff(spec.backoff, this.options.backoff)
    const id = spec.id === undefined ? randomUUID() : checkId(spec.id)
    return { id, name: spec.name, priority, args: encodeValue('args', spec.args), retries, backoff, timeoutMs }
  }

  /** Rejects after {@link stop}; waits for the first connection (bounded by `timeoutMs`). */
  private async opened(): Promise<void> {
    if (this.closed.signal.aborted) throw new ClosedError(`the durable task queue ${this.name} is stopped`)
    if (this.startup !== undefined) await this.startup
    if (this.closed.signal.aborted) throw new ClosedError(`the durable task queue ${this.name} is stopped`)
  }

  private wait<R>(id: string): Promise<R> {
    const result = new Promise<R>((resolve, reject) => {
      this.waiters.set(id, { resolve: resolve as (value: unknown) => void, reject })
    })
    // Callers that never read the result must not get an unhandled rejection.
    result.catch(noop)
    return result
  }

  private flushSubmits(): void {
    if (this.submitting || this.submits.length === 0) return
    this.submitting = true
    const batch = this.submits.splice(0, MAX_SUBMIT_BATCH)
    this.store
      .submit(
        batch.map((entry) => entry.task),
        this.options.queueSize,
        false,
      )
      .then(
        (statuses) => batch.forEach((entry, i) => entry.resolve(statuses[i] ?? 3)),
        (error: unknown) => batch.forEach((entry) => entry.reject(error)),
      )
      .finally(() => {
        this.submitting = false
        this.flushSubmits()
      })
  }

  private message(message: string): void {
    switch (message[0]) {
      case 'w':
        this.consumer?.notify()
        return
      case 'c':
        this.consumer?.abort(message.slice(1))
        return
      case 'd': {
        if (this.waiters.size === 0) return
        try {
          for (const [id, state, payload] of JSON.parse(message.slice(1)) as [string, TaskState, string][]) {
            this.settle({ id, state, payload })
          }
        } catch (error) {
          // Not ours (someone else publishes on the channel): never a reason to crash.
          this.backgroundError(error)
        }
      }
    }
  }

  private settle({ id, state, payload }: Settlement): void {
    const waiter = this.waiters.get(id)
    if (waiter === undefined) return
    this.waiters.delete(id)
    if (state === 'succeeded') waiter.resolve(decodeValue(payload))
    else if (state === 'cancelled') waiter.reject(new AbortError(`task ${id} was cancelled`))
    else waiter.reject(fromTaskError(parseTaskError(payload), `task ${id} ${state}`))
  }

  /**
   * Reads the state of tasks waited for (all of them by default), retrying while Redis does
   * not answer: their completion messages may have been missed.
   */
  private async resync(ids: readonly string[] = [...this.waiters.keys()]): Promise<void> {
    for (let attempt = 1; !this.closed.signal.aborted; attempt++) {
      const waited = ids.filter((id) => this.waiters.has(id))
      if (waited.length === 0) return
      try {
        const { settled, missing } = await this.store.settlements(waited)
        for (const settlement of settled) this.settle(settlement)
        for (const id of missing) {
          const waiter = this.waiters.get(id)
          this.waiters.delete(id)
          waiter?.reject(
            new UnavailableError(`task ${id} is gone from Redis (was Redis restarted without persistence?)`),
          )
        }
        return
      } catch (error) {
        this.backgroundError(error)
        await sleep(Math.min(50 * attempt, 1000))
      }
    }
  }

  private started(task: ClaimedTask): void {
    this.counters.started++
    this.counters.waitSeconds += Math.max(0, Date.now() - task.createdAt) / 1000
    if (this.listenerCount('started') > 0) this.emit('started', { id: task.id, name: task.name, attempt: task.attempt })
  }

  private finished(task: ClaimedTask, state: TaskState | '', payload: string, runMs: number): void {
    this.counters.runs++
    this.counters.runSeconds += runMs / 1000
    switch (state) {
      case 'succeeded':
        this.counters.succeeded++
        break
      case 'retrying':
        this.counters.retried++
        break
      case 'dead':
        this.counters.failed++
        this.counters.deadLettered++
        break
      case 'failed':
        this.counters.failed++
        break
      case 'cancelled':
        this.counters.cancelled++
        break
      case 'pending':
        return
      default:
        // Ignored: recorded by an earlier call whose reply was lost, or reclaimed meanwhile.
        void this.resync([task.id])
        return
    }
    const error = state === 'succeeded' || payload === '' ? undefined : fromTaskError(parseTaskError(payload), state)
    if (error?.name === 'TimeoutError') this.counters.timedOut++
    if (state !== 'retrying') this.settle({ id: task.id, state, payload })
    const finalFailure = state === 'failed' || state === 'dead'
    if (this.listenerCount(state) === 0 && !(finalFailure && this.listenerCount('failed') > 0)) return
    const event: DurableTaskEvent = { id: task.id, name: task.name, attempt: task.attempt, runMs }
    if (state === 'succeeded') event.result = decodeValue(payload)
    if (error !== undefined) event.error = error
    if (finalFailure) this.emit('failed', { ...event, final: true, deadLettered: state === 'dead' })
    if (state !== 'failed') this.emit(state, event)
  }

  private backgroundError(error: unknown): void {
    this.counters.redisErrors++
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }
}

function duplicateId(id: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid id: a live task with id ${JSON.stringify(id)} exists`)
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID_LENGTH) {
    throw new InvalidArgumentError(
      `invalid id: expected a string of 1 to ${MAX_ID_LENGTH} characters, got ${String(id)}`,
    )
  }
  return id
}
