import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'
import {
  AbortError,
  ClosedError,
  ConfigError,
  configFromEnv,
  InvalidArgumentError,
  MetricsCollector,
  Priority,
  QueueFullError,
  TaskQueue,
  TimeoutError,
  type TaskHandle,
  type TaskSpec,
} from 'optlayer'

import { waitFor } from './helpers/wait'

/** A task that runs until `open()` is called: holds a worker so later tasks queue. */
function gate(): { spec: TaskSpec; open: () => void; started: Promise<void> } {
  let open!: () => void
  let started!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  const running = new Promise<void>((resolve) => (started = resolve))
  return {
    spec: {
      name: 'gate',
      priority: Priority.Critical,
      run: async () => {
        started()
        await opened
      },
    },
    open,
    started: running,
  }
}

const settled = (handles: TaskHandle[]) => Promise.allSettled(handles.map((h) => h.result))

test('runs tasks and reports their outcome, attempts and timings', async (t) => {
  const q = new TaskQueue({ maxWorkers: 4 })
  t.teardown(() => q.stop())
  const handle = q.submit({ name: 'double', args: 21, run: async (n: number) => n * 2 })
  t.is(await handle.result, 42)
  const info = q.getTask(handle.id)!
  t.like(info, { id: handle.id, name: 'double', priority: Priority.Normal, state: 'succeeded', attempts: 1 })
  t.true(info.createdAt <= info.startedAt! && info.startedAt! <= info.finishedAt!)
  t.true(Math.abs(info.createdAt - Date.now()) < 60_000, 'epoch milliseconds')
  t.is(q.submit({ name: 'sync', run: () => 'now' }).id.length > 0, true)
  const custom = q.submit({ id: 'mine', name: 'sync', run: () => 1 })
  t.is(custom.id, 'mine')
  t.is(await custom.result, 1)
  t.is(q.timings().run.count, 3)
})

test('higher priorities run first; Low still gets its weighted turns', async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 1 })
  t.teardown(() => q.stop())
  const g = gate()
  const blocker = q.submit(g.spec)
  await g.started
  const order: string[] = []
  const handles: TaskHandle[] = []
  const levels = ['Low', 'Normal', 'High', 'Critical'] as const
  for (let i = 0; i < 15; i++) {
    for (const level of levels) {
      handles.push(q.submit({ name: level, priority: Priority[level], run: () => void order.push(level) }))
    }
  }
  t.deepEqual(q.stats().depth, { Critical: 15, High: 15, Normal: 15, Low: 15 })
  g.open()
  await blocker.result
  await settled(handles)
  t.is(order.length, 60)
  const meanPosition = (level: string) =>
    order.reduce((sum, l, i) => (l === level ? sum + i : sum), 0) / order.filter((l) => l === level).length
  t.true(meanPosition('Critical') < meanPosition('High'), order.join(' '))
  t.true(meanPosition('High') < meanPosition('Normal'), order.join(' '))
  t.true(meanPosition('Normal') < meanPosition('Low'), order.join(' '))
  t.is(order[0], 'Critical')
  // Weights 8:4:2:1 — in the first 15 dequeues every level has had its turn.
  t.true(order.slice(0, 15).includes('Low'), order.slice(0, 15).join(' '))
})

test('no starvation: Low tasks finish under a constant flood of Critical work', async (t) => {
  const q = new TaskQueue({ minWorkers: 2, maxWorkers: 2 })
  t.teardown(() => q.stop())
  let flooding = true
  let critical = 0
  const flood = async (): Promise<void> => {
    await null
    critical++
    // Every Critical task queues two more while the flood lasts: the Critical level never empties.
    if (flooding) for (let i = 0; i < 2; i++) q.submit({ name: 'flood', priority: Priority.Critical, run: flood })
  }
  for (let i = 0; i < 4; i++) q.submit({ name: 'flood', priority: Priority.Critical, run: flood })
  const lows = Array.from({ length: 20 }, () => q.submit({ name: 'low', priority: Priority.Low, run: async () => {} }))
  await Promise.all(lows.map((h) => h.result))
  flooding = false
  const depth = q.stats().depth
  t.true(depth.Critical > 0, 'the flood was still going when every Low task had run')
  t.true(critical < 20 * 15 * 2, `${critical} Critical tasks ran before the last Low one`)
})

