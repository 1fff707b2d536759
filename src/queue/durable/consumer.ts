import { randomUUID } from 'node:crypto'

import { AbortError, InvalidArgumentError, LeaseLostError, TimeoutError } from '../../core/errors'
import type { BackoffOptions, TaskContext, TaskState } from '../types'
import { backoffDelay, resolveBackoff } from '../backoff'
import { toTaskError } from '../task-error'
import { timerDuration } from '../../core/validate'
import { decodeValue, encodeValue } from './codec'
import type { ResolvedDurableOptions } from './options'
import type { ClaimedTask, Depth, DurableStore, Outcome } from './store'

/** What the consumer tells its queue. @internal */
export interface ConsumerHooks {
  /** A task this consumer ran reached `state` ('' when Redis ignored the outcome: the task was reclaimed). */
  finished(task: ClaimedTask, state: TaskState | '', payload: string, runMs: number): void
  /** A task was claimed and starts. */
  started(task: ClaimedTask): void
  /** The depth Redis reported with the last cycle. */
  depth(depth: Depth): void
  /** Redis failed a background call; the consumer retries by itself. */
  error(error: unknown): void
  /** A task whose lease was lost (see {@link LeaseLostError}) ended here; its outcome was dropped. */
  abandoned(task: ClaimedTask, runMs: number): void
}

interface Running {
  task: ClaimedTask
  controller: AbortController
  /** Latest progress not yet sent (JSON). */
  progress: string
  startedAt: number
  /** The task went to another consumer: its run was aborted and its outcome is not sent. */
  lost: boolean
}

// The abort reason of tasks handed back by stop(): an AbortError handlers can recognise.
const STOPPED = new AbortError('the queue is stopping: the task goes back to the queue for another consumer')
const MAX_RETRY_DELAY_MS = 1000

/**
 * Runs tasks of a durable queue: one Redis round trip (the cycle script) acknowledges the
 * tasks that finished since the last one and claims as many new ones as there are free
 * slots, so tasks claimed and not yet acknowledged never exceed `concurrency` (which bounds
 * the re-executions a crash of this process can cause). Running tasks are heartbeaten every
 * third of the visibility timeout. Redis failures are retried with backoff (50 ms growing to
 * 1 s) for as long as the consumer runs, so it resumes by itself after a restart or failover.
 * @internal
 */
export class DurableConsumer {
  /** Unique per instance: leases name it. */
  readonly id = randomUUID()
  private readonly running = new Map<string, Running>()
  private outcomes: Outcome[] = []
  private readonly finishing = new Map<string, { task: ClaimedTask; runMs: number }>()
  private claiming = true
  private pumping = false
  private again = false
  private wake: (() => void) | undefined
  private failures = 0
  private readonly heartbeatTimer: NodeJS.Timeout
  private progressTimer: NodeJS.Timeout | undefined
  private readonly backoffs = new Map<string, Required<BackoffOptions>>()
  private settle: () => void = () => {}
  private halted = false

