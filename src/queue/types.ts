/**
 * The public shapes of the task queue, shared by the in-process, worker-thread and
 * Redis-durable modes so that a program moves between them without changing its calls.
 */

import type { TransferListItem } from 'node:worker_threads'

/** Scheduling class of a task; lower values run first (with aging, so none starves). */
export const Priority = {
  Critical: 0,
  High: 1,
  Normal: 2,
  Low: 3,
} as const
/** One of {@link Priority}'s values. */
export type Priority = (typeof Priority)[keyof typeof Priority]

/** Where a task is in its life. `dead` means it exhausted its retries and sits in the dead-letter queue. */
export type TaskState = 'pending' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled' | 'dead'

/**
 * Delay before retry `n` (1-based): `min(maxMs, initialMs × factor^(n−1))`, then jitter. A
 * task's backoff takes the fields it leaves out from its queue's, and a queue's from the
 * defaults below.
 */
export interface BackoffOptions {
  /** Delay before the first retry. @default 100 */
  initialMs?: number
  /** Ceiling of any delay. @default 30_000 */
  maxMs?: number
  /** Growth per attempt. @default 2 */
  factor?: number
  /** `full`: uniform in [0, d]; `equal`: d/2 + uniform in [0, d/2]; `none`: exactly d. @default 'full' */
  jitter?: 'full' | 'equal' | 'none'
}

/** What a running task can do besides returning: report progress, prove it is alive. */
export interface TaskContext {
  /** The task's id. */
  readonly id: string
  /** 1 on the first run, 2 on the first retry, … */
  readonly attempt: number
  /**
   * Aborted by `cancel(id)`, the task's timeout or `stop()` without drain; in durable mode
   * also when the task went to another consumer (reason: `LeaseLostError`).
   */
  readonly signal: AbortSignal
  /** Records progress (visible in `getTask(id).progress`); in durable mode it also heartbeats. */
  progress(value: unknown): void
  /** Tells a durable queue the task is alive, so its visibility timeout does not expire. */
  heartbeat(): void
}

/** The function a task runs. */
export type TaskRun<A = unknown, R = unknown> = (args: A, signal: AbortSignal, context: TaskContext) => R | Promise<R>

/**
 * A task to submit. `run` is given in-process; in worker-thread and durable modes tasks
 * name a handler (`name`) registered with the queue instead, since functions cannot cross
 * threads or processes.
 */
export interface TaskSpec<A = unknown, R = unknown> {
  /** Caller-chosen id (unique among live tasks); generated when absent. */
  id?: string
  /** Handler name, also the label in metrics. */
  name: string
  /** Defaults to `Priority.Normal`. */
  priority?: Priority
  /** The work, in-process mode. */
  run?: TaskRun<A, R>
  /** Argument of `run` (structured-cloneable in worker-thread mode, serializable in durable mode). */
  args?: A
  /** Retries after the first failure; 0 by default. */
  retries?: number
  /** Backoff between retries; the queue's default when absent. */
  backoff?: BackoffOptions
  /**
   * Aborts the run (and counts a failed attempt) after this long. `Infinity`, or any value
   * above 2^31−1 ms (about 24.8 days, the longest a Node timer waits), means none.
   */
  timeoutMs?: number
  /** Worker-thread mode: objects in `args` to transfer rather than copy. */
  transfer?: readonly TransferListItem[]
}

/** What `submit` returns at once. `result` settles with the task's outcome. */
export interface TaskHandle<R = unknown> {
  readonly id: string
  readonly result: Promise<R>
}

/** The last error of a task, as it can be stored and shown anywhere. */
export interface TaskError {
  name: string
  message: string
  code?: string
  stack?: string
}

/** A task's record: `getTask(id)`. Times are epoch milliseconds. */
export interface TaskInfo {
  id: string
  name: string
  priority: Priority
  state: TaskState
  /** Runs started so far. */
  attempts: number
  createdAt: number
  startedAt?: number
  finishedAt?: number
  /** When the next retry is due (state `retrying`). */
  nextAttemptAt?: number
  progress?: unknown
  lastError?: TaskError
}

/** A task that exhausted its retries. */
export interface DeadLetter {
  id: string
  name: string
  priority: Priority
  args: unknown
  attempts: number
  error: TaskError
  deadAt: number
}

/** `stop()` options. */
export interface StopOptions {
  /** Finish every accepted task before resolving; otherwise abort running tasks and hand back pending ones. */
  drain?: boolean
  /** Give up draining after this long; unfinished tasks are reported. Above 2^31−1 ms, or `Infinity`: never give up. */
  timeoutMs?: number
  /** What becomes of tasks that never ran: handed back in `returned`, or dead-lettered. @default 'return' */
  onStop?: 'return' | 'dead-letter'
}

/** What `stop()` reports, so that no accepted task is lost without a trace. */
export interface StopReport {
  /** Every accepted task finished (succeeded, failed, dead or cancelled). */
  drained: boolean
  /** Ids of tasks still pending or running when stop gave up (drain) or that were aborted (no drain). */
  unfinished: string[]
  /** Tasks taken out of the queue unrun (no drain and `onStop: 'return'`). */
  returned: TaskSpec[]
  /** Ids dead-lettered by stop (no drain and `onStop: 'dead-letter'`). */
  deadLettered: string[]
}

/** Counters and gauges of a queue: `stats()`. */
export interface TaskQueueStats {
  /** Pending tasks per priority name. */
  depth: Record<keyof typeof Priority, number>
  running: number
  workers: number
  submitted: number
  succeeded: number
  /** Tasks whose last attempt failed, dead-lettered ones included (those are in `deadLettered` too). */
  failed: number
  cancelled: number
  retried: number
  /** Tasks moved to the dead-letter queue: after their last failed attempt, or by `stop`. */
  deadLettered: number
  timedOut: number
  rejected: number
}
