import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'

import test from 'ava'
import Redis from 'ioredis'

import {
  AbortError,
  ClosedError,
  DurableTaskQueue,
  InvalidArgumentError,
  LeaseLostError,
  MetricsCollector,
  NotSerializableError,
  Priority,
  QueueFullError,
  TimeoutError,
  UnavailableError,
  type DurableTaskEvent,
} from 'optlayer'

import {
  forkConsumers,
  open,
  queues,
  server,
  uniqueName,
  url,
  useDurableQueueServer,
  type ConsumerReport,
} from './helpers/durable-queue'
import { RedisNode, startCluster } from './helpers/redis'
import { TcpProxy } from './helpers/tcp-proxy'
import { waitFor } from './helpers/wait'

useDurableQueueServer()

test('bad options and bad tasks are refused with typed errors before any round trip', async (t) => {
  t.throws(() => new DurableTaskQueue({ redis: { url: url() }, concurrency: 0 }), { instanceOf: InvalidArgumentError })
  t.throws(() => new DurableTaskQueue({ redis: { url: url() }, name: 'a{b}' }), { instanceOf: InvalidArgumentError })
  t.throws(() => new DurableTaskQueue({ redis: { url: url() }, handlers: { x: 1 as never } }), {
    instanceOf: InvalidArgumentError,
  })
  t.throws(() => new DurableTaskQueue({ redis: {} as never }), { instanceOf: InvalidArgumentError })
  const queue = open({ name: uniqueName(), consume: false })
  const run = async () => 1
  await t.throwsAsync(queue.submit({ name: 'x', run }), { instanceOf: InvalidArgumentError, message: /run function/ })
  await t.throwsAsync(queue.submit({ name: '' }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(queue.submit({ name: 'x', priority: 7 as never }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(queue.submit({ name: 'x', retries: -1 }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(queue.submit({ name: 'x', timeoutMs: 0 }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(queue.submit({ name: 'x', backoff: { jitter: 'some' as never } }), {
    instanceOf: InvalidArgumentError,
  })
  await t.throwsAsync(queue.submit({ name: 'x', args: { f: () => 1 } }), { instanceOf: NotSerializableError })
  await t.throwsAsync(queue.submitBatch([{ name: 'x' }, { name: 'x', run }]), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(queue.getTask(''), { instanceOf: InvalidArgumentError })
  t.is(queue.stats().submitted, 0)
})

test('a producer-only instance submits; a consumer elsewhere runs the task and the producer gets the result', async (t) => {
  const name = uniqueName()
  const producer = open({ name, consume: false })
  const handle = await producer.submit({ name: 'add', args: { a: 2, b: 3 }, priority: Priority.High })
  t.like(await producer.getTask(handle.id), { state: 'pending', attempts: 0, priority: Priority.High, name: 'add' })
  const seen: unknown[] = []
  open({
    name,
    handlers: {
      add: async ({ a, b }: { a: number; b: number }, _signal, context) => {
        context.progress({ half: true })
        seen.push(context.attempt)
        return a + b
      },
    },
  })
  t.is(await handle.result, 5)
  t.deepEqual(seen, [1])
  const info = await producer.getTask(handle.id)
  t.like(info, { state: 'succeeded', attempts: 1 })
  t.true(info!.startedAt! >= info!.createdAt && info!.finishedAt! >= info!.startedAt!)
  t.is(await producer.getTask('never-submitted'), undefined)
})

test('queues on your own client leave it open; an id is unique among live tasks across instances', async (t) => {
  const client = new Redis(url(), { maxRetriesPerRequest: 0, commandTimeout: 1000 })
  try {
    const name = uniqueName()
    const first = new DurableTaskQueue({ redis: { client }, name, consume: false })
    const second = new DurableTaskQueue({ redis: { client }, name, consume: false })
    const [a, b] = await Promise.allSettled([
      first.submit({ id: 'same', name: 'x' }),
      second.submit({ id: 'same', name: 'x' }),
    ])
    t.deepEqual([a.status, b.status].sort(), ['fulfilled', 'rejected'])
    t.true((a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason) instanceof InvalidArgumentError)
    await t.throwsAsync(first.submit({ id: 'same', name: 'x' }), { instanceOf: InvalidArgumentError })
    await first.stop()
    await second.stop()
    t.is(await client.ping(), 'PONG')
    const consumer = open({ name, handlers: { x: async () => 'ran once' } })
    await waitFor('the task to run', async () => (await consumer.getTask('same'))?.state === 'succeeded')
    // Redis may publish the outcome before the consumer has read the reply that counts it.
    await waitFor('the success to be counted', () => consumer.stats().succeeded === 1)
  } finally {
    client.disconnect()
  }
})

test('failed attempts are retried with exponential backoff; retrying events, then success', async (t) => {
  const name = uniqueName()
  const starts: number[] = []
  const queue = open({
    name,
    handlers: {
      flaky: async () => {
        starts.push(Date.now())
        if (starts.length < 3) throw Object.assign(new Error(`try ${starts.length}`), { code: 'E_FLAKY' })
        return 'ok'
      },
    },
  })
  const retrying: unknown[] = []
  queue.on('retrying', (event) => retrying.push((event.error as Error & { code?: string }).code))
  const handle = await queue.submit({
    name: 'flaky',
    retries: 3,
    backoff: { initialMs: 100, factor: 2, jitter: 'none' },
  })
  t.is(await handle.result, 'ok')
  t.deepEqual(retrying, ['E_FLAKY', 'E_FLAKY'])
  // Delays of 100 then 200 ms (Redis' clock and ours may differ by a poll interval).
  t.true(starts[1]! - starts[0]! >= 90, `first delay ${starts[1]! - starts[0]!}`)
  t.true(starts[2]! - starts[1]! >= 190, `second delay ${starts[2]! - starts[1]!}`)
  t.like(await queue.getTask(handle.id), { state: 'succeeded', attempts: 3, lastError: { message: 'try 2' } })
  t.is(queue.stats().retried, 2)
})

test('tasks out of retries are dead letters: listed, requeued (and then run) or purged', async (t) => {
  const name = uniqueName()
  let healthy = false
  const queue = open({
    name,
    handlers: {
      fragile: async (args: { n: number }) => {
        if (!healthy) throw new Error(`broken ${args.n}`)
        return args.n
      },
    },
  })
  const dead: string[] = []
  queue.on('dead', (event) => dead.push(event.id))
  const first = await queue.submit({ name: 'fragile', args: { n: 1 }, retries: 1, backoff: { initialMs: 10 } })
  const second = await queue.submit({ name: 'fragile', args: { n: 2 } })
  await t.throwsAsync(first.result, { message: 'broken 1' })
  await t.throwsAsync(second.result, { message: 'broken 2' })
  t.deepEqual(dead.sort(), [first.id, second.id].sort())
  const letters = await queue.deadLetters()
  t.is(letters.length, 2)
  t.like(
    letters.find((l) => l.id === first.id),
    { name: 'fragile', args: { n: 1 }, attempts: 2, error: { message: 'broken 1' } },
  )
  t.like(await queue.getTask(first.id), { state: 'dead' })

  healthy = true
  t.true(await queue.requeue(first.id))
  t.false(await queue.requeue(first.id))
  await waitFor('the requeued task to succeed', async () => (await queue.getTask(first.id))?.state === 'succeeded')
  t.deepEqual(
    (await queue.deadLetters()).map((l) => l.id),
    [second.id],
  )
  t.is(await queue.purgeDeadLetters(), 1)
  t.deepEqual(await queue.deadLetters(), [])
  t.is(await queue.getTask(second.id), undefined)
})

test('deadLetter: false fails tasks for good instead', async (t) => {
  const queue = open({
    name: uniqueName(),
    deadLetter: false,
    handlers: { no: async () => Promise.reject(new Error('no')) },
  })
  const handle = await queue.submit({ name: 'no' })
  await t.throwsAsync(handle.result, { message: 'no' })
  t.like(await queue.getTask(handle.id), { state: 'failed' })
  t.deepEqual(await queue.deadLetters(), [])
})

test("a task that exhausts its retries emits 'failed' with final: true, dead-lettered or not", async (t) => {
  for (const deadLetter of [true, false]) {
    const queue = open({
      name: uniqueName(),
      deadLetter,
      handlers: { no: async () => Promise.reject(new Error('no')) },
    })
    const failed: DurableTaskEvent[] = []
    queue.on('failed', (event) => failed.push(event))
    const dead: string[] = []
    queue.on('dead', (event) => dead.push(event.id))
    const handle = await queue.submit({ name: 'no', retries: 1, backoff: { initialMs: 1, jitter: 'none' } })
    await t.throwsAsync(handle.result, { message: 'no' })
    await waitFor('the failed event', () => failed.length > 0, 5_000, 10)
    t.is(failed.length, 1, `deadLetter ${deadLetter}: one 'failed', for the last attempt only`)
    t.like(failed[0], { id: handle.id, attempt: 2, final: true, deadLettered: deadLetter })
    t.is(failed[0]?.error?.message, 'no')
    t.deepEqual(dead, deadLetter ? [handle.id] : [])
    t.like(queue.stats(), { failed: 1, deadLettered: deadLetter ? 1 : 0, retried: 1 })
  }
})

test('timeoutMs aborts the run and fails the attempt with TimeoutError', async (t) => {
  let aborted = false
  const queue = open({
    name: uniqueName(),
    handlers: {
      slow: (_args, signal) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => {
            aborted = true
            reject(signal.reason)
          }),
        ),
    },
  })
  const handle = await queue.submit({ name: 'slow', timeoutMs: 100 })
  await t.throwsAsync(handle.result, { instanceOf: TimeoutError })
  t.true(aborted)
  t.like(await queue.getTask(handle.id), { state: 'dead', lastError: { code: 'ERR_OPTLAYER_TIMEOUT' } })
  t.is(queue.stats().timedOut, 1)
})

test('durations past what a timer holds (2^31 − 1 ms) mean none rather than firing at once', async (t) => {
  const running = new Set<string>()
  const queue = open({
    name: uniqueName(),
    handlers: {
      forever: (_args, signal, context) =>
        new Promise((_resolve, reject) => {
          running.add(context.id)
          signal.addEventListener('abort', () => reject(signal.reason))
        }),
    },
  })
  const long = await Promise.all(
    [2 ** 31, 2 ** 40, Infinity].map((timeoutMs) => queue.submit({ name: 'forever', timeoutMs })),
  )
  // A timer that overflows fires after 1 ms: long before this 100 ms one.
  const control = await queue.submit({ name: 'forever', timeoutMs: 100 })
  await t.throwsAsync(control.result, { instanceOf: TimeoutError })
  await waitFor('the long tasks to start', () => long.every((h) => running.has(h.id)))
  for (const handle of long) t.like(await queue.getTask(handle.id), { state: 'running', attempts: 1 })
  t.is(queue.stats().timedOut, 1)
  for (const handle of long) t.true(await queue.cancel(handle.id))
  t.like(await queue.stop({ drain: true, timeoutMs: 2 ** 40 }), { drained: true })
  t.throws(() => open({ name: uniqueName(), pollIntervalMs: 2 ** 31 }), { instanceOf: InvalidArgumentError })
  t.throws(() => open({ name: uniqueName(), visibilityTimeoutMs: 2 ** 40 }), { instanceOf: InvalidArgumentError })
})

test('task names of Object.prototype members find no handler: the attempt fails with InvalidArgumentError', async (t) => {
  const queue = open({ name: uniqueName(), handlers: { real: async () => 'ran' } })
  for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
    const handle = await queue.submit({ name })
    const error = await t.throwsAsync(handle.result, { name: 'InvalidArgumentError', message: /no handler named/ })
    t.is((error as Error & { code?: string }).code, 'ERR_OPTLAYER_INVALID_ARGUMENT')
    t.like(await queue.getTask(handle.id), { state: 'dead', lastError: { code: 'ERR_OPTLAYER_INVALID_ARGUMENT' } })
  }
  t.is(await (await queue.submit({ name: 'real' })).result, 'ran')
  // The result travels by pub/sub, which may overtake the reply that counts the success.
  await waitFor('the success to be counted', () => queue.stats().succeeded === 1)
})

test('cancel: a pending task is removed; a running one is aborted on the process that runs it', async (t) => {
  const name = uniqueName()
  const producer = open({ name, consume: false })
  const pending = await producer.submit({ name: 'wait' })
  t.true(await producer.cancel(pending.id))
  await t.throwsAsync(pending.result, { instanceOf: AbortError })
  t.like(await producer.getTask(pending.id), { state: 'cancelled' })
  t.false(await producer.cancel(pending.id))
  t.false(await producer.cancel('no-such-task'))

  let started = false
  open({
    name,
    handlers: {
      wait: (_args, signal) =>
        new Promise((_resolve, reject) => {
          started = true
          signal.addEventListener('abort', () => reject(signal.reason))
        }),
    },
  })
  const running = await producer.submit({ name: 'wait', retries: 5 })
  await waitFor('the task to start', () => started)
  t.true(await producer.cancel(running.id))
  await t.throwsAsync(running.result, { instanceOf: AbortError })
  t.like(await producer.getTask(running.id), { state: 'cancelled', attempts: 1 })
})

test('submitBatch is all or nothing; the queue is bounded by queueSize', async (t) => {
  const name = uniqueName()
  const queue = open({ name, consume: false, queueSize: 5 })
  await t.throwsAsync(queue.submitBatch(Array.from({ length: 6 }, (_, i) => ({ id: `b${i}`, name: 'x' }))), {
    instanceOf: QueueFullError,
  })
  for (let i = 0; i < 6; i++) t.is(await queue.getTask(`b${i}`), undefined)
  const accepted = await queue.submitBatch([{ id: 'live', name: 'x' }, { name: 'x' }, { name: 'x' }])
  t.is(accepted.length, 3)
  await t.throwsAsync(
    queue.submitBatch([
      { id: 'fresh', name: 'x' },
      { id: 'live', name: 'x' },
    ]),
    {
      instanceOf: InvalidArgumentError,
      message: /live/,
    },
  )
  t.is(await queue.getTask('fresh'), undefined)
  await t.throwsAsync(queue.submit({ id: 'live', name: 'x' }), { instanceOf: InvalidArgumentError })
  await queue.submit({ name: 'x' })
  await queue.submit({ name: 'x' })
  await t.throwsAsync(queue.submit({ name: 'x' }), { instanceOf: QueueFullError })
  t.is(queue.stats().rejected, 6 + 2 + 1 + 1)
})

test('priorities: Critical goes first, yet Low is never starved (weighted dequeue)', async (t) => {
  const name = uniqueName()
  const producer = open({ name, consume: false })
  await producer.submitBatch(
    Array.from({ length: 20 }, (_, i) => ({ name: 'p', args: `low-${i}`, priority: Priority.Low })),
  )
  await producer.submitBatch(
    Array.from({ length: 150 }, (_, i) => ({ name: 'p', args: `crit-${i}`, priority: Priority.Critical })),
  )
  const order: string[] = []
  const consumer = open({ name, concurrency: 1, handlers: { p: async (label: string) => order.push(label) } })
  await waitFor('every task to run', () => order.length === 170)
  const firstLow = order.findIndex((label) => label.startsWith('low'))
  t.true(firstLow < 16, `first Low task ran at position ${firstLow}`)
  const lowInFirst150 = order.slice(0, 150).filter((label) => label.startsWith('low')).length
  t.true(lowInFirst150 >= 9, `${lowInFirst150} Low tasks among the first 150`)
  t.true(order.slice(0, 30).filter((label) => label.startsWith('crit')).length >= 20)
  t.deepEqual(
    order.filter((label) => label.startsWith('crit')),
    Array.from({ length: 150 }, (_, i) => `crit-${i}`),
  )
  // The last handler has returned; its outcome is recorded with the consumer's next round trip.
  await waitFor('every outcome to be recorded', () => consumer.stats().succeeded === 170)
  t.is(consumer.stats().succeeded, 170)
})

test('a long task that reports progress is never taken for dead', async (t) => {
  const name = uniqueName()
  let runs = 0
  const queue = open({
    name,
    visibilityTimeoutMs: 600,
    handlers: {
      long: async (_args, _signal, context) => {
        runs++
        // A second consumer would take the task if its visibility timeout expired.
        open({ name, visibilityTimeoutMs: 600, handlers: { long: async () => 'stolen' } })
        for (let step = 1; step <= 6; step++) {
          await sleep(400)
          context.progress({ step })
        }
        return 'done'
      },
    },
  })
  const handle = await queue.submit({ name: 'long' })
  await waitFor('progress to show', async () => (await queue.getTask(handle.id))?.progress !== undefined)
  t.is(await handle.result, 'done')
  t.is(runs, 1)
  t.like(await queue.getTask(handle.id), { state: 'succeeded', attempts: 1, progress: { step: 6 } })
})

test('stop with drain finishes every accepted task; stop without drain hands running tasks back', async (t) => {
  const name = uniqueName()
  const worker = async (n: number) => {
    await sleep(5)
    return n
  }
  const first = open({ name, concurrency: 8, handlers: { w: worker } })
  const handles = await first.submitBatch(Array.from({ length: 200 }, (_, n) => ({ name: 'w', args: n })))
  const report = await first.stop({ drain: true, timeoutMs: 30_000 })
  t.deepEqual(report, { drained: true, unfinished: [], returned: [], deadLettered: [] })
  t.deepEqual(
    await Promise.all(handles.map((h) => h.result)),
    Array.from({ length: 200 }, (_, n) => n),
  )
  await t.throwsAsync(first.submit({ name: 'w' }), { instanceOf: ClosedError })

  let startedLong = 0
  const long = (_args: unknown, signal: AbortSignal) =>
    new Promise((resolve, reject) => {
      startedLong++
      signal.addEventListener('abort', () => reject(signal.reason))
      setTimeout(resolve, 60_000, 'late').unref()
    })
  const second = open({ name, concurrency: 4, handlers: { long } })
  const producer = open({ name, consume: false })
  const longHandles = await producer.submitBatch(Array.from({ length: 4 }, () => ({ name: 'long' })))
  await waitFor('the long tasks to start', () => startedLong === 4)
  const abrupt = await second.stop()
  t.false(abrupt.drained)
  t.deepEqual([...abrupt.unfinished].sort(), longHandles.map((h) => h.id).sort())
  for (const h of longHandles) t.like(await producer.getTask(h.id), { state: 'pending', attempts: 0 })
  // Nothing lost: another consumer runs them.
  open({ name, handlers: { long: async () => 'resumed' } })
  t.deepEqual(await Promise.all(longHandles.map((h) => h.result)), ['resumed', 'resumed', 'resumed', 'resumed'])
})

test('metrics: depth per priority under the queue label, outcomes and retries', async (t) => {
  const name = uniqueName()
  const producer = open({ name, consume: false })
  await producer.submitBatch([
    { name: 'm', priority: Priority.Low },
    { name: 'm', priority: Priority.Low },
    { name: 'm', priority: Priority.Critical },
  ])
  await waitFor('the depth to be read', () => producer.stats().depth.Low === 2, 5000)
  const metrics = new MetricsCollector({ defaultMetrics: false })
  const text = await metrics.expose()
  t.regex(text, new RegExp(`optlayer_queue_depth\\{queue="${name}",priority="Low"\\} 2`))
  t.regex(text, new RegExp(`optlayer_queue_depth\\{queue="${name}",priority="Critical"\\} 1`))
  t.regex(text, new RegExp(`optlayer_queue_submitted_total\\{queue="${name}"\\} 3`))
  await metrics.close()
})

test('a client of yours that may send a command twice after a reconnect gets a process warning', async (t) => {
  const seen: Error[] = []
  const listener = (warning: Error & { code?: string }) => {
    if (warning.code === 'OPTLAYER_UNSAFE_REDIS_CLIENT' && /submitted task/.test(warning.message)) seen.push(warning)
  }
  process.on('warning', listener)
  // ioredis' defaults: an unanswered command is written again once the connection is back.
  const unsafe = new Redis(url(), { commandTimeout: 1000 })
  const safe = new Redis(url(), { maxRetriesPerRequest: 0, commandTimeout: 1000 })
  try {
    const name = uniqueName()
    open({ name, redis: { client: safe }, consume: false })
    open({ name, redis: { client: unsafe }, consume: false })
    open({ name, redis: { client: unsafe }, consume: false })
    await new Promise((resolve) => setImmediate(resolve))
    t.is(seen.length, 1, 'once for the unsafe client, never for the safe one')
    t.regex(seen[0]!.message, /autoResendUnfulfilledCommands: false/)
  } finally {
    process.off('warning', listener)
    unsafe.disconnect()
    safe.disconnect()
  }
})

test.serial(
  'a consumer cut off from Redis past the visibility timeout aborts its run with LeaseLostError; only the new owner records an outcome',
  async (t) => {
    t.timeout(60_000)
    const name = uniqueName()
    const proxy = await TcpProxy.start(server!.port)
    try {
      let reason: unknown
      let firstStarted = false
      const first = open({
        name,
        redis: { url: proxy.url },
        visibilityTimeoutMs: 300,
        timeoutMs: 1000,
        handlers: {
          job: (_args, signal) =>
            new Promise((_resolve, reject) => {
              firstStarted = true
              signal.addEventListener('abort', () => {
                reason = signal.reason
                reject(signal.reason)
              })
            }),
        },
      })
      const producer = open({ name, consume: false })
      const handle = await producer.submit({ name: 'job', retries: 3 })
      await waitFor('the first consumer to run the task', () => firstStarted)
      // The handler starts as soon as the claim arrives, and the receipt follows it to Redis:
      // a run whose receipt never arrived is reclaimed as never started, its attempt uncounted.
      const raw = new Redis(url())
      await waitFor(
        'Redis to hold the receipt of the first run',
        async () => (await raw.hget(`optlayer:q:{${name}}:t:${handle.id}`, 'rx')) === '1',
      )
      raw.disconnect()
      // Its heartbeats no longer reach Redis: the lease expires and the task goes to the second.
      proxy.pause()
      const second = open({ name, visibilityTimeoutMs: 300, handlers: { job: async () => 'second' } })
      t.is(await handle.result, 'second')
      t.is(reason, undefined, 'the first consumer cannot know yet')
      proxy.resume()
      await waitFor('the first run to be aborted', () => reason !== undefined)
      t.true(reason instanceof LeaseLostError)
      t.is((reason as LeaseLostError).code, 'ERR_OPTLAYER_LEASE_LOST')
      await waitFor('the first consumer to let the task go', () => first.stats().running === 0)
      t.like(await producer.getTask(handle.id), { state: 'succeeded', attempts: 2 })
      t.like(first.stats(), { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, runs: 1 })
      t.like(second.stats(), { succeeded: 1, runs: 1 })
    } finally {
      await proxy.close()
    }
  },
)

test.serial('a task that kills its consumers is dead-lettered after maxStalls, whatever its retries', async (t) => {
  const name = uniqueName()
  const children = await forkConsumers(3, { name, concurrency: 1, visibilityTimeoutMs: 400, maxStalls: 1 })
  try {
    const producer = open({ name, consume: false })
    const poison = await producer.submit({ name: 'crash', retries: 3 })
    await t.throwsAsync(poison.result, { instanceOf: TimeoutError, message: /stopped heartbeating 2 times/ })
    t.like(await producer.getTask(poison.id), { state: 'dead', attempts: 2 })
    t.is(children.filter((child) => child.exitCode === null && child.signalCode === null).length, 1)
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  }
})

test.serial(
  '10,000 tasks across 3 consumer processes, one SIGKILLed mid-run: all succeed; only runs lost with it run again, once',
  async (t) => {
    t.timeout(120_000)
    const name = uniqueName()
    const executions = `spec:executions:${name}`
    const concurrency = 16
    // Long enough that a healthy consumer on a loaded machine never misses its lease (it
    // heartbeats every third of it): only the killed one's tasks are reclaimed.
    const children = await forkConsumers(3, { name, concurrency, visibilityTimeoutMs: 10_000, executions })
    try {
      const producer = open({ name, consume: false })
      const total = 10_000
      const handles = []
      for (let i = 0; i < total; i += 1000) {
        handles.push(
          ...(await producer.submitBatch(
            Array.from({ length: 1000 }, (_, j) => ({ name: 'work', args: { n: i + j } })),
          )),
        )
      }
      const outcomes = handles.map((h) =>
        h.result.then(
          (value) => ({ ok: true as const, value: value as { value: number; pid: number } }),
          (error: Error) => ({ ok: false as const, error }),
        ),
      )
      const redis = new Redis(url())
      try {
        const killed = children[0]!.pid!
        await waitFor('a third of the tasks to run', async () => (await redis.hlen(executions)) >= total / 3, 60_000)
        // So that the kill cuts a consumer in full flow, not one that never got work.
        await waitFor(
          'the consumer to kill to have run a few batches',
          async () => (await redis.hlen(`${executions}:${killed}`)) >= 2 * concurrency,
          60_000,
        )
        children[0]!.kill('SIGKILL')
        const settled = await Promise.all(outcomes)
        // Nothing here is poisoned: a dead letter is a lost task.
        t.deepEqual(await producer.deadLetters({ limit: total }), [])
        const failures = settled.filter((o) => !o.ok)
        t.deepEqual(failures, [], 'every task succeeded')
        const counts = await redis.hgetall(executions)
        const ranOnKilled = await redis.hgetall(`${executions}:${killed}`)
        let lostWithKill = 0
        let wonByKilled = 0
        const wrong: string[] = []
        settled.forEach((outcome, n) => {
          if (!outcome.ok) return
          const { value, pid } = outcome.value
          if (value !== n * 2) wrong.push(`task ${n}: result ${value}`)
          // A run of the killed consumer whose outcome Redis had not recorded was lost: the task
          // ran exactly once more elsewhere. Every other task ran exactly once.
          const lost = ranOnKilled[n] !== undefined && pid !== killed
          if (lost) lostWithKill++
          if (pid === killed) wonByKilled++
          if (pid === killed && ranOnKilled[n] === undefined) wrong.push(`task ${n}: a result of a run never made`)
          const expected = lost ? 2 : 1
          if (Number(counts[n]) !== expected) wrong.push(`task ${n}: ${counts[n]} runs, expected ${expected}`)
        })
        t.deepEqual(wrong, [])
        t.log(
          `runs lost with the killed consumer and repeated: ${lostWithKill}; its recorded successes: ${wonByKilled}`,
        )
        // It never held more than `concurrency` claimed, unacknowledged tasks.
        t.true(lostWithKill <= concurrency, `${lostWithKill} runs repeated`)
        const reports = await Promise.all(
          children.slice(1).map(async (child) => {
            child.send('stop')
            return (await once(child, 'message'))[0] as ConsumerReport
          }),
        )
        for (const { report } of reports) t.true(report.drained)
        // Each outcome was recorded by exactly one consumer.
        t.is(
          reports.reduce((sum, r) => sum + r.stats.succeeded, 0),
          total - wonByKilled,
        )
      } finally {
        redis.disconnect()
      }
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    }
  },
)

test.serial(
  'Redis killed and restarted mid-run: consumers resume by themselves and nothing accepted is lost',
  async (t) => {
    t.timeout(90_000)
    // A server that keeps every write (AOF, fsync always) across the restart.
    const node = await RedisNode.launch(['--appendonly', 'yes', '--appendfsync', 'always'], false)
    try {
      const name = uniqueName()
      const queue = new DurableTaskQueue({
        redis: { url: node.url },
        name,
        concurrency: 8,
        visibilityTimeoutMs: 1000,
        pollIntervalMs: 50,
        timeoutMs: 500,
        handlers: {
          w: async (n: number) => {
            await sleep(2)
            return n
          },
        },
      })
      queues.push(queue)
      const total = 2000
      const handles = await queue.submitBatch(Array.from({ length: total }, (_, n) => ({ name: 'w', args: n })))
      await waitFor('some tasks to finish', () => queue.stats().succeeded >= 200)
      await node.kill('SIGKILL')
      await t.throwsAsync(queue.submit({ name: 'w', args: -1 }), { instanceOf: UnavailableError })
      await sleep(300)
      await node.restart()
      t.deepEqual(
        await Promise.all(handles.map((h) => h.result)),
        Array.from({ length: total }, (_, n) => n),
      )
      const after = await queue.submit({ name: 'w', args: 7 })
      t.is(await after.result, 7)
      t.true(queue.stats().redisErrors > 0)
      t.like(await queue.stop({ drain: true, timeoutMs: 10_000 }), { drained: true })
    } finally {
      await node.stop()
    }
  },
)

test.serial(
  'Redis restarted without persistence: results of lost tasks reject, and the queue works again',
  async (t) => {
    t.timeout(60_000)
    const node = await RedisNode.launch([], false)
    try {
      const name = uniqueName()
      const options = { redis: { url: node.url }, name, pollIntervalMs: 50, timeoutMs: 500 }
      const producer = new DurableTaskQueue({ ...options, consume: false })
      queues.push(producer)
      const lost = await producer.submit({ name: 'echo', args: 'lost' })
      await node.restart()
      await t.throwsAsync(lost.result, { instanceOf: UnavailableError, message: /gone from Redis/ })
      const consumer = new DurableTaskQueue({ ...options, handlers: { echo: async (value: string) => value } })
      queues.push(consumer)
      let again: unknown
      await waitFor('submits to work again', async () => {
        try {
          again = await (await producer.submit({ name: 'echo', args: 'again' })).result
          return true
        } catch {
          return false
        }
      })
      t.is(again, 'again')
      await consumer.stop()
      const pending = await producer.submit({ name: 'echo', args: 'never run' })
      const report = await producer.stop()
      t.deepEqual(report, { drained: false, unfinished: [pending.id], returned: [], deadLettered: [] })
      await t.throwsAsync(pending.result, { instanceOf: ClosedError })
    } finally {
      await node.stop()
    }
  },
)

test.serial('Redis Cluster: all keys of a queue share one hash tag; tasks run and survive a failover', async (t) => {
  t.timeout(120_000)
  const cluster = await startCluster()
  const admin = new Redis.Cluster(cluster.startupNodes)
  try {
    const name = uniqueName()
    let failures = 0
    const queue = new DurableTaskQueue({
      redis: { cluster: cluster.startupNodes },
      name,
      concurrency: 8,
      visibilityTimeoutMs: 1000,
      pollIntervalMs: 50,
      timeoutMs: 1000,
      handlers: {
        w: async (n: number) => n * 3,
        flaky: async () => {
          if (failures++ === 0) throw new Error('first try fails')
          return 'second try'
        },
        never: async () => Promise.reject(new Error('never')),
      },
    })
    queues.push(queue)
    const handles = await queue.submitBatch(Array.from({ length: 300 }, (_, n) => ({ name: 'w', args: n })))
    t.deepEqual(
      await Promise.all(handles.map((h) => h.result)),
      Array.from({ length: 300 }, (_, n) => n * 3),
    )
    const flaky = await queue.submit({ name: 'flaky', retries: 1, backoff: { initialMs: 10 } })
    t.is(await flaky.result, 'second try')
    const never = await queue.submit({ name: 'never' })
    await t.throwsAsync(never.result, { message: 'never' })
    t.is((await queue.deadLetters()).length, 1)

    const keys = (await Promise.all(admin.nodes('master').map((node) => node.keys('optlayer:q:*')))).flat()
    t.true(keys.length >= 5)
    t.true(keys.every((key) => key.includes(`{${name}}`)))
    const slots = new Set(await Promise.all(keys.map((key) => admin.cluster('KEYSLOT', key))))
    t.is(slots.size, 1)

    // Kill the master that holds the queue; a replica takes over and the queue carries on.
    const master = await cluster.nodeForKey(keys[0]!)
    await master.kill('SIGKILL')
    await cluster.waitForFailover(master.port)
    let resumed: number | undefined
    await waitFor(
      'the queue to work again after the failover',
      async () => {
        try {
          resumed = (await (await queue.submit({ name: 'w', args: 5 })).result) as number
          return true
        } catch {
          return false
        }
      },
      30_000,
    )
    t.is(resumed, 15)
    t.like(await queue.stop({ drain: true, timeoutMs: 10_000 }), { drained: true })
  } finally {
    admin.disconnect()
    await cluster.stop()
  }
})