test('retries back off exponentially (no jitter here) and then succeed', async (t) => {
  const q = new TaskQueue()
  t.teardown(() => q.stop())
  const delays: number[] = []
  q.on('retrying', (info, error, delayMs) => {
    t.is(info.state, 'retrying')
    t.is((error as Error).message, `fail ${info.attempts}`)
    t.true(info.nextAttemptAt! > Date.now() - 1_000)
    delays.push(delayMs)
  })
  let calls = 0
  const handle = q.submit({
    name: 'flaky',
    retries: 3,
    backoff: { initialMs: 5, factor: 3, jitter: 'none' },
    run: async () => {
      if (++calls < 3) throw new Error(`fail ${calls}`)
      return 'ok'
    },
  })
  t.is(await handle.result, 'ok')
  t.deepEqual(delays, [5, 15])
  t.like(q.getTask(handle.id), { state: 'succeeded', attempts: 3 })
  t.is(q.stats().retried, 2)
})

test('jittered backoff stays within its bounds and the cap', async (t) => {
  const q = new TaskQueue({ backoff: { initialMs: 4, maxMs: 10, factor: 4, jitter: 'equal' } })
  t.teardown(() => q.stop())
  const delays: number[] = []
  q.on('retrying', (_info, _error, delayMs) => delays.push(delayMs))
  const handle = q.submit({
    name: 'always-fails',
    retries: 3,
    run: () => {
      throw new Error('no')
    },
  })
  await t.throwsAsync(handle.result, { message: 'no' })
  t.is(delays.length, 3)
  // equal jitter: d/2 + U[0, d/2] with d = min(10, 4 × 4^(n−1)) = 4, 10, 10.
  t.true(delays[0]! >= 2 && delays[0]! <= 4, String(delays))
  t.true(
    delays.slice(1).every((d) => d >= 5 && d <= 10),
    String(delays),
  )
})

test('a task that runs past timeoutMs is aborted and fails with TimeoutError', async (t) => {
  const q = new TaskQueue({ deadLetter: false })
  t.teardown(() => q.stop())
  const signals: AbortSignal[] = []
  const handle = q.submit({
    name: 'slow',
    timeoutMs: 20,
    retries: 1,
    backoff: { initialMs: 1, jitter: 'none' },
    run: (_args, signal) => {
      signals.push(signal)
      return new Promise(() => {})
    },
  })
  const error = await t.throwsAsync(handle.result, { instanceOf: TimeoutError })
  t.is(error?.code, 'ERR_OPTLAYER_TIMEOUT')
  t.is(signals.length, 2, 'the timeout counted as a failed attempt and was retried')
  t.true(signals.every((s) => s.aborted && s.reason instanceof TimeoutError))
  t.like(q.getTask(handle.id), { state: 'failed', attempts: 2 })
  t.like(q.stats(), { timedOut: 2, failed: 1, running: 0 })
})

test('durations past what a timer holds (2^31 − 1 ms) mean none rather than firing at once', async (t) => {
  const q = new TaskQueue({ minWorkers: 8, maxWorkers: 8, timeoutMs: 2 ** 35 })
  const forever = (_args: unknown, signal: AbortSignal) =>
    new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
  const long = [2 ** 31, 2 ** 40, Infinity, undefined].map((timeoutMs) =>
    q.submit({ name: `timeout-${timeoutMs}`, timeoutMs, run: forever }),
  )
  const retried = q.submit({
    name: 'long-backoff',
    retries: 1,
    backoff: { initialMs: 2 ** 40, maxMs: 2 ** 41, jitter: 'none' },
    run: () => Promise.reject(new Error('first try')),
  })
  // A timer that overflows fires after 1 ms: long before this 50 ms one.
  const control = q.submit({ name: 'control', timeoutMs: 50, run: forever })
  await t.throwsAsync(control.result, { instanceOf: TimeoutError })
  for (const handle of long) t.like(q.getTask(handle.id), { state: 'running', attempts: 1 })
  t.like(q.getTask(retried.id), { state: 'retrying', attempts: 1 })
  t.true(q.getTask(retried.id)!.nextAttemptAt! - Date.now() > 2 ** 31 - 1 - 60_000)
  t.like(q.stats(), { timedOut: 1, running: long.length })
  // A drain deadline past the limit does not give up at once either.
  const stopped = q.stop({ drain: true, timeoutMs: 2 ** 40 })
  const drainedEarly = await Promise.race([stopped.then(() => true), sleep(50).then(() => false)])
  t.false(drainedEarly)
  for (const handle of long) t.true(q.cancel(handle.id))
  t.true(q.cancel(retried.id))
  t.like(await stopped, { drained: true })
})

