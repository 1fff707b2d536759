import { type ChainableCommander, type Cluster, type Redis, ReplyError } from 'ioredis'

import {
  ClosedError,
  InternalError,
  InvalidArgumentError,
  type OptlayerError,
  QueueFullError,
  UnavailableError,
} from '../../core/errors'
import { Priority, type DeadLetter, type TaskInfo, type TaskState } from '../types'
import { decodeValue, parseTaskError } from './codec'
import { DURABLE_SCRIPTS, queueKeys, type DurableScriptName, type QueueKeys } from './scripts'

/** A task as stored: the fields `submit` writes. @internal */
export interface StoredTask {
  id: string
  name: string
  priority: Priority
  /** JSON ('' for none). */
  args: string
  retries: number
  /** JSON ('' for the queue's default). */
  backoff: string
  /** '' for none. */
  timeoutMs: string
}

/** A task handed to this consumer by the cycle script. @internal */
export interface ClaimedTask {
  id: string
  lease: string
  name: string
  priority: Priority
  args: string
  retries: number
  backoff: string
  timeoutMs: number | undefined
  attempt: number
  createdAt: number
}

/** What a consumer reports of a task it held. @internal */
export interface Outcome {
  id: string
  lease: string
  /** `s` succeeded, `f<delayMs>` failed attempt, `r` released unrun. */
  kind: string
  /** JSON result or error. */
  payload: string
  /** The last progress not yet stored (JSON, '' for none). */
  progress: string
}

/** Tasks waiting per priority, awaiting retry, and running (in Redis' view). @internal */
export interface Depth {
  byPriority: [number, number, number, number]
  delayed: number
  active: number
}

/** The final state of a task and its result or error, as the channel and `resultOf` give it. @internal */
export type Settlement = { id: string; state: TaskState; payload: string }

/** Per-task answer of a coalesced submit: accepted, duplicate id, queue full. @internal */
export type SubmitStatus = 1 | 2 | 3

type Script = (...args: (string | number)[]) => Promise<unknown>

const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'dead'])

/**
 * The Redis side of a durable queue: each method is one script or one pipeline (see
 * `scripts.ts` for the data model). Redis failures reject with {@link UnavailableError},
 * after `close()` with {@link ClosedError}.
 * @internal
 */
export class DurableStore {
  readonly keys: QueueKeys
  private readonly scripts: Record<DurableScriptName, Script>
  private closed = false

  constructor(
    readonly client: Redis | Cluster,
    prefix: string,
    name: string,
  ) {
    this.keys = queueKeys(prefix, name)
    const commands = client as unknown as Record<string, Script>
    this.scripts = Object.fromEntries(
      Object.entries(DURABLE_SCRIPTS).map(([key, { command }]) => [key, commands[command] as Script]),
    ) as Record<DurableScriptName, Script>
  }

  /** Marks the store closed: later calls reject with {@link ClosedError}. */
  close(): void {
    this.closed = true
  }

  /**
   * Stores `tasks` (at most `queueSize` waiting). All-or-nothing (`atomic`): rejects with
   * {@link QueueFullError}, or {@link InvalidArgumentError} for the id of a live task, and
   * stores nothing. Otherwise one status per task.
   */
  async submit(tasks: readonly StoredTask[], queueSize: number, atomic: boolean): Promise<SubmitStatus[]> {
    const fields: (string | number)[] = []
    for (const t of tasks) fields.push(t.id, t.name, t.priority, t.args, t.retries, t.backoff, t.timeoutMs)
    return (await this.run('submit', queueSize, atomic ? 1 : 0, tasks.length, ...fields)) as SubmitStatus[]
  }

