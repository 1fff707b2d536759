import test from 'ava'

import { DistributedCache } from 'optlayer'

// Its own file, so that ava runs it in its own process: the loop holds the event loop for
// tens of seconds, which would expire the short TTLs of the other specs.
test('L2 holds 20,000,000 small entries', async (t) => {
  const cache = new DistributedCache({ l1: false, l2: { maxBytes: 4 * 1024 ** 3 } })
  const value = Buffer.from('v')
  for (let i = 0; i < 20_000_000; i++) await cache.set(`k${i}`, value, { ttlMs: 0 })
  const stats = cache.stats()
  t.true((stats.l2?.entries ?? 0) >= 19_900_000, `${stats.l2?.entries} entries`)
  t.deepEqual(cache.getSync('k19999999'), value)
  t.deepEqual(cache.getSync('k0'), value)
  await cache.close()
})
