import { InvalidArgumentError } from '../core/errors'
import { resolveBackoff } from './backoff'
import type { BackoffOptions } from './types'
import { booleanOption, knownOptions, optionNames, timeoutDuration, wholeNumber } from '../core/validate'

/** Options of `TaskQueue`; every one can be omitted (see {@link TASK_QUEUE_DEFAULTS}). */
export interface TaskQueueOptions {
  /** Name in metrics (label `queue`) and errors. @default 'queue-<n>' */
  name?: string
  /** Workers kept even when idle: concurrent tasks in-process, threads in worker-thread mode. @default 1 */
  minWorkers?: number
  /** Most workers at once. @default 16 (env QUEUE_MAX_WORKERS through `configFromEnv`) */
  maxWorkers?: number
  /** Most tasks pending (accepted, not yet running); `submit` beyond it throws `QueueFullError`. @default 10000 */
  queueSize?: number
  /** Tasks that exhaust their retries go to the dead-letter queue (state `dead`) rather than `failed`. @default true */
  deadLetter?: boolean
  /** Most dead letters kept; past it the oldest is evicted and emitted as `'deadLetterEvicted'`. @default 10000 */
  maxDeadLetters?: number
  /** Retries of a task whose spec gives none. @default 0 */
  retries?: number
  /** Backoff of a task whose spec gives none. @default {@link BACKOFF_DEFAULTS} */
  backoff?: BackoffOptions
  /**
   * Run time limit of a task whose spec gives none; `Infinity` for none, as is any value above
   * 2^31−1 ms (about 24.8 days, the longest a Node timer waits). @default Infinity
   */
  timeoutMs?: number
  /**
   * A running task that neither finishes, reports progress nor heartbeats for this long is
   * taken for dead: its attempt fails with a `TimeoutError` (and is retried if it has retries
   * left); in worker-thread mode its thread is replaced. `Infinity` turns it off.
   * @default Infinity
   */
  stallTimeoutMs?: number
  /**
   * Share of dequeues offered first to Critical, High, Normal and Low, each 1 to 1000: a level
   * with work gets at least `weight / sum` of them, so none starves. @default [8, 4, 2, 1]
   */
  weights?: readonly [number, number, number, number]
  /** A task that waited this long for a worker adds one (up to `maxWorkers`). @default 10 */
  scaleUpWaitMs?: number
  /** Workers above `minWorkers` idle for this long leave. @default 10000 */
  idleTimeoutMs?: number
  /** `getTask` reports a finished task at least until this many newer tasks were submitted. @default 1000 */
  keepFinished?: number
  /**
   * Worker-thread mode: a module (path or file URL) whose exports are the handlers, by task
   * `name`, each `(args, signal, context) => result`. Tasks then carry no `run`.
   */
  workerModule?: string | URL
  /** Worker-thread mode: tasks handed to one thread ahead of its current one, hiding the message round trip. @default 1 */
  workerPrefetch?: number
}

/** Defaults of {@link TaskQueueOptions}. */
export const TASK_QUEUE_DEFAULTS = Object.freeze({
  minWorkers: 1,
  maxWorkers: 16,
  queueSize: 10_000,
  deadLetter: true,
  maxDeadLetters: 10_000,
  retries: 0,
  timeoutMs: Infinity,
  stallTimeoutMs: Infinity,
  weights: Object.freeze([8, 4, 2, 1]) as readonly [number, number, number, number],
  scaleUpWaitMs: 10,
  idleTimeoutMs: 10_000,
  keepFinished: 1_000,
  workerPrefetch: 1,
})

/** Every option name of {@link TaskQueueOptions}. @internal */
export const TASK_QUEUE_OPTION_NAMES = optionNames<TaskQueueOptions>()(TASK_QUEUE_DEFAULTS, {
  name: true,
  backoff: true,
  workerModule: true,
})

/** Options with defaults filled in and checked. @internal */
export type ResolvedOptions = ReturnType<typeof resolveOptions>

let nextName = 0

/** Fills in defaults and validates; messages say what was expected and what came. @internal */
export function resolveOptions(options: TaskQueueOptions) {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`invalid options: expected an object, got ${String(options)}`)
  }
  knownOptions('task queue options', options, TASK_QUEUE_OPTION_NAMES)
  const d = TASK_QUEUE_DEFAULTS
  const name = options.name ?? `queue-${++nextName}`
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(`invalid name: expected a non-empty string, got ${String(name)}`)
  }
  const maxWorkers = wholeNumber('maxWorkers', options.maxWorkers ?? d.maxWorkers, 1, 65_536)
  const minWorkers = wholeNumber('minWorkers', options.minWorkers ?? Math.min(d.minWorkers, maxWorkers), 0, maxWorkers)
  const weights = options.weights ?? d.weights
  if (
    !Array.isArray(weights) ||
    weights.length !== 4 ||
    weights.some((w) => !Number.isInteger(w) || w < 1 || w > 1000)
  ) {
    throw new InvalidArgumentError(`invalid weights: expected 4 integers from 1 to 1000, got ${String(weights)}`)
  }
  const workerModule = options.workerModule
  if (workerModule !== undefined && typeof workerModule !== 'string' && !(workerModule instanceof URL)) {
    throw new InvalidArgumentError(`invalid workerModule: expected a path or a URL, got ${String(workerModule)}`)
  }
  if (workerModule !== undefined && maxWorkers > 256) {
    throw new InvalidArgumentError(
      `invalid maxWorkers: expected at most 256 threads in worker-thread mode, got ${maxWorkers}`,
    )
  }
  return {
    name,
    minWorkers,
    maxWorkers,
    queueSize: wholeNumber('queueSize', options.queueSize ?? d.queueSize, 1, 2 ** 30),
    deadLetter: booleanOption('deadLetter', options.deadLetter ?? d.deadLetter),
    maxDeadLetters: wholeNumber('maxDeadLetters', options.maxDeadLetters ?? d.maxDeadLetters, 0, 2 ** 30),
    retries: wholeNumber('retries', options.retries ?? d.retries, 0, 1_000_000),
    backoff: resolveBackoff(options.backoff),
    timeoutMs: timeoutDuration('timeoutMs', options.timeoutMs ?? d.timeoutMs),
    stallTimeoutMs: timeoutDuration('stallTimeoutMs', options.stallTimeoutMs ?? d.stallTimeoutMs),
    weights: [...weights] as [number, number, number, number],
    scaleUpWaitMs: timeoutDuration('scaleUpWaitMs', options.scaleUpWaitMs ?? d.scaleUpWaitMs),
    idleTimeoutMs: timeoutDuration('idleTimeoutMs', options.idleTimeoutMs ?? d.idleTimeoutMs),
    keepFinished: wholeNumber('keepFinished', options.keepFinished ?? d.keepFinished, 0, 2 ** 24),
    workerModule,
    workerPrefetch: wholeNumber('workerPrefetch', options.workerPrefetch ?? d.workerPrefetch, 0, 64),
  }
}