  /** One consumer round trip: outcomes recorded, up to `max` tasks claimed. */
  async cycle(
    outcomes: readonly Outcome[],
    max: number,
    settings: { ttlMs: number; deadLetter: boolean; maxStalls: number; consumer: string; visibilityMs: number },
  ): Promise<{ states: string[]; claimed: ClaimedTask[]; depth: Depth }> {
    const fields: (string | number)[] = []
    for (const o of outcomes) fields.push(o.id, o.lease, o.kind, o.payload, o.progress)
    const { ttlMs, deadLetter, maxStalls, consumer, visibilityMs } = settings
    const reply = (await this.run(
      'cycle',
      ttlMs,
      deadLetter ? 1 : 0,
      maxStalls,
      consumer,
      visibilityMs,
      max,
      outcomes.length,
      ...fields,
    )) as [string[], string[], number[]]
    const [states, flat, depth] = reply
    const claimed: ClaimedTask[] = []
    for (let i = 0; i + 9 < flat.length; i += 10) {
      const timeout = flat[i + 7] as string
      claimed.push({
        id: flat[i] as string,
        lease: flat[i + 1] as string,
        name: flat[i + 2] as string,
        priority: Number(flat[i + 3]) as Priority,
        args: flat[i + 4] as string,
        retries: Number(flat[i + 5]),
        backoff: flat[i + 6] as string,
        timeoutMs: timeout === '' ? undefined : Number(timeout),
        attempt: Number(flat[i + 8]),
        createdAt: Number(flat[i + 9]),
      })
    }
    return { states, claimed, depth: toDepth(depth) }
  }

  /**
   * Heartbeat (and receipt) of running tasks, with their latest progress (JSON, '' for none).
   * Resolves to the ids of the tasks no longer held under the lease given.
   */
  async extend(
    entries: readonly { id: string; lease: string; progress: string }[],
    visibilityMs: number,
  ): Promise<string[]> {
    const fields: string[] = []
    for (const e of entries) fields.push(e.id, e.lease, e.progress)
    return (await this.run('extend', visibilityMs, ...fields)) as string[]
  }

  /** Cancels `id`; resolves to the state it was in, or undefined when there is no such task. */
  async cancel(id: string, ttlMs: number): Promise<TaskState | undefined> {
    return ((await this.run('cancel', ttlMs, id)) as TaskState | null) ?? undefined
  }

  /** Requeues dead letter `id`; false when it is not one. */
  async requeue(id: string, queueSize: number): Promise<boolean> {
    return (await this.run('requeue', queueSize, id)) === 1
  }

  /** Deletes every dead letter; resolves to how many. */
  async purge(): Promise<number> {
    let total = 0
    for (;;) {
      const removed = (await this.run('purge')) as number
      total += removed
      if (removed === 0) return total
    }
  }

  /** The record of `id`, or undefined. */
  async info(id: string): Promise<TaskInfo | undefined> {
    const fields = await this.call(() => this.client.hgetall(this.keys.record + id))
    return Object.keys(fields).length === 0 ? undefined : toInfo(id, fields)
  }

  /** The final state of each of `ids` that has one, and the ids whose record is gone. */
  async settlements(ids: readonly string[]): Promise<{ settled: Settlement[]; missing: string[] }> {
    const pipeline = this.client.pipeline()
    for (const id of ids) pipeline.hmget(this.keys.record + id, 's', 'res', 'e')
    const replies = await this.exec(pipeline)
    const settled: Settlement[] = []
    const missing: string[] = []
    replies.forEach((value, i) => {
      const id = ids[i] as string
      const [state, result, failure] = value as (string | null)[]
      if (state === null || state === undefined) missing.push(id)
      else if (FINAL.has(state)) {
        settled.push({ id, state: state as TaskState, payload: (state === 'succeeded' ? result : failure) ?? '' })
      }
    })
    return { settled, missing }
  }

