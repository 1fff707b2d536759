import path from 'node:path'

import test from 'ava'
import { AbortError, TaskQueue, TimeoutError } from 'optlayer'

import { waitFor } from './helpers/wait'

const HANDLERS = path.join(__dirname, 'fixtures', 'queue-handlers.js')

test('CPU-bound handlers run in parallel on worker threads', async (t) => {
  const q = new TaskQueue({ workerModule: HANDLERS, minWorkers: 2, maxWorkers: 2 })
  t.teardown(() => q.stop())
  const shared = new Int32Array(new SharedArrayBuffer(8))
  const handles = [1, 2].map(() => q.submit({ name: 'overlap', args: { shared, waitFor: 2 } }))
  const results = (await Promise.all(handles.map((h) => h.result))) as { threadId: number }[]
  t.is(Atomics.load(shared, 1), 2, 'both handlers were running at the same moment')
  t.not(results[0]!.threadId, results[1]!.threadId)
  t.not(results[0]!.threadId, 0, 'not the main thread')
})

test('arguments are transferred when asked; results come back, errors keep their code', async (t) => {
  const q = new TaskQueue({ workerModule: HANDLERS, maxWorkers: 2 })
  t.teardown(() => q.stop())
  const bytes = new Uint8Array([1, 2, 3, 4]).buffer
  const sum = q.submit({ name: 'sum', args: bytes, transfer: [bytes] })
  t.is(bytes.byteLength, 0, 'the buffer moved to the worker thread')
  t.is(await sum.result, 10)
  const filled = (await q.submit({ name: 'fill', args: { size: 3, value: 7 } }).result) as Uint8Array
  t.deepEqual([...filled], [7, 7, 7])
  const failed = q.submit({ name: 'fail', retries: 1, backoff: { initialMs: 1 } })
  await t.throwsAsync(failed.result, { message: 'handler failed' })
  t.like(q.getTask(failed.id), { state: 'dead', attempts: 2, lastError: { code: 'E_HANDLER' } })
  await t.throwsAsync(q.submit({ name: 'nope' }).result, { message: /no handler nope/ })
  // Names of Object.prototype's members are not handlers of a module that exports an object.
  for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
    const error = await t.throwsAsync(q.submit({ name }).result, { message: new RegExp(`no handler ${name}`) })
    t.is((error as Error & { code?: string }).code, 'ERR_OPTLAYER_INVALID_ARGUMENT')
  }
  t.throws(() => q.submit({ name: 'sum', run: () => 0 }), { message: /carry no run function/ })
})

test('progress and heartbeats cross threads; cancel aborts the handler', async (t) => {
  const q = new TaskQueue({ workerModule: HANDLERS, maxWorkers: 2, stallTimeoutMs: 1_000 })
  t.teardown(() => q.stop())
  const progress: unknown[] = []
  q.on('progress', (_info, value) => progress.push(value))
  t.is(await q.submit({ name: 'spin', args: 50 }).result, 'spun')
  t.deepEqual(progress, [1])
  const long = q.submit({ name: 'spin', args: 60_000 })
  await waitFor('the long task to run', () => q.getTask(long.id)?.state === 'running', 30_000)
  t.true(q.cancel(long.id))
  await t.throwsAsync(long.result, { instanceOf: AbortError })
  // The aborted handler returns its thread to work.
  t.is(await q.submit({ name: 'spin', args: 1 }).result, 'spun')
})

test('a thread stuck without heartbeats is replaced and its task fails as stalled', async (t) => {
  const q = new TaskQueue({ workerModule: HANDLERS, minWorkers: 1, maxWorkers: 1, stallTimeoutMs: 200 })
  t.teardown(() => q.stop())
  const hung = q.submit({ name: 'hang' })
  await t.throwsAsync(hung.result, { instanceOf: TimeoutError, message: /stalled/ })
  t.is(await q.submit({ name: 'sum', args: new Uint8Array([5]).buffer }).result, 5, 'a fresh thread took over')
})

test('stop without drain terminates busy threads and reports their tasks', async (t) => {
  const q = new TaskQueue({ workerModule: HANDLERS, minWorkers: 1, maxWorkers: 1, workerPrefetch: 0 })
  const hung = q.submit({ name: 'hang' })
  const queued = q.submit({ name: 'sum', args: new Uint8Array([1]).buffer })
  await waitFor('the hung task to run', () => q.getTask(hung.id)?.state === 'running', 30_000)
  const report = await q.stop()
  t.deepEqual(report.unfinished, [hung.id])
  t.is(report.returned.length, 1)
  await t.throwsAsync(hung.result, { instanceOf: AbortError })
  await t.throwsAsync(queued.result)
})

test('a task cancelled while handed over ahead never runs, and its thread keeps working', async (t) => {
  const q = new TaskQueue({ workerModule: HANDLERS, minWorkers: 1, maxWorkers: 1, workerPrefetch: 1 })
  t.teardown(() => q.stop())
  const shared = new Int32Array(new SharedArrayBuffer(8))
  const first = q.submit({ name: 'spin', args: 200 })
  const ahead = q.submit({ name: 'overlap', args: { shared, waitFor: 1 } })
  await waitFor('the task handed over ahead to run', () => q.getTask(ahead.id)?.state === 'running', 30_000)
  t.true(q.cancel(ahead.id))
  await t.throwsAsync(ahead.result, { instanceOf: AbortError })
  t.is(await first.result, 'spun')
  t.is(await q.submit({ name: 'sum', args: new Uint8Array([2, 3]).buffer }).result, 5)
  t.is(Atomics.load(shared, 1), 0, 'the cancelled handler never started')
})