test('cancel removes a pending task and aborts a running one', async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 1 })
  t.teardown(() => q.stop())
  let aborted: unknown
  let started!: () => void
  const running = new Promise<void>((resolve) => (started = resolve))
  const first = q.submit({
    name: 'long',
    run: (_args, signal) =>
      new Promise((_resolve, reject) => {
        started()
        signal.addEventListener('abort', () => {
          aborted = signal.reason
          reject(signal.reason)
        })
      }),
  })
  let ran = false
  const second = q.submit({ name: 'never', run: () => void (ran = true) })
  await running
  t.is(q.getTask(second.id)?.state, 'pending')
  t.true(q.cancel(second.id))
  await t.throwsAsync(second.result, { instanceOf: AbortError })
  t.is(q.getTask(second.id)?.state, 'cancelled')
  t.true(q.cancel(first.id))
  await t.throwsAsync(first.result, { instanceOf: AbortError })
  t.true(aborted instanceof AbortError)
  t.false(q.cancel(first.id), 'already finished')
  t.false(q.cancel('nobody'))
  // The slot of the cancelled pending task is skipped, not run.
  await q.submit({ name: 'after', run: () => 1 }).result
  t.false(ran)
  t.like(q.stats(), { cancelled: 2, running: 0, depth: { Critical: 0, High: 0, Normal: 0, Low: 0 } })
})

test('cancelled pending tasks free their room at once', async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 1, queueSize: 3 })
  t.teardown(() => q.stop())
  const g = gate()
  q.submit(g.spec)
  await g.started
  for (let round = 0; round < 5; round++) {
    const handles = [1, 2, 3].map(() => q.submit({ name: 'x', run: () => round }))
    t.throws(() => q.submit({ name: 'x', run: () => 0 }), { instanceOf: QueueFullError })
    for (const h of handles) q.cancel(h.id)
  }
  const kept = [1, 2, 3].map((n) => q.submit({ name: 'x', run: () => n }))
  g.open()
  t.deepEqual(await Promise.all(kept.map((h) => h.result)), [1, 2, 3])
})

test('tasks that exhaust their retries land in the dead-letter queue; requeue and purge', async (t) => {
  const q = new TaskQueue()
  t.teardown(() => q.stop())
  const dead: string[] = []
  q.on('dead', (letter) => dead.push(letter.id))
  let healthy = false
  const handle = q.submit({
    id: 'job-1',
    name: 'fragile',
    args: { n: 1 },
    retries: 1,
    backoff: { initialMs: 1 },
    run: () => {
      if (!healthy) throw Object.assign(new Error('down'), { code: 'E_DOWN' })
      return 'recovered'
    },
  })
  await t.throwsAsync(handle.result, { message: 'down' })
  t.deepEqual(dead, ['job-1'])
  t.like(q.getTask('job-1'), { state: 'dead', attempts: 2, lastError: { message: 'down', code: 'E_DOWN' } })
  const letters = q.deadLetters()
  t.is(letters.length, 1)
  t.like(letters[0], { id: 'job-1', name: 'fragile', args: { n: 1 }, attempts: 2, error: { code: 'E_DOWN' } })
  t.like(q.deadLetter('job-1'), { id: 'job-1' })
  healthy = true
  const again = q.requeue('job-1')
  t.is(again.id, 'job-1')
  t.is(await again.result, 'recovered')
  t.deepEqual(q.deadLetters(), [])
  t.throws(() => q.requeue('job-1'), { instanceOf: InvalidArgumentError })
  healthy = false
  for (const id of ['a', 'b', 'c']) {
    await t.throwsAsync(q.submit({ id, name: 'fragile', run: () => Promise.reject(new Error('x')) }).result)
  }
  t.is(q.purgeDeadLetters(['a', 'zzz']), 1)
  t.is(q.purgeDeadLetters(), 2)
  t.like(q.stats(), { deadLettered: 4 })
})

