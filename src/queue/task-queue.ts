import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'

import {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  NotSerializableError,
  QueueFullError,
  TimeoutError,
} from '../core/errors'
import { openTaskQueues } from './queue-metrics'
import type { LatencySnapshot } from '../core/latency-histogram'
import { backoffDelay, resolveBackoff } from './backoff'
import { BufferedHistogram } from '../core/buffered-histogram'
import { DeadLetterStore } from './dead-letters'
import { resolveOptions, type ResolvedOptions, type TaskQueueOptions } from './options'
import { cancelled, Task, type TaskOwner } from './task'
import { NativeSchedule } from './native-schedule'
import { toTaskError } from './task-error'
import {
  Priority,
  type DeadLetter,
  type StopOptions,
  type StopReport,
  type TaskHandle,
  type TaskInfo,
  type TaskQueueStats,
  type TaskSpec,
} from './types'
import { WorkerPool } from './worker-pool'
import { TaskRegistry } from './task-registry'
import { WorkerScaler } from './worker-scaling'
import { knownOptions, numberInRange, optionNames, timeoutDuration, timerDuration, wholeNumber } from '../core/validate'

/** The third argument of a {@link TaskQueue} `failed` event. */
export interface FinalFailure {
  /** Always true: no attempt follows (retrying attempts are `retrying` events). */
  final: true
  /** The task entered the dead-letter queue (`deadLetter: true`). */
  deadLettered: boolean
}

/** Events of {@link TaskQueue}; payloads are built only when someone listens. */
export type TaskQueueEvents = {
  /** A task returned; `info` is its record after the run. */
  succeeded: [info: TaskInfo, result: unknown]
  /**
   * A task failed for good: its last attempt failed (retries exhausted, or a failure that is
   * not retried). Emitted with or without a dead-letter queue, as BullMQ's final `failed`;
   * `outcome.deadLettered` says whether it entered the dead-letter queue (then `dead` follows).
   */
  failed: [info: TaskInfo, error: unknown, outcome: FinalFailure]
  /** An attempt failed and the task runs again after `delayMs`. */
  retrying: [info: TaskInfo, error: unknown, delayMs: number]
  /** A task exhausted its retries and entered the dead-letter queue. */
  dead: [letter: DeadLetter]
  /** The dead-letter queue was full: its oldest letter left to make room. */
  deadLetterEvicted: [letter: DeadLetter]
  /** A task was cancelled (by `cancel`, or aborted by `stop` without drain). */
  cancelled: [info: TaskInfo]
  /** A running task reported progress. */
  progress: [info: TaskInfo, value: unknown]
  /** The worker count changed. */
  workers: [count: number]
  /** Every accepted task has finished. */
  drained: []
  /** A worker thread failed to start or died; its tasks' attempts failed with the error. */
  workerError: [error: unknown]
}

/** Wait and run times of a queue's tasks, in milliseconds. */
export interface TaskQueueTimings {
  /** From submission (or from a retry falling due) to the start of the run. */
  wait: LatencySnapshot
  /** From the start of a run to its outcome. */
  run: LatencySnapshot
}

interface SpaceWaiter {
  count: number
  resolve: () => void
  reject: (reason: unknown) => void
}
const STOP_OPTION_NAMES = optionNames<StopOptions>()({}, { drain: true, timeoutMs: true, onStop: true })

/**
 * A task queue: priority scheduling (Critical, High, Normal, Low, weighted so none starves)
 * through the native priority queue, a worker count that follows the backlog, retries with
 * exponential backoff and jitter, timeouts, cancellation through `AbortSignal`, a dead-letter
 * queue, and a `stop` that accounts for every accepted task. Tasks run in-process (`run`
 * functions) or, with `workerModule`, on a pool of worker_threads (handlers by `name`).
 *
 * The native scheduler is driven with numbers only (a slot and a level per task); each task's
 * record stays in JavaScript. Measured (benchmark/queue.js, "scheduler only"): a push+pop
 * pair costs ~110 ns through the native queue with a call each, ~50 ns with pushes staged
 * and handed over in one call (as here), against ~16 ns for arrays in JavaScript; a whole
 * submit-and-complete costs ~650 ns, mostly promises and garbage collection, so the native
 * queue stays: it is the specified priority scheduler, its binding also shares one queue between
 * the worker threads that open its name, and a second scheduler in JavaScript would be a twin.
 * A task starts at once, without the native queue, when a worker is free and none waits.
 *
 * ```ts
 * const q = new TaskQueue({ maxWorkers: 16, queueSize: 10_000 })
 * const t = q.submit({ name: 'resize', priority: Priority.High, run: async (args, signal) => resize(args, signal), args })
 * await t.result
 * await q.stop({ drain: true })
 * ```
 */
