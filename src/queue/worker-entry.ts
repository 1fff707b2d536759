/**
 * The body of a queue's worker thread: loads the handler module, then runs the tasks it is
 * sent one at a time (they are CPU-bound: running two at once on one thread only interleaves
 * them) and answers each.
 * @internal
 */
import { parentPort, workerData } from 'node:worker_threads'

import type { TaskContext } from './types'
import { toTaskError } from './task-error'
import type { FromWorker, ToWorker } from './worker-protocol'

type Handler = (args: unknown, signal: AbortSignal, context: TaskContext) => unknown

const port = parentPort!
const handlers: Promise<Record<string, unknown>> = import((workerData as { module: string }).module).then(
  (module: Record<string, unknown>) => (module.default as Record<string, unknown> | undefined) ?? module,
)
const backlog: Extract<ToWorker, { 0: 0 }>[] = []
const controllers = new Map<number, AbortController>()
/** Jobs aborted before they started (handed over ahead): answered without running. */
const abortedEarly = new Set<number>()
let busy = false

port.on('message', (message: ToWorker) => {
  if (message[0] === 1) {
    const controller = controllers.get(message[1])
    if (controller !== undefined) controller.abort(abortError())
    else abortedEarly.add(message[1])
    return
  }
  backlog.push(message)
  if (!busy) void drain()
})

async function drain(): Promise<void> {
  busy = true
  const table = await handlers
  for (let message = backlog.shift(); message !== undefined; message = backlog.shift()) {
    await runOne(table, message)
  }
  busy = false
}

async function runOne(table: Record<string, unknown>, [, job, name, args, attempt, id]: Extract<ToWorker, { 0: 0 }>) {
  if (abortedEarly.delete(job)) {
    port.postMessage([0, job, false, toTaskError(abortError())] satisfies FromWorker)
    return
  }
  // Own exports only: a default-exported object inherits `constructor`, `toString`…
  const handler = Object.hasOwn(table, name) ? table[name] : undefined
  if (typeof handler !== 'function') {
    const error = Object.assign(new Error(`no handler ${name} in the worker module`), {
      code: 'ERR_OPTLAYER_INVALID_ARGUMENT',
    })
    port.postMessage([0, job, false, toTaskError(error)] satisfies FromWorker)
    return
  }
  port.postMessage([2, job] satisfies FromWorker)
  const controller = new AbortController()
  controllers.set(job, controller)
  const context: TaskContext = {
    id,
    attempt,
    signal: controller.signal,
    progress: (value) => port.postMessage([1, job, value] satisfies FromWorker),
    heartbeat: () => port.postMessage([2, job] satisfies FromWorker),
  }
  try {
    const value = await (handler as Handler)(args, controller.signal, context)
    port.postMessage([0, job, true, value] satisfies FromWorker, transferable(value))
  } catch (err) {
    port.postMessage([0, job, false, toTaskError(err)] satisfies FromWorker)
  } finally {
    controllers.delete(job)
  }
}

function abortError(): Error {
  return Object.assign(new Error('aborted by the queue'), { name: 'AbortError', code: 'ERR_OPTLAYER_ABORTED' })
}

/** A result that is an ArrayBuffer, or a view of a whole one, is moved rather than copied. */
function transferable(value: unknown): ArrayBuffer[] {
  if (value instanceof ArrayBuffer) return [value]
  if (
    ArrayBuffer.isView(value) &&
    value.buffer instanceof ArrayBuffer &&
    value.byteLength === value.buffer.byteLength
  ) {
    return [value.buffer]
  }
  return []
}