test('the dead-letter queue is bounded and reports what it evicts', async (t) => {
  const q = new TaskQueue({ maxDeadLetters: 2 })
  t.teardown(() => q.stop())
  const evicted: string[] = []
  q.on('deadLetterEvicted', (letter) => evicted.push(letter.id))
  for (const id of ['a', 'b', 'c']) {
    await t.throwsAsync(q.submit({ id, name: 'x', run: () => Promise.reject(new Error(id)) }).result)
  }
  t.deepEqual(
    q.deadLetters().map((l) => l.id),
    ['b', 'c'],
  )
  t.deepEqual(evicted, ['a'])
})

test('submitBatch admits all or none', async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 1, queueSize: 5 })
  t.teardown(() => q.stop())
  const g = gate()
  q.submit(g.spec)
  await g.started
  const spec = (n: number): TaskSpec => ({ name: 'n', run: () => n })
  t.throws(() => q.submitBatch(Array.from({ length: 6 }, (_, i) => spec(i))), { instanceOf: QueueFullError })
  t.throws(() => q.submitBatch([spec(1), { name: 'bad', priority: 9 as Priority, run: () => 0 }]), {
    instanceOf: InvalidArgumentError,
  })
  t.throws(
    () =>
      q.submitBatch([
        { ...spec(1), id: 'same' },
        { ...spec(2), id: 'same' },
      ]),
    {
      instanceOf: InvalidArgumentError,
    },
  )
  t.like(q.stats(), { submitted: 1, rejected: 6 }, 'nothing of the failed batches was accepted')
  const handles = q.submitBatch(Array.from({ length: 5 }, (_, i) => spec(i)))
  t.throws(() => q.submit(spec(9)), { instanceOf: QueueFullError })
  g.open()
  t.deepEqual(await Promise.all(handles.map((h) => h.result)), [0, 1, 2, 3, 4])
})

test('bad options and specs are refused with what was expected', (t) => {
  t.throws(() => new TaskQueue({ maxWorkers: 0 }), { instanceOf: InvalidArgumentError, message: /maxWorkers/ })
  t.throws(() => new TaskQueue({ minWorkers: 5, maxWorkers: 2 }), { message: /minWorkers/ })
  t.throws(() => new TaskQueue({ queueSize: 1.5 }), { message: /queueSize/ })
  t.throws(() => new TaskQueue({ weights: [1, 2, 3] as never }), { message: /weights/ })
  t.throws(() => new TaskQueue({ backoff: { factor: 0.5 } }), { message: /backoff.factor/ })
  const q = new TaskQueue()
  t.teardown(() => q.stop())
  t.throws(() => q.submit({ name: '', run: () => 0 }), { instanceOf: InvalidArgumentError, message: /name/ })
  t.throws(() => q.submit({ name: 'x' }), { message: /run function/ })
  t.throws(() => q.submit({ name: 'x', run: () => 0, priority: 4 as Priority }), { message: /priority/ })
  t.throws(() => q.submit({ name: 'x', run: () => 0, retries: -1 }), { message: /retries/ })
  t.throws(() => q.submit({ name: 'x', run: () => 0, timeoutMs: 0 }), { message: /timeoutMs/ })
  const g = gate()
  q.submit({ ...g.spec, id: 'taken' })
  t.throws(() => q.submit({ id: 'taken', name: 'x', run: () => 0 }), { message: /still running/ })
  g.open()
})

