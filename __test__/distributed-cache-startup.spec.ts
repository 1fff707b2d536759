import test from 'ava'
import { DistributedCache, type CacheRedisConnection } from 'optlayer'

import { startStandalone, type RedisStandalone } from './helpers/redis'

// A cache is used right after it is built, as in the README: its first calls wait for the
// connection (within the command timeout) instead of finding it still connecting, which
// looked like an outage, flushed the local tiers on recovery and lost the first set from them.
let server: RedisStandalone | undefined
let other: RedisStandalone | undefined

test.before(async () => {
  ;[server, other] = await Promise.all([startStandalone(), startStandalone()])
})

test.after.always(async () => {
  await Promise.all([server?.stop(), other?.stop()])
})

function servers(): [RedisStandalone, RedisStandalone] {
  if (server === undefined || other === undefined) throw new Error('the servers did not start')
  return [server, other]
}

const addresses: [string, () => CacheRedisConnection][] = [
  ['a server', () => ({ url: servers()[0].url })],
  ['servers on a hash ring', () => ({ nodes: servers().map((s) => s.url) })],
]

for (const [what, redis] of addresses) {
  test.serial(`${what}: the first calls after construction wait for the connection`, async (t) => {
    const warnings: string[] = []
    const cache = new DistributedCache<string>({ redis: redis(), logger: { warn: (m) => warnings.push(m) } })
    try {
      await cache.set('first', 'kept')
      await cache.set('second', 'kept too')
      t.is(cache.getSync('first'), 'kept', 'the first set is in the local tiers')
      t.is(await cache.get('second'), 'kept too')
      t.deepEqual(warnings, [], 'no outage was logged')
      t.true(cache.stats().l3?.available)
      t.is(cache.stats().l3?.errors, 0)
    } finally {
      await cache.close()
    }
  })
}