  /** Dead letters, oldest first, at most `limit` from `offset`. */
  async deadLetters(offset: number, limit: number): Promise<DeadLetter[]> {
    const deadKey = this.keys.scriptKeys[6] as string
    const ids = await this.call(() => this.client.zrange(deadKey, offset, offset + limit - 1))
    if (ids.length === 0) return []
    const pipeline = this.client.pipeline()
    for (const id of ids) pipeline.hgetall(this.keys.record + id)
    const replies = await this.exec(pipeline)
    const letters: DeadLetter[] = []
    replies.forEach((value, i) => {
      const fields = value as Record<string, string>
      if (fields.s !== 'dead') return
      letters.push({
        id: ids[i] as string,
        name: fields.n ?? '',
        priority: Number(fields.p ?? Priority.Normal) as Priority,
        args: decodeValue(fields.a),
        attempts: Number(fields.at ?? 0),
        error: parseTaskError(fields.e) ?? { name: 'Error', message: 'unknown' },
        deadAt: Number(fields.f ?? 0),
      })
    })
    return letters
  }

  /** The current depth, read in one pipeline. */
  async depth(): Promise<Depth> {
    const [p0, p1, p2, p3, active, delayed] = this.keys.scriptKeys as [string, string, string, string, string, string]
    const pipeline = this.client.pipeline().llen(p0).llen(p1).llen(p2).llen(p3).zcard(delayed).zcard(active)
    return toDepth((await this.exec(pipeline)).map(Number))
  }

  /** The replies of a pipeline; rejects when any command failed (ioredis reports those per command). */
  private async exec(pipeline: ChainableCommander): Promise<unknown[]> {
    const replies = (await this.call(() => pipeline.exec())) ?? []
    return replies.map(([error, value]) => {
      if (error !== null) throw this.failure(error)
      return value
    })
  }

  private run(name: DurableScriptName, ...args: (string | number)[]): Promise<unknown> {
    return this.call(() =>
      (this.scripts[name] as Script).call(
        this.client,
        ...this.keys.scriptKeys,
        this.keys.record,
        this.keys.channel,
        ...args,
      ),
    )
  }

  private async call<T>(command: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ClosedError('the task queue is stopped')
    try {
      return await command()
    } catch (error) {
      throw this.failure(error)
    }
  }

  private failure(error: unknown): OptlayerError {
    const message = error instanceof Error ? error.message : String(error)
    if (error instanceof ReplyError) {
      if (message.includes('QUEUEFULL')) return new QueueFullError('the durable task queue is full (queueSize)')
      const duplicate = /DUPLICATE (.*)$/.exec(message)
      if (duplicate !== null) {
        return new InvalidArgumentError(`invalid id: a live task with id ${JSON.stringify(duplicate[1])} exists`)
      }
      if (/script|WRONGTYPE/i.test(message)) {
        return new InternalError(`a durable queue script failed: ${message}`, { cause: error })
      }
    }
    return new UnavailableError(`Redis did not answer: ${message}`, { cause: error })
  }
}

function toDepth(values: readonly number[]): Depth {
  const [p0 = 0, p1 = 0, p2 = 0, p3 = 0, delayed = 0, active = 0] = values
  return { byPriority: [p0, p1, p2, p3], delayed, active }
}

function toInfo(id: string, f: Record<string, string>): TaskInfo {
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value))
  const info: TaskInfo = {
    id,
    name: f.n ?? '',
    priority: Number(f.p ?? Priority.Normal) as Priority,
    state: (f.s ?? 'pending') as TaskState,
    attempts: Number(f.at ?? 0),
    createdAt: Number(f.c ?? 0),
  }
  const startedAt = number(f.st)
  const finishedAt = number(f.f)
  const nextAttemptAt = number(f.na)
  const lastError = parseTaskError(f.e)
  if (startedAt !== undefined) info.startedAt = startedAt
  if (finishedAt !== undefined) info.finishedAt = finishedAt
  if (nextAttemptAt !== undefined && info.state === 'retrying') info.nextAttemptAt = nextAttemptAt
  if (f.pg !== undefined) info.progress = decodeValue(f.pg)
  if (lastError !== undefined) info.lastError = lastError
  return info
}