test('QUEUE_MAX_WORKERS and QUEUE_SIZE are read and validated, naming the variable', (t) => {
  t.deepEqual(configFromEnv({ QUEUE_MAX_WORKERS: '4', QUEUE_SIZE: '100' }).queue, { maxWorkers: 4, queueSize: 100 })
  for (const [name, bad] of [
    ['QUEUE_MAX_WORKERS', '0'],
    ['QUEUE_SIZE', 'lots'],
  ] as const) {
    t.throws(() => configFromEnv({ [name]: bad }), { instanceOf: ConfigError, message: new RegExp(`^${name} must be`) })
  }
  const q = new TaskQueue(configFromEnv({ QUEUE_MAX_WORKERS: '3' }).queue)
  t.is(q.options.maxWorkers, 3)
  void q.stop()
})

test('workers grow with the backlog up to maxWorkers and shrink back when idle', async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 4, idleTimeoutMs: 50 })
  t.teardown(() => q.stop())
  const counts: number[] = []
  q.on('workers', (n) => counts.push(n))
  let running = 0
  let peak = 0
  const handles = Array.from({ length: 40 }, () =>
    q.submit({
      name: 'io',
      run: async () => {
        peak = Math.max(peak, ++running)
        await sleep(5)
        running--
      },
    }),
  )
  await settled(handles)
  t.is(peak, 4, 'concurrency reached maxWorkers and never passed it')
  t.is(Math.max(...counts), 4)
  await waitFor('the pool to shrink to minWorkers', () => q.stats().workers <= 1)
  t.is(counts.at(-1), 1, 'back to minWorkers once idle')
})

test('progress and heartbeats keep a long task alive; silence past stallTimeoutMs fails it', async (t) => {
  const q = new TaskQueue({ stallTimeoutMs: 250, maxWorkers: 2 })
  t.teardown(() => q.stop())
  const progress: unknown[] = []
  q.on('progress', (info, value) => {
    t.is(info.progress, value)
    progress.push(value)
  })
  const alive = q.submit({
    name: 'long',
    run: async (_args, _signal, context) => {
      for (let i = 1; i <= 8; i++) {
        await sleep(20)
        if (i % 2) context.heartbeat()
        else context.progress(i / 8)
      }
      return 'done'
    },
  })
  const silent = q.submit({ name: 'hung', run: () => new Promise(() => {}) })
  t.is(await alive.result, 'done')
  t.deepEqual(progress, [0.25, 0.5, 0.75, 1])
  t.is(q.getTask(alive.id)?.progress, 1)
  await t.throwsAsync(silent.result, { instanceOf: TimeoutError, message: /stalled/ })
})

test('stop({ drain: true }) under load finishes every accepted task, retries included', async (t) => {
  const q = new TaskQueue({ maxWorkers: 8, queueSize: 5_000 })
  let drainedEvents = 0
  q.on('drained', () => drainedEvents++)
  const failedOnce = new Set<number>()
  const handles: TaskHandle[] = []
  for (let i = 0; i < 3_000; i++) {
    handles.push(
      q.submit({
        name: 'work',
        priority: (i % 4) as Priority,
        retries: 2,
        backoff: { initialMs: 1, maxMs: 5 },
        run: async () => {
          if (i % 7 === 0 && !failedOnce.has(i)) {
            failedOnce.add(i)
            throw new Error('transient')
          }
          if (i % 3 === 0) await sleep(1)
          return i
        },
      }),
    )
  }
  const report = await q.stop({ drain: true })
  t.deepEqual(report, { drained: true, unfinished: [], returned: [], deadLettered: [] })
  const results = await settled(handles)
  t.true(results.every((r, i) => r.status === 'fulfilled' && r.value === i))
  t.like(q.stats(), { submitted: 3_000, succeeded: 3_000, running: 0, retried: failedOnce.size })
  t.true(drainedEvents >= 1)
  t.throws(() => q.submit({ name: 'late', run: () => 0 }), { instanceOf: ClosedError })
})

