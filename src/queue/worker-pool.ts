import { resolve as resolvePath, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

import { UnavailableError } from '../core/errors'
import type { Task } from './task'
import { fromTaskError } from './task-error'
import type { FromWorker, ToWorker } from './worker-protocol'
import type { TaskError } from './types'

/** What the pool reports to its queue. @internal */
export interface PoolEvents {
  succeeded(task: Task, token: number, value: unknown): void
  failed(task: Task, token: number, error: unknown): void
  progress(task: Task, value: unknown): void
  heartbeat(task: Task): void
  workerError(error: unknown): void
}

interface Job {
  task: Task
  token: number
  thread: Thread
}

interface Thread {
  worker: Worker
  /** Jobs sent and not answered, by message number. */
  jobs: Map<number, Job>
  /** Leaves once idle: the pool shrank below it. */
  retiring: boolean
}

const ENTRY = join(__dirname, 'worker-entry.js')

/**
 * The worker_threads of a queue in worker-thread mode. The queue decides what runs and when
 * (priorities, retries, timeouts); the pool hands each started task to the least-loaded
 * thread, which runs the handler its module exports under the task's name. Arguments travel
 * over the thread's MessagePort (the spec's `transfer` list moved, not copied); results back,
 * ArrayBuffers moved.
 * @internal
 */
export class WorkerPool {
  private readonly threads: Thread[] = []
  private readonly jobs = new Map<Task, number>()
  private readonly moduleHref: string
  private target = 0
  private nextJob = 0

  constructor(
    module: string | URL,
    private readonly events: PoolEvents,
  ) {
    this.moduleHref = module instanceof URL ? module.href : pathToFileURL(resolvePath(module)).href
  }

  /** Keeps `count` threads: starts missing ones, retires the surplus as it becomes idle. */
  resize(count: number): void {
    this.target = count
    let active = this.threads.filter((t) => !t.retiring).length
    for (; active < count; active++) this.threads.push(this.spawn())
    for (let i = this.threads.length - 1; i >= 0 && active > count; i--) {
      const thread = this.threads[i]!
      if (thread.retiring) continue
      thread.retiring = true
      active--
      if (thread.jobs.size === 0) this.remove(thread)
    }
  }

  /** Sends a started task to the least-loaded thread; throws if its arguments cannot be cloned. */
  run(task: Task, token: number): void {
    let best: Thread | undefined
    for (const thread of this.threads) {
      if (!thread.retiring && (best === undefined || thread.jobs.size < best.jobs.size)) best = thread
    }
    if (best === undefined) {
      best = this.spawn()
      this.threads.push(best)
    }
    const n = ++this.nextJob
    const message: ToWorker = [0, n, task.name, task.spec.args, task.attempts, task.id]
    best.worker.postMessage(message, task.spec.transfer as Parameters<Worker['postMessage']>[1])
    // Not taken for stalled while it waits behind another task or for the thread to boot:
    // the thread heartbeats when it starts the task.
    task.lastBeatAt = Infinity
    best.jobs.set(n, { task, token, thread: best })
    if (best.jobs.size === 1) best.worker.ref()
    this.jobs.set(task, n)
  }

  /** Tells the thread running `task` to abort its signal; the queue has settled the task. */
  abort(task: Task): void {
    const n = this.jobs.get(task)
    if (n !== undefined) this.find(n)?.thread.worker.postMessage([1, n] satisfies ToWorker)
  }

  /** Replaces the thread of a task taken for dead: its other tasks fail, to be retried. */
  stalled(task: Task): void {
    const n = this.jobs.get(task)
    const job = n === undefined ? undefined : this.find(n)
    if (job === undefined) return
    this.fail(job.thread, new UnavailableError(`worker thread replaced: task ${task.id} stalled on it`))
    this.remove(job.thread)
    this.resize(this.target)
  }

  /** Stops every thread. */
  async close(): Promise<void> {
    const threads = this.threads.splice(0)
    for (const thread of threads) this.fail(thread, new UnavailableError('worker pool closed'))
    await Promise.all(threads.map((t) => t.worker.terminate()))
  }

  private spawn(): Thread {
    const worker = new Worker(ENTRY, { workerData: { module: this.moduleHref } })
    const thread: Thread = { worker, jobs: new Map(), retiring: false }
    worker.on('message', (message: FromWorker) => this.onMessage(thread, message))
    worker.on('error', (error) => {
      this.fail(thread, error)
      this.events.workerError(error)
    })
    worker.on('exit', (code) => {
      if (this.threads.includes(thread)) {
        this.fail(thread, new UnavailableError(`worker thread exited with code ${code}`))
        this.remove(thread)
        if (!thread.retiring) this.resize(this.target)
      }
    })
    // Idle threads must not keep the process alive; a thread is referenced while it has work.
    worker.unref()
    return thread
  }

  private onMessage(thread: Thread, message: FromWorker): void {
    const job = thread.jobs.get(message[1])
    if (job === undefined) return
    switch (message[0]) {
      case 0:
        thread.jobs.delete(message[1])
        if (thread.jobs.size === 0) thread.worker.unref()
        this.jobs.delete(job.task)
        if (message[2]) this.events.succeeded(job.task, job.token, message[3])
        else
          this.events.failed(
            job.task,
            job.token,
            fromTaskError(message[3] as TaskError, 'the task failed in a worker thread'),
          )
        if (thread.retiring && thread.jobs.size === 0) this.remove(thread)
        break
      case 1:
        this.events.progress(job.task, message[2])
        break
      case 2:
        this.events.heartbeat(job.task)
        break
    }
  }

  private find(n: number): Job | undefined {
    for (const thread of this.threads) {
      const job = thread.jobs.get(n)
      if (job !== undefined) return job
    }
    return undefined
  }

  /** Fails every task sent to `thread` and forgets them. */
  private fail(thread: Thread, error: unknown): void {
    const jobs = [...thread.jobs.values()]
    thread.jobs.clear()
    thread.worker.unref()
    for (const job of jobs) {
      this.jobs.delete(job.task)
      this.events.failed(job.task, job.token, error)
    }
  }

  private remove(thread: Thread): void {
    const index = this.threads.indexOf(thread)
    if (index >= 0) this.threads.splice(index, 1)
    if (thread.jobs.size === 0) void thread.worker.terminate()
  }
}
