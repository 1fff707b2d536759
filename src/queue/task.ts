import { AbortError } from '../core/errors'
import type { BackoffOptions, Priority, TaskContext, TaskHandle, TaskInfo, TaskRun, TaskSpec, TaskState } from './types'
import { toTaskError } from './task-error'

/** Epoch ms of a `performance.now()` reading: one monotonic clock serves histograms and records. */
const ORIGIN = performance.timeOrigin

/** What a task's owner does when it reports progress or heartbeats. @internal */
export interface TaskOwner {
  progress(task: Task, value: unknown): void
  heartbeat(task: Task): void
}

/**
 * Creating an `AbortSignal` costs ~4.6 µs on this machine class, more than five whole tasks:
 * a task gets its own only when its `run` declares the parameter or reads `context.signal`.
 * The others are handed this one, which never aborts.
 */
const NEVER_ABORTED = new AbortController().signal

/**
 * One accepted task: its spec, its state and the settling of its result. It is also the
 * context its run receives (a separate object per task showed up in the GC profile).
 * @internal
 */
export class Task implements TaskContext {
  state: TaskState = 'pending'
  attempts = 0
  /** `performance.now()` readings. */
  createdAt: number
  enqueuedAt: number
  startedAt = 0
  finishedAt = 0
  nextAttemptAt = 0
  lastBeatAt = 0
  progressValue: unknown = undefined
  lastError: unknown = undefined
  /** Slot in the queue's table while queued natively; -1 otherwise. */
  slot = -1
  /** Bumped per attempt, so a late outcome of an aborted attempt is ignored. */
  attemptToken = 0
  controller: AbortController | undefined = undefined
  timer: NodeJS.Timeout | undefined = undefined
  value: unknown = undefined
  private resolveResult: ((value: unknown) => void) | undefined = undefined
  private rejectResult: ((error: unknown) => void) | undefined = undefined
  private promise: Promise<unknown> | undefined = undefined

  constructor(
    /** Its number in the queue's registry; a generated id is this number. */
    readonly num: number,
    readonly id: string,
    readonly spec: TaskSpec,
    readonly priority: Priority,
    readonly retries: number,
    readonly backoff: Readonly<Required<BackoffOptions>>,
    readonly timeoutMs: number,
    private readonly owner: TaskOwner,
    now: number,
  ) {
    this.createdAt = now
    this.enqueuedAt = now
  }

  get name(): string {
    return this.spec.name
  }

  get run(): TaskRun | undefined {
    return this.spec.run as TaskRun | undefined
  }

  /** Settled states: nothing more happens to the task. */
  get done(): boolean {
    const s = this.state
    return s === 'succeeded' || s === 'failed' || s === 'cancelled' || s === 'dead'
  }

  /**
   * The result promise, created on first use: a fire-and-forget task costs no promise, and a
   * failure nobody asked about raises no unhandled rejection (it is in events and `getTask`).
   */
  result(): Promise<unknown> {
    if (this.promise !== undefined) return this.promise
    if (this.state === 'succeeded') this.promise = Promise.resolve(this.value)
    else if (this.done) this.promise = Promise.reject(this.lastError)
    else
      this.promise = new Promise((resolve, reject) => {
        this.resolveResult = resolve
        this.rejectResult = reject
      })
    return this.promise
  }

  succeed(value: unknown, now: number): void {
    this.state = 'succeeded'
    this.value = value
    this.finishedAt = now
    this.resolveResult?.(value)
  }

  end(state: 'failed' | 'cancelled' | 'dead', error: unknown, now: number): void {
    this.state = state
    this.lastError = error
    this.finishedAt = now
    this.rejectResult?.(error)
  }

  /** Context: the run number of the current attempt. */
  get attempt(): number {
    return this.attempts
  }

  /** Context: the signal of the current attempt, created on first use. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController()
    return this.controller.signal
  }

  /** The signal to pass `run` positionally: its own only if `run` declares the parameter. */
  signalArgument(): AbortSignal {
    return this.controller !== undefined || (this.run?.length ?? 0) >= 2 ? this.signal : NEVER_ABORTED
  }

  /** Context: records progress (ignored once the task is no longer running). */
  progress(value: unknown): void {
    if (this.state === 'running') this.owner.progress(this, value)
  }

  /** Context: proves the task alive. */
  heartbeat(): void {
    if (this.state === 'running') this.owner.heartbeat(this)
  }

  abort(reason: unknown): void {
    this.controller?.abort(reason)
  }

  info(): TaskInfo {
    const info: TaskInfo = {
      id: this.id,
      name: this.name,
      priority: this.priority,
      state: this.state,
      attempts: this.attempts,
      createdAt: ORIGIN + this.createdAt,
    }
    if (this.attempts > 0) info.startedAt = ORIGIN + this.startedAt
    if (this.done) info.finishedAt = ORIGIN + this.finishedAt
    if (this.state === 'retrying') info.nextAttemptAt = ORIGIN + this.nextAttemptAt
    if (this.progressValue !== undefined) info.progress = this.progressValue
    if (this.lastError !== undefined) info.lastError = toTaskError(this.lastError)
    return info
  }

  handle(): TaskHandle {
    return new Handle(this)
  }
}

/** What `submit` returns: the id, and the result promise made on first read. */
class Handle implements TaskHandle {
  constructor(private readonly task: Task) {}

  get id(): string {
    return this.task.id
  }

  get result(): Promise<unknown> {
    return this.task.result()
  }
}

/** The error a cancelled task's result rejects with. @internal */
export function cancelled(id: string): AbortError {
  return new AbortError(`task ${id} was cancelled`)
}