test('stop without drain hands back pending tasks and aborts running ones', async (t) => {
  const q = new TaskQueue({ minWorkers: 2, maxWorkers: 2 })
  const signals: AbortSignal[] = []
  const never = (_args: unknown, signal: AbortSignal) => {
    signals.push(signal)
    return new Promise(() => {})
  }
  const running = [q.submit({ name: 'r', run: never }), q.submit({ name: 'r', run: never })]
  const pending = [1, 2, 3].map((n) => q.submit({ id: `p${n}`, name: 'p', args: n, run: () => n }))
  const report = await q.stop()
  t.false(report.drained)
  t.deepEqual(report.unfinished.sort(), running.map((h) => h.id).sort())
  t.deepEqual(
    report.returned.map((s) => s.args),
    [1, 2, 3],
  )
  t.deepEqual(report.deadLettered, [])
  t.true(signals.every((s) => s.aborted))
  for (const h of running) await t.throwsAsync(h.result, { instanceOf: AbortError })
  for (const h of pending) await t.throwsAsync(h.result, { instanceOf: ClosedError })
  t.is(await q.stop(), report, 'idempotent')
})

test("stop with onStop: 'dead-letter', and a drain that times out, account for every task", async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 1 })
  const g = gate()
  const blocker = q.submit(g.spec)
  const waiting = q.submit({ id: 'w', name: 'w', run: () => 1 })
  const report = await q.stop({ drain: true, timeoutMs: 30, onStop: 'dead-letter' })
  t.false(report.drained)
  t.deepEqual(report.unfinished.sort(), [blocker.id, 'w'].sort())
  t.deepEqual(report.deadLettered, ['w'])
  t.deepEqual(
    q.deadLetters().map((l) => [l.id, l.error.code]),
    [['w', 'ERR_OPTLAYER_CLOSED']],
  )
  await t.throwsAsync(waiting.result, { instanceOf: ClosedError })
  await t.throwsAsync(blocker.result, { instanceOf: AbortError })
  g.open()
})

test('metrics: depth per priority, workers and outcomes reach the collector', async (t) => {
  const metrics = new MetricsCollector({ defaultMetrics: false })
  t.teardown(() => metrics.close())
  const q = new TaskQueue({ name: 'images', minWorkers: 1, maxWorkers: 1 })
  t.teardown(() => q.stop())
  const g = gate()
  q.submit(g.spec)
  await g.started
  for (let i = 0; i < 3; i++) q.submit({ name: 'h', priority: Priority.High, run: () => 0 })
  q.submit({ name: 'l', priority: Priority.Low, run: () => 0 })
  const text = await metrics.expose()
  t.regex(text, /optlayer_queue_depth\{queue="images",priority="High"\} 3/)
  t.regex(text, /optlayer_queue_depth\{queue="images",priority="Low"\} 1/)
  t.regex(text, /optlayer_queue_workers\{queue="images"\} 1/)
  t.regex(text, /optlayer_queue_submitted_total\{queue="images"\} 5/)
  g.open()
})

test('finished tasks stay queryable for keepFinished newer ones; caller ids never meet generated ones', async (t) => {
  const q = new TaskQueue({ keepFinished: 10 })
  t.teardown(() => q.stop())
  const first = q.submit({ name: 'x', run: () => 0 })
  await first.result
  const named = q.submit({ id: String(Number(first.id) + 1), name: 'mine', run: () => 'named' })
  const next = q.submit({ name: 'x', run: () => 0 })
  t.not(next.id, named.id, 'the generated id skips one a caller took')
  await Promise.all([named.result, next.result])
  t.is(q.getTask(named.id)?.name, 'mine')
  for (let i = 0; i < 10_000; i++) await q.submit({ name: 'x', run: () => i }).result
  t.is(q.getTask(first.id), undefined, 'forgotten after many newer tasks')
  t.is(q.getTask(named.id), undefined)
  const recent = q.submit({ name: 'x', run: () => 0 })
  await recent.result
  t.is(q.getTask(recent.id)?.state, 'succeeded')
  t.is(q.getTask('not-a-task'), undefined)
})

