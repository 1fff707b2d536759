import test from 'ava'
import { LoadBalancer } from 'optlayer'

import { backends } from '../helpers/balancer'

// The cached clock is internal; its own test reaches it in the sources.
import { CachedClock } from '../../src/core/cached-clock'

test('the cached clock refreshes while it is used, stops itself when idle, and for good on stop()', async (t) => {
  let reads = 0
  const clock = new CachedClock(() => ++reads, 5)
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
  const touched = () => {
    clock.touch()
    return clock.t
  }
  t.is(touched(), 2, 'the first touch reads the clock and starts the refresh timer')
  const seen = new Set<number>()
  for (let i = 0; i < 10; i++) {
    seen.add(touched())
    await sleep(10)
  }
  t.true(seen.size >= 3, `the timer refreshed the reading while in use: ${[...seen]}`)
  await sleep(40)
  const idle = reads
  await sleep(40)
  t.is(reads, idle, 'an unused clock stops its timer')
  clock.touch()
  clock.stop()
  const stopped = reads
  await sleep(30)
  t.is(reads, stopped, 'stop() clears the timer')
  t.is(touched(), stopped + 1, 'after stop() every touch reads the clock')

  const lb = new LoadBalancer({ algorithm: 'p2c-ewma', backends: backends(2) })
  for (let i = 0; i < 100; i++) lb.release(lb.pick(), { ok: true, latencyMs: 2 + (i % 3) })
  const stats = lb.stats()
  t.true(stats.backends.every((b) => b.latencyEwmaMs >= 2 && b.latencyEwmaMs <= 4 && b.successes > 0))
  await lb.close()
})
