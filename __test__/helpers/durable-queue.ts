import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'

import test from 'ava'
import { DurableTaskQueue, type DurableTaskQueueOptions } from 'optlayer'

import { startStandalone, type RedisStandalone } from './redis'

/** The spec file's standalone Redis, running while its tests run (see {@link useDurableQueueServer}). */
export let server: RedisStandalone | undefined
/** Queues stopped after the spec file's tests: every one {@link open} made, and any a test adds. */
export const queues: DurableTaskQueue[] = []
let queueNumber = 0

/** Starts {@link server} before the spec file's tests; stops {@link queues} and the server after them. */
export function useDurableQueueServer(): void {
  test.before(async () => {
    server = await startStandalone()
  })

  test.after.always(async () => {
    await Promise.all(queues.map((queue) => queue.stop()))
    await server?.stop()
  })
}

export function url(): string {
  if (server === undefined) throw new Error('the standalone server did not start (see test.before)')
  return server.url
}

/** A fresh queue name per call, so that tests running concurrently never share tasks. */
export function uniqueName(): string {
  return `spec-${process.pid}-${queueNumber++}`
}

/** A queue on {@link server} that polls every 50 ms, stopped after the spec file's tests. */
export function open(options: Partial<DurableTaskQueueOptions> & { name: string }): DurableTaskQueue {
  const queue = new DurableTaskQueue({ redis: { url: url() }, pollIntervalMs: 50, ...options })
  queues.push(queue)
  return queue
}

/** What a consumer process of the fixture sends when it stops. */
export interface ConsumerReport {
  report: { drained: boolean; unfinished: string[] }
  stats: { succeeded: number }
}

/** Forks `count` consumer processes of a queue (see the fixture) and waits until they run. */
export async function forkConsumers(count: number, settings: Record<string, unknown>): Promise<ChildProcess[]> {
  const fixture = path.join(__dirname, '..', 'fixtures', 'durable-consumer.js')
  const children = Array.from({ length: count }, () =>
    fork(fixture, [JSON.stringify({ url: url(), ...settings })], { stdio: 'inherit' }),
  )
  await Promise.all(children.map((child) => once(child, 'message')))
  return children
}