test('whenSpace lets a producer wait for room instead of catching QueueFullError', async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 1, queueSize: 2 })
  const g = gate()
  q.submit(g.spec)
  await g.started
  q.submit({ name: 'a', run: () => 'a' })
  q.submit({ name: 'b', run: () => 'b' })
  await q.whenSpace(0 as number).then(
    () => t.fail(),
    (err: unknown) => t.true(err instanceof InvalidArgumentError),
  )
  let admitted = false
  const waiting = q.whenSpace(2).then(() => {
    admitted = true
    return q.submitBatch([
      { name: 'c', run: () => 'c' },
      { name: 'd', run: () => 'd' },
    ])
  })
  const aborted = new AbortController()
  const gaveUp = q.whenSpace(1, aborted.signal)
  await sleep(10)
  t.false(admitted, 'no room while the gate holds the only worker')
  aborted.abort(new Error('enough'))
  await t.throwsAsync(gaveUp, { message: 'enough' })
  g.open()
  const handles = await waiting
  t.deepEqual(await Promise.all(handles.map((h) => h.result)), ['c', 'd'])
  await q.stop()
  await t.throwsAsync(q.whenSpace(1), { instanceOf: ClosedError })
})

test("a task that exhausts its retries emits 'failed' with final: true, dead-lettered or not, and counts as failed", async (t) => {
  for (const deadLetter of [true, false]) {
    const q = new TaskQueue({ deadLetter })
    const failed: { id: string; error: unknown; final: boolean; deadLettered: boolean }[] = []
    q.on('failed', (info, error, outcome) => failed.push({ id: info.id, error, ...outcome }))
    const dead: string[] = []
    q.on('dead', (letter) => dead.push(letter.id))
    const handle = q.submit({
      name: 'doomed',
      retries: 1,
      backoff: { initialMs: 1, jitter: 'none' },
      run: () => {
        throw new RangeError('no')
      },
    })
    await t.throwsAsync(handle.result, { instanceOf: RangeError })
    t.is(failed.length, 1, `deadLetter ${deadLetter}: one 'failed', for the last attempt only`)
    t.like(failed[0], { id: handle.id, final: true, deadLettered: deadLetter })
    t.true(failed[0]?.error instanceof RangeError)
    t.deepEqual(dead, deadLetter ? [handle.id] : [])
    t.like(q.stats(), { failed: 1, deadLettered: deadLetter ? 1 : 0, retried: 1 })
    await q.stop()
  }
})

test('p-queue names: pause, start, size, pending, onEmpty and onIdle', async (t) => {
  const q = new TaskQueue({ minWorkers: 1, maxWorkers: 1 })
  t.false(q.isPaused)
  q.pause()
  t.true(q.isPaused)
  const order: number[] = []
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  const first = q.submit({ name: 'first', run: () => gate.then(() => order.push(1)) })
  const second = q.submit({ name: 'second', run: () => order.push(2) })
  t.is(q.size, 2, 'paused: both wait')
  t.is(q.pending, 0)
  let empty = false
  const emptied = q.onEmpty().then(() => (empty = true))
  let idle = false
  const idled = q.onIdle().then(() => (idle = true))
  t.is(q.start(), q, 'start() returns the queue, as p-queue does')
  t.false(q.isPaused)
  t.is(q.pending, 1, 'one worker: the first runs')
  t.is(q.size, 1)
  t.false(empty)
  release()
  await first.result
  await emptied
  t.true(empty, 'nothing queued once the second has started')
  await second.result
  await idled
  t.true(idle)
  t.deepEqual(order, [1, 2])
  t.is(q.size, 0)
  t.is(q.pending, 0)
  await q.onEmpty()
  await q.onIdle()
  q.pause()
  q.submit({ name: 'held', run: () => order.push(3) })
  const report = await q.stop({ drain: true, timeoutMs: 10_000 })
  t.true(report.drained, 'a drain runs what a paused queue held')
  t.deepEqual(order, [1, 2, 3])
})