  constructor(
    private readonly store: DurableStore,
    private readonly options: ResolvedDurableOptions,
    private readonly hooks: ConsumerHooks,
    ready: Promise<void>,
  ) {
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(50, options.visibilityTimeoutMs / 3))
    this.heartbeatTimer.unref()
    void ready.then(() => this.pump())
  }

  /** Tasks running now. */
  get active(): number {
    return this.running.size
  }

  /** Ids of the tasks running now. */
  runningIds(): string[] {
    return [...this.running.keys()]
  }

  /** New work was announced: look now rather than at the next poll. */
  notify(): void {
    this.wake?.()
  }

  /** Aborts running task `id` (cancelled elsewhere); false when it does not run here. */
  abort(id: string): boolean {
    const entry = this.running.get(id)
    if (entry === undefined) return false
    entry.controller.abort(new AbortError(`task ${id} was cancelled`))
    return true
  }

  /**
   * Stops claiming. With `release`, running tasks are aborted and handed back to the queue
   * (their attempt not counted); otherwise they finish. Resolves once every outcome is
   * recorded in Redis, or when `signal` aborts (the remaining tasks are then reclaimed after
   * the visibility timeout). Resolves to the ids of the tasks released.
   */
  async stop(release: boolean, signal: AbortSignal): Promise<string[]> {
    this.claiming = false
    const released = release ? this.runningIds() : []
    if (release) for (const entry of this.running.values()) entry.controller.abort(STOPPED)
    const settled = new Promise<void>((resolve) => (this.settle = resolve))
    if (this.running.size > 0 || this.outcomes.length > 0 || this.pumping) {
      this.wake?.()
      this.pump()
      const gaveUp = signal.aborted
        ? Promise.resolve()
        : new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      await Promise.race([settled, gaveUp])
    }
    this.halted = true
    clearInterval(this.heartbeatTimer)
    clearTimeout(this.progressTimer)
    this.wake?.()
    return released
  }

  private pump(): void {
    if (this.pumping) {
      this.again = true
      return
    }
    this.pumping = true
    void this.loop()
  }

  private async loop(): Promise<void> {
    while (!this.halted) {
      this.again = false
      const outcomes = this.outcomes
      this.outcomes = []
      const max = this.claiming ? this.options.concurrency - this.running.size : 0
      if (outcomes.length === 0 && max === 0) break
      let progressed = false
      try {
        const { states, claimed, depth } = await this.store.cycle(outcomes, max, {
          ttlMs: this.options.keepFinishedMs,
          deadLetter: this.options.deadLetter,
          maxStalls: this.options.maxStalls,
          consumer: this.id,
          visibilityMs: this.options.visibilityTimeoutMs,
        })
        this.failures = 0
        this.hooks.depth(depth)
        outcomes.forEach((outcome, i) => this.recorded(outcome, (states[i] ?? '') as TaskState | ''))
        // The receipt goes out before any handler runs: only then may a reclaim count a stall
        // (a claim whose reply was lost never ran).
        if (claimed.length > 0) this.extend(claimed.map(({ id, lease }) => ({ id, lease, progress: '' })))
        for (const task of claimed) this.start(task)
        progressed = claimed.length > 0 || outcomes.length > 0
        if (claimed.length > 0 && claimed.length === max) this.again = true
      } catch (error) {
        // Outcomes are sent again: the lease check makes a second recording a no-op.
        this.outcomes = outcomes.concat(this.outcomes)
        this.hooks.error(error)
        this.failures++
        await this.idle(Math.min(50 * this.failures, MAX_RETRY_DELAY_MS))
        continue
      }
      if (this.again || this.outcomes.length > 0) continue
      if (!this.claiming) break
      if (!progressed && this.running.size < this.options.concurrency) await this.idle(this.options.pollIntervalMs)
      else if (this.running.size >= this.options.concurrency) break
    }
    this.pumping = false
    if (this.halted) return
    if (!this.claiming && this.running.size === 0 && this.outcomes.length === 0) this.settle()
    else if (this.again || this.outcomes.length > 0) this.pump()
  }

  /** Waits `ms`, or less when woken by new work or a finished task. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wake = done
    })
  }

  private recorded(outcome: Outcome, state: TaskState | ''): void {
    const entry = this.finishing.get(outcome.id)
    if (entry === undefined || entry.task.lease !== outcome.lease) return
    this.finishing.delete(outcome.id)
    this.hooks.finished(entry.task, state, outcome.payload, entry.runMs)
  }

  private start(task: ClaimedTask): void {
    const controller = new AbortController()
    const entry: Running = { task, controller, progress: '', startedAt: Date.now(), lost: false }
    this.running.set(task.id, entry)
    this.hooks.started(task)
    void this.execute(entry).then((outcome) => {
      this.running.delete(task.id)
      const runMs = Date.now() - entry.startedAt
      if (entry.lost) {
        // Another consumer owns the task now: what this run did is not to be recorded.
        this.hooks.abandoned(task, runMs)
        this.pump()
        return
      }
      this.finishing.set(task.id, { task, runMs })
      this.outcomes.push({ ...outcome, progress: entry.progress })
      this.wake?.()
      this.pump()
    })
  }

  private async execute({ task, controller }: Running): Promise<Omit<Outcome, 'progress'>> {
    const { id, lease } = task
    const { signal } = controller
    // A producer of another version may have stored a timeout no timer holds: none then.
    const timer =
      task.timeoutMs === undefined || timerDuration(task.timeoutMs) === Infinity
        ? undefined
        : setTimeout(
            () => controller.abort(new TimeoutError(`task ${id} timed out after ${task.timeoutMs} ms`)),
            task.timeoutMs,
          )
    try {
      const handler = this.options.handlers.get(task.name)
      if (handler === undefined) {
        throw new InvalidArgumentError(`no handler named ${JSON.stringify(task.name)} on this consumer`)
      }
      const context = this.context(task)
      const aborted = new Promise<never>((_resolve, reject) => {
        if (signal.aborted) reject(signal.reason)
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
      aborted.catch(() => {})
      const result = await Promise.race([
        Promise.resolve().then(() => handler(decodeValue(task.args) as never, signal, context)),
        aborted,
      ])
      return { id, lease, kind: 's', payload: encodeValue(`the result of task ${id}`, result) }
    } catch (thrown) {
      const reason = signal.aborted ? signal.reason : thrown
      if (reason === STOPPED) return { id, lease, kind: 'r', payload: '' }
      const delay = Math.round(backoffDelay(task.attempt, this.backoffOf(task)))
      return { id, lease, kind: `f${delay}`, payload: JSON.stringify(toTaskError(reason)) }
    } finally {
      clearTimeout(timer)
    }
  }

  private backoffOf(task: ClaimedTask): Required<BackoffOptions> {
    if (task.backoff === '') return this.options.backoff
    let backoff = this.backoffs.get(task.backoff)
    if (backoff === undefined) {
      backoff = resolveBackoff(JSON.parse(task.backoff) as BackoffOptions, this.options.backoff)
      if (this.backoffs.size < 1000) this.backoffs.set(task.backoff, backoff)
    }
    return backoff
  }

  private context(task: ClaimedTask): TaskContext {
    const entry = () => this.running.get(task.id)
    return {
      id: task.id,
      attempt: task.attempt,
      signal: (entry() as Running).controller.signal,
      progress: (value: unknown) => {
        const running = entry()
        if (running === undefined) return
        running.progress = encodeValue(`the progress of task ${task.id}`, value)
        this.scheduleProgress()
      },
      heartbeat: () => this.scheduleProgress(),
    }
  }

  // Progress and explicit heartbeats are sent together, at most every 200 ms.
  private scheduleProgress(): void {
    if (this.progressTimer !== undefined) return
    this.progressTimer = setTimeout(() => {
      this.progressTimer = undefined
      this.heartbeat()
    }, 200)
    this.progressTimer.unref()
  }

  private heartbeat(): void {
    const entries = []
    for (const { task, progress, lost } of this.running.values()) {
      if (!lost) entries.push({ id: task.id, lease: task.lease, progress })
    }
    if (entries.length === 0) return
    for (const entry of this.running.values()) entry.progress = ''
    this.extend(entries)
  }

  /**
   * Extends the leases of `entries` and aborts the runs whose lease Redis no longer holds:
   * after an outage longer than the visibility timeout their tasks went to another consumer.
   */
  private extend(entries: { id: string; lease: string; progress: string }[]): void {
    this.store.extend(entries, this.options.visibilityTimeoutMs).then(
      (lost) => {
        for (const id of lost) {
          const entry = this.running.get(id)
          const sent = entries.find((e) => e.id === id)
          if (entry === undefined || entry.lost || entry.task.lease !== sent?.lease) continue
          entry.lost = true
          entry.controller.abort(
            new LeaseLostError(
              `task ${id} went to another consumer: Redis did not hear from this one for longer than the visibility timeout (${this.options.visibilityTimeoutMs} ms)`,
            ),
          )
        }
      },
      (error: unknown) => this.hooks.error(error),
    )
  }
}