export class TaskQueue extends EventEmitter<TaskQueueEvents> implements TaskOwner {
  /** The options in effect, defaults filled in. */
  readonly options: Readonly<ResolvedOptions>
  /** Pending tasks in the order they start. */
  private readonly schedule: NativeSchedule
  private readonly tasks: TaskRegistry
  /** Pending tasks (not cancelled) per level; `queued` is their sum. */
  private readonly depth = [0, 0, 0, 0]
  private queued = 0
  /** `pause()` was called: queued tasks wait until `start()`. */
  private paused = false
  /** `onEmpty()` callers, told when no task is queued. */
  private emptyWaiters: (() => void)[] = []
  private running = 0
  private retrying = 0
  private pumping = false
  private readonly slotsPerWorker: number
  private readonly scaler: WorkerScaler
  private readonly deadLetterStore: DeadLetterStore
  private readonly waitTimes = new BufferedHistogram()
  private readonly runTimes = new BufferedHistogram()
  private readonly pool: WorkerPool | undefined
  private readonly timers: NodeJS.Timeout[] = []
  /** Referenced while tasks run, so that a stalled task is reported before the process may exit. */
  private readonly stallSweep: NodeJS.Timeout | undefined
  private closed = false
  /** Set when stop abandons what is left: nothing starts or retries any more. */
  private halted = false
  private stopped: Promise<StopReport> | undefined
  private drainWaiters: (() => void)[] = []
  /** Producers waiting in `whenSpace`, first come first served. */
  private spaceWaiters: SpaceWaiter[] = []
  private readonly counts = {
    submitted: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    retried: 0,
    deadLettered: 0,
    timedOut: 0,
    rejected: 0,
  }

  /**
   * With `workerModule`, starts `minWorkers` threads, whose module loads in the background: a
   * failure to load it is a `'workerError'` event, not a throw.
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option is
   *   invalid or unknown; the message names it.
   */
  constructor(options: TaskQueueOptions = {}) {
    super()
    const resolved = resolveOptions(options)
    this.options = Object.freeze(resolved)
    this.schedule = new NativeSchedule(resolved.queueSize, resolved.weights)
    this.tasks = new TaskRegistry(resolved.keepFinished)
    this.scaler = new WorkerScaler(resolved)
    this.deadLetterStore = new DeadLetterStore(resolved.maxDeadLetters)
    this.slotsPerWorker = resolved.workerModule === undefined ? 1 : 1 + resolved.workerPrefetch
    this.pool =
      resolved.workerModule === undefined
        ? undefined
        : new WorkerPool(resolved.workerModule, {
            succeeded: (task, token, value) => this.attemptSucceeded(task, token, value),
            failed: (task, token, error) => this.attemptFailed(task, token, error),
            progress: (task, value) => this.progress(task, value),
            heartbeat: (task) => this.heartbeat(task),
            workerError: (error) => {
              if (this.listenerCount('workerError') > 0) this.emit('workerError', error)
            },
          })
    this.pool?.resize(this.scaler.workers)
    if (resolved.maxWorkers > resolved.minWorkers && Number.isFinite(resolved.idleTimeoutMs)) {
      this.timers.push(setInterval(() => this.shrinkIdle(), resolved.idleTimeoutMs).unref())
    }
    if (Number.isFinite(resolved.stallTimeoutMs)) {
      this.stallSweep = setInterval(() => this.sweepStalled(), Math.max(1, resolved.stallTimeoutMs / 4)).unref()
      this.timers.push(this.stallSweep)
    }
    openTaskQueues.add(this)
  }

  /**
   * Accepts a task and returns its handle at once; `result` settles with its outcome.
   * Throws `ClosedError` once `stop` was called, `QueueFullError` when `queueSize` tasks are
   * pending, `InvalidArgumentError` for a malformed spec or an id in use.
   */
  submit<A, R>(spec: TaskSpec<A, R>): TaskHandle<R> {
    this.checkOpen()
    const task = this.accept(spec as TaskSpec)
    if (this.queued >= this.options.queueSize) throw this.full(1)
    this.admit(task)
    return task.handle() as TaskHandle<R>
  }

