/**
 * Native safety under termination: worker threads that call into the addon without pause (codecs sync and async, an
 * L2 store all threads share, a rate limiter) are terminated mid-call, round after round. The process must live on,
 * the shared store must still answer, and memory must not grow with the rounds.
 */
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import { DistributedCache } from 'optlayer'

import { atMost, sleep, type Scenario, type ScenarioResult } from '../scenario'

const MIB = 2 ** 20
const THREADS = 4
/** Resident memory the rounds may add in all: the allocator keeps some of what terminated threads freed. */
const RSS_GROWTH_LIMIT_MIB = 128

async function round(random: () => number): Promise<number> {
  const workers = Array.from({ length: THREADS }, () => new Worker(path.join(__dirname, '..', 'addon-worker.js')))
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('message', resolve))))
  await sleep(5 + random() * 45)
  const codes = await Promise.all(workers.map((worker) => worker.terminate()))
  return codes.length
}

export const nativeSafety: Scenario = {
  name: 'native-safety',
  inTestCommand: false,
  async run({ short }): Promise<ScenarioResult> {
    const rounds = short ? 10 : 50
    const cache = new DistributedCache<string>({ name: 'chaos-main', l1: false, l2: { name: 'chaos-threads' } })
    let seed = 7
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    try {
      await round(random) // the first round loads the addon in threads and warms the allocator
      const rssBefore = process.memoryUsage.rss()
      let terminated = 0
      for (let i = 0; i < rounds; i++) terminated += await round(random)
      const rssGrowthMiB = (process.memoryUsage.rss() - rssBefore) / MIB
      await cache.set('after', 'still answers')
      const answered = cache.getSync('after') === 'still answers'
      return {
        name: this.name,
        load: `${THREADS} worker threads calling the addon without pause`,
        faults: `${rounds} rounds of terminating every thread 5-50 ms into its calls`,
        requests: terminated,
        failed: answered ? 0 : 1,
        lost: 0,
        resurrected: 0,
        recoveryMs: undefined,
        figures: {
          'threads terminated mid-call': terminated,
          'RSS growth over the rounds MiB': Number(rssGrowthMiB.toFixed(1)),
          'shared L2 store answers afterwards': String(answered),
        },
        checks: [
          { what: 'the process lives and the shared store answers', ok: answered, detail: String(answered) },
          atMost('RSS growth over the rounds', rssGrowthMiB, RSS_GROWTH_LIMIT_MIB, ' MiB'),
        ],
      }
    } finally {
      await cache.close()
    }
  },
}