  /** Accepts every task or none: a bad spec or too little room rejects the whole batch. */
  submitBatch(specs: readonly TaskSpec[]): TaskHandle[] {
    this.checkOpen()
    if (!Array.isArray(specs)) throw new InvalidArgumentError(`invalid specs: expected an array, got ${String(specs)}`)
    const tasks = specs.map((spec) => this.accept(spec))
    const ids = new Set(tasks.map((task) => task.id))
    if (ids.size !== tasks.length) throw new InvalidArgumentError('invalid specs: two tasks of the batch share an id')
    if (this.queued + tasks.length > this.options.queueSize) throw this.full(tasks.length)
    return tasks.map((task) => {
      this.admit(task)
      return task.handle()
    })
  }

  /**
   * Resolves once `count` more tasks fit under `queueSize`: back-pressure for producers that
   * would rather wait than catch `QueueFullError` (`await q.whenSpace(); q.submit(…)`).
   * Waiters are served first come, first served; rejects with the signal's reason if it
   * aborts first, and with `ClosedError` once the queue stops.
   */
  whenSpace(count = 1, signal?: AbortSignal): Promise<void> {
    try {
      wholeNumber('count', count, 1, this.options.queueSize)
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.closed) return Promise.reject(this.closedError())
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.spaceWaiters.length === 0 && this.queued + count <= this.options.queueSize) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const waiter: SpaceWaiter = { count, resolve, reject }
      const onAbort = (): void => {
        this.spaceWaiters = this.spaceWaiters.filter((w) => w !== waiter)
        reject(signal!.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      waiter.resolve = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      this.spaceWaiters.push(waiter)
    })
  }

  /** The record of a live task or of one of the last `keepFinished` finished ones. */
  getTask(id: string): TaskInfo | undefined {
    return this.tasks.get(id)?.info()
  }

  /**
   * Cancels a task: a pending or retrying one never runs, a running one is aborted through its
   * signal. Its result rejects with an `AbortError`. Returns false if the task is unknown or
   * already finished.
   */
  cancel(id: string): boolean {
    const task = this.tasks.get(id)
    if (task === undefined || task.done) return false
    const wasRunning = task.state === 'running'
    this.unschedule(task)
    const error = cancelled(id)
    if (wasRunning) {
      task.abort(error)
      this.pool?.abort(task)
    }
    this.finish(task, 'cancelled', error)
    return true
  }

  /** The dead-letter queue, oldest first. */
  deadLetters(): DeadLetter[] {
    return this.deadLetterStore.list()
  }

  /** One dead letter. */
  deadLetter(id: string): DeadLetter | undefined {
    const entry = this.deadLetterStore.get(id)
    return entry && { ...entry.letter }
  }

  /**
   * Takes a dead letter out and submits its task again, attempts starting afresh. Throws
   * `InvalidArgumentError` for an unknown id; as `submit` otherwise (the letter stays then).
   */
  requeue(id: string): TaskHandle {
    this.checkOpen()
    const entry = this.deadLetterStore.get(id)
    if (entry === undefined) throw new InvalidArgumentError(`invalid id: no dead letter ${id}`)
    const handle = this.submit({ ...entry.spec, id })
    this.deadLetterStore.take(id)
    return handle
  }

  /** Drops the given dead letters (all when absent); returns how many went. */
  purgeDeadLetters(ids?: readonly string[]): number {
    return this.deadLetterStore.purge(ids)
  }

  /** Counters and gauges. */
  stats(): TaskQueueStats {
    const [critical, high, normal, low] = this.depth
    return {
      depth: { Critical: critical!, High: high!, Normal: normal!, Low: low! },
      running: this.running,
      workers: this.scaler.workers,
      ...this.counts,
    }
  }

  /** Wait and run time distributions (native HDR histograms), in milliseconds. */
  timings(): TaskQueueTimings {
    return { wait: this.waitTimes.snapshot(), run: this.runTimes.snapshot() }
  }

  /** Tasks waiting for a worker (not those running or waiting out a retry's backoff); p-queue's `size`. */
  get size(): number {
    return this.queued
  }

  /** Tasks running now; p-queue's `pending`. */
  get pending(): number {
    return this.running
  }

  /** Whether {@link TaskQueue.pause} holds the queued tasks back. */
  get isPaused(): boolean {
    return this.paused
  }

  /**
   * Starts no more tasks until {@link TaskQueue.start}: running ones finish, new ones are
   * accepted and wait (p-queue's `pause`).
   */
  pause(): void {
    this.paused = true
  }

  /** Starts queued tasks again after {@link TaskQueue.pause} (p-queue's `start`); a queue starts unpaused. */
  start(): this {
    if (!this.paused) return this
    this.paused = false
    this.pump(performance.now())
    return this
  }

  /**
   * Resolves when no task is queued, running or waiting for a retry (p-queue's `onIdle`; the
   * `drained` event says the same). Paused with tasks queued, it waits for `start()`.
   */
  async onIdle(): Promise<void> {
    await this.drained(Infinity)
  }

  /** Resolves when no task is queued, though some may still run (p-queue's `onEmpty`). */
  onEmpty(): Promise<void> {
    if (this.queued === 0) return Promise.resolve()
    return new Promise((resolve) => this.emptyWaiters.push(resolve))
  }

  /** Whether `stop` was called. */
  get closing(): boolean {
    return this.closed
  }

  /**
   * Stops accepting tasks. With `drain`, resolves once every accepted task has finished, or
   * after `timeoutMs` with the unfinished ones reported; those, and without `drain` every
   * pending task, are then handed back (`returned`) or dead-lettered (`onStop`), and running
   * ones are aborted. Idempotent: later calls return the first call's report.
   */
  stop(options: StopOptions = {}): Promise<StopReport> {
    if (this.stopped !== undefined) return this.stopped
    let checked: Required<StopOptions>
    try {
      checked = checkStopOptions(options)
    } catch (error) {
      // Not remembered as the stop: a call with valid options can still stop the queue.
      return Promise.reject(error)
    }
    this.stopped = this.shutdown(checked)
    return this.stopped
  }

  /** @internal */
  progress(task: Task, value: unknown): void {
    task.progressValue = value
    task.lastBeatAt = performance.now()
    if (this.listenerCount('progress') > 0) this.emit('progress', task.info(), value)
  }

  /** @internal */
  heartbeat(task: Task): void {
    task.lastBeatAt = performance.now()
  }

  private checkOpen(): void {
    if (this.closed) throw this.closedError()
  }

  private closedError(): ClosedError {
    return new ClosedError(`task queue ${this.options.name} is stopping: no task accepted`)
  }

  /** Wakes the producers of `whenSpace` whose tasks now fit, in order. */
  private offerSpace(): void {
    let room = this.options.queueSize - this.queued
    while (this.spaceWaiters.length > 0 && this.spaceWaiters[0]!.count <= room) {
      const waiter = this.spaceWaiters.shift()!
      room -= waiter.count
      waiter.resolve()
    }
  }

  private full(count: number): QueueFullError {
    this.counts.rejected += count
    return new QueueFullError(
      `task queue ${this.options.name} is full: ${this.queued} pending, queueSize ${this.options.queueSize}`,
    )
  }

  /** Validates a spec into a task, admitting nothing yet. */
  private accept(spec: TaskSpec): Task {
    if (typeof spec !== 'object' || spec === null) {
      throw new InvalidArgumentError(`invalid task: expected an object, got ${String(spec)}`)
    }
    if (typeof spec.name !== 'string' || spec.name.length === 0) {
      throw new InvalidArgumentError(`invalid task name: expected a non-empty string, got ${String(spec.name)}`)
    }
    if (this.pool === undefined ? typeof spec.run !== 'function' : spec.run !== undefined) {
      throw new InvalidArgumentError(
        this.pool === undefined
          ? `invalid task ${spec.name}: expected a run function`
          : `invalid task ${spec.name}: worker-thread tasks name a handler of the worker module and carry no run function`,
      )
    }
    const priority = spec.priority ?? Priority.Normal
    if (!(priority === (priority & 3))) {
      throw new InvalidArgumentError(`invalid priority: expected 0 (Critical) to 3 (Low), got ${String(priority)}`)
    }
    const options = this.options
    const retries = spec.retries === undefined ? options.retries : wholeNumber('retries', spec.retries, 0, 1_000_000)
    const backoff = spec.backoff === undefined ? options.backoff : resolveBackoff(spec.backoff, options.backoff)
    const timeoutMs = spec.timeoutMs === undefined ? options.timeoutMs : timeoutDuration('timeoutMs', spec.timeoutMs)
    let num = this.tasks.nextNumber()
    let id = spec.id
    if (id === undefined) {
      id = String(num)
      while (this.tasks.hasNamed(id)) id = String((num = this.tasks.nextNumber()))
    } else if (typeof id !== 'string' || id.length === 0) {
      throw new InvalidArgumentError(`invalid id: expected a non-empty string, got ${String(id)}`)
    } else if (this.tasks.get(id)?.done === false) {
      throw new InvalidArgumentError(`invalid id: task ${id} is still ${this.tasks.get(id)!.state}`)
    }
    return new Task(num, id, spec, priority, retries, backoff, timeoutMs, this, performance.now())
  }

  private admit(task: Task): void {
    this.tasks.add(task, task.spec.id !== undefined)
    this.counts.submitted++
    if (this.queued === 0 && !this.paused && this.running < this.capacity()) this.launch(task, task.createdAt)
    else this.enqueue(task, task.createdAt)
  }

  private capacity(): number {
    return this.scaler.workers * this.slotsPerWorker
  }

  /** Queues a task: staged for the native queue, which takes the staged tasks in batches. */
  private enqueue(task: Task, now: number): void {
    this.queued++
    this.depth[task.priority]!++
    this.schedule.add(task)
    if (this.running < this.capacity()) this.pump(now)
    else if (this.scaler.grow(this.queued, 0)) this.scaled()
  }

  /** Starts queued tasks while workers are free. Not reentrant: a task that settles synchronously returns here. */
  private pump(now: number): void {
    if (this.pumping || this.halted || this.paused) return
    this.pumping = true
    try {
      while (this.running < this.capacity() && this.queued > 0) {
        const task = this.schedule.next()
        if (task === undefined) break
        // A cancelled task left its tombstone here.
        if (task.state !== 'pending') continue
        this.queued--
        this.depth[task.priority]!--
        this.launch(task, now)
        const waited = now - task.enqueuedAt
        if (this.queued > 0 && this.running >= this.capacity() && this.scaler.grow(this.queued, waited)) this.scaled()
      }
    } finally {
      this.pumping = false
    }
    if (this.queued === 0 && this.emptyWaiters.length > 0) this.emptied()
    if (this.spaceWaiters.length > 0) this.offerSpace()
  }

  /** Tells the `onEmpty()` callers that no task is queued. */
  private emptied(): void {
    for (const resolve of this.emptyWaiters.splice(0)) resolve()
  }

  /** `now`: a clock reading of this turn (the previous task's end, say): reading it costs ~60 ns. */
  private launch(task: Task, now: number): void {
    if (this.running++ === 0) this.stallSweep?.ref()
    this.scaler.busy(Math.ceil(this.running / this.slotsPerWorker))
    task.state = 'running'
    task.attempts++
    const token = ++task.attemptToken
    task.startedAt = now
    task.lastBeatAt = now
    this.waitTimes.record(now - task.enqueuedAt)
    if (task.timeoutMs !== Infinity) task.timer = setTimeout(() => this.timedOut(task, token), task.timeoutMs)
    if (this.pool !== undefined) {
      try {
        this.pool.run(task, token)
      } catch (err) {
        this.attemptFailed(
          task,
          token,
          new NotSerializableError(`task ${task.id}: ${String(err)}`, { cause: err }),
          true,
        )
      }
      return
    }
    let result: unknown
    try {
      result = task.run!(task.spec.args, task.signalArgument(), task)
    } catch (err) {
      this.attemptFailed(task, token, err)
      return
    }
    if (result instanceof Promise) {
      result.then(
        (value) => this.attemptSucceeded(task, token, value),
        (err) => this.attemptFailed(task, token, err),
      )
    } else if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
      Promise.resolve(result).then(
        (value) => this.attemptSucceeded(task, token, value),
        (err) => this.attemptFailed(task, token, err),
      )
    } else {
      this.attemptSucceeded(task, token, result)
    }
  }

  private attemptSucceeded(task: Task, token: number, value: unknown): void {
    if (token !== task.attemptToken || task.state !== 'running') return
    this.finish(task, 'succeeded', value, this.endAttempt(task))
  }

  private attemptFailed(task: Task, token: number, error: unknown, final = false): void {
    if (token !== task.attemptToken || task.state !== 'running') return
    const now = this.endAttempt(task)
    if (final || task.attempts > task.retries || this.halted) {
      this.finish(task, this.options.deadLetter ? 'dead' : 'failed', error, now, true)
      return
    }
    const delayMs = backoffDelay(task.attempts, task.backoff)
    task.state = 'retrying'
    task.lastError = error
    task.controller = undefined
    task.nextAttemptAt = now + delayMs
    this.retrying++
    this.counts.retried++
    task.timer = setTimeout(() => this.retryDue(task), delayMs)
    if (this.listenerCount('retrying') > 0) this.emit('retrying', task.info(), error, delayMs)
    this.afterFinish(now)
  }

  private retryDue(task: Task): void {
    task.timer = undefined
    this.retrying--
    task.state = 'pending'
    task.enqueuedAt = performance.now()
    this.enqueue(task, task.enqueuedAt)
  }

  private timedOut(task: Task, token: number): void {
    if (token !== task.attemptToken || task.state !== 'running') return
    task.timer = undefined
    this.counts.timedOut++
    const error = new TimeoutError(`task ${task.id} timed out after ${task.timeoutMs} ms`)
    task.abort(error)
    this.pool?.abort(task)
    this.attemptFailed(task, token, error)
  }

  private sweepStalled(): void {
    const limit = this.options.stallTimeoutMs
    const now = performance.now()
    for (const task of this.tasks.values()) {
      if (task.state !== 'running' || now - task.lastBeatAt <= limit) continue
      const error = new TimeoutError(`task ${task.id} stalled: no progress or heartbeat for ${limit} ms`)
      this.counts.timedOut++
      task.abort(error)
      this.attemptFailed(task, task.attemptToken, error)
      // After the attempt failed, so that the thread's other tasks fail as replaced, not this one.
      this.pool?.stalled(task)
    }
  }

  /** Leaves the running set: timer, counters, run-time histogram. Returns the time it read. */
  private endAttempt(task: Task): number {
    if (task.timer !== undefined) {
      clearTimeout(task.timer)
      task.timer = undefined
    }
    if (--this.running === 0) this.stallSweep?.unref()
    const now = performance.now()
    this.runTimes.record(now - task.startedAt)
    return now
  }

  /** Takes a task that is not finished out of wherever it waits or runs. */
  private unschedule(task: Task): void {
    switch (task.state) {
      case 'pending': {
        this.queued--
        this.depth[task.priority]!--
        this.schedule.forget(task)
        if (this.queued === 0 && this.emptyWaiters.length > 0) this.emptied()
        break
      }
      case 'retrying':
        clearTimeout(task.timer)
        task.timer = undefined
        this.retrying--
        break
      case 'running':
        task.attemptToken++
        this.endAttempt(task)
        break
    }
  }

  private finish(
    task: Task,
    state: 'succeeded' | 'failed' | 'cancelled' | 'dead',
    outcome: unknown,
    now = performance.now(),
    lastAttemptFailed = state === 'failed',
  ): void {
    if (state === 'succeeded') {
      task.succeed(outcome, now)
      this.counts.succeeded++
      if (this.listenerCount('succeeded') > 0) this.emit('succeeded', task.info(), outcome)
    } else {
      task.end(state, outcome, now)
      if (state === 'cancelled') {
        this.counts.cancelled++
        if (this.listenerCount('cancelled') > 0) this.emit('cancelled', task.info())
      } else if (state === 'failed') {
        this.counts.failed++
        if (this.listenerCount('failed') > 0)
          this.emit('failed', task.info(), outcome, { final: true, deadLettered: false })
      } else {
        // A dead letter of a last failed attempt is a failure too; one of `stop` is not.
        if (lastAttemptFailed) this.counts.failed++
        this.counts.deadLettered++
        const letter: DeadLetter = {
          id: task.id,
          name: task.name,
          priority: task.priority,
          args: task.spec.args,
          attempts: task.attempts,
          error: toTaskError(outcome),
          deadAt: performance.timeOrigin + now,
        }
        const evicted = this.deadLetterStore.add({ letter, spec: task.spec })
        if (lastAttemptFailed && this.listenerCount('failed') > 0) {
          this.emit('failed', task.info(), outcome, { final: true, deadLettered: true })
        }
        if (this.listenerCount('dead') > 0) this.emit('dead', { ...letter })
        if (evicted !== undefined && this.listenerCount('deadLetterEvicted') > 0) {
          this.emit('deadLetterEvicted', evicted.letter)
        }
      }
    }
    this.tasks.finished(task)
    this.afterFinish(now)
  }

  private afterFinish(now: number): void {
    if (this.queued > 0) this.pump(now)
    if (this.queued === 0 && this.running === 0 && this.retrying === 0) {
      const waiters = this.drainWaiters
      if (waiters.length > 0) {
        this.drainWaiters = []
        for (const resolve of waiters) resolve()
      }
      if (this.listenerCount('drained') > 0) this.emit('drained')
    }
    if (this.spaceWaiters.length > 0) this.offerSpace()
  }

  private scaled(): void {
    this.pool?.resize(this.scaler.workers)
    if (this.listenerCount('workers') > 0) this.emit('workers', this.scaler.workers)
    this.pump(performance.now())
  }

  private shrinkIdle(): void {
    if (this.scaler.aboveMinimum && this.scaler.shrink(Math.ceil(this.running / this.slotsPerWorker))) {
      this.pool?.resize(this.scaler.workers)
      if (this.listenerCount('workers') > 0) this.emit('workers', this.scaler.workers)
    }
  }

  private async shutdown({ drain, timeoutMs, onStop }: Required<StopOptions>): Promise<StopReport> {
    this.closed = true
    for (const waiter of this.spaceWaiters.splice(0)) waiter.reject(this.closedError())
    // A drain runs what is queued: a paused queue would wait out the whole timeout.
    if (drain) this.start()
    const report: StopReport = { drained: true, unfinished: [], returned: [], deadLettered: [] }
    const timedOut = drain && !(await this.drained(timerDuration(timeoutMs)))
    if (!drain || timedOut) this.abandon(report, onStop, timedOut)
    report.drained = report.unfinished.length + report.returned.length + report.deadLettered.length === 0
    for (const timer of this.timers) clearInterval(timer)
    openTaskQueues.delete(this)
    await this.pool?.close()
    this.schedule.close()
    this.waitTimes.close()
    this.runTimes.close()
    return report
  }

  /** Resolves true once every accepted task has finished, false after `timeoutMs`. */
  private drained(timeoutMs: number): Promise<boolean> {
    if (this.queued === 0 && this.running === 0 && this.retrying === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer =
        timeoutMs === Infinity
          ? undefined
          : setTimeout(() => {
              this.drainWaiters = this.drainWaiters.filter((w) => w !== done)
              resolve(false)
            }, timeoutMs)
      this.drainWaiters.push(done)
    })
  }

  /**
   * Hands back or dead-letters what has not run and aborts what runs, reporting all of it:
   * `unfinished` lists the aborted tasks, and after a drain that timed out the pending ones too.
   */
  private abandon(report: StopReport, onStop: 'return' | 'dead-letter', drainTimedOut: boolean): void {
    this.halted = true
    const stopped = new ClosedError(`task queue ${this.options.name} stopped before the task finished`)
    for (const task of [...this.tasks.values()]) {
      if (task.done) continue
      if (drainTimedOut || task.state === 'running') report.unfinished.push(task.id)
      this.unschedule(task)
      if (task.state === 'running') {
        const error = new AbortError(`task ${task.id} aborted: task queue ${this.options.name} stopped`)
        task.abort(error)
        this.finish(task, 'cancelled', error)
      } else if (onStop === 'return') {
        report.returned.push(task.spec)
        this.finish(task, 'cancelled', stopped)
      } else {
        report.deadLettered.push(task.id)
        this.finish(task, 'dead', stopped)
      }
    }
  }
}

function checkStopOptions(options: StopOptions): Required<StopOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`invalid options: expected an object, got ${String(options)}`)
  }
  knownOptions('stop options', options, STOP_OPTION_NAMES)
  const { drain = false, onStop = 'return' } = options
  if (onStop !== 'return' && onStop !== 'dead-letter') {
    throw new InvalidArgumentError(`invalid onStop: expected 'return' or 'dead-letter', got ${String(onStop)}`)
  }
  const timeoutMs = numberInRange('timeoutMs', options.timeoutMs, 0, undefined, {
    infinite: true,
    unit: 'milliseconds',
    fallback: Infinity,
  })
  return { drain, timeoutMs, onStop }
}
