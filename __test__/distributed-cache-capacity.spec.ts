import test from 'ava'

import { DistributedCache } from 'optlayer'

// Its own file, so that ava runs it in its own process: the loop holds the event loop for
// tens of seconds, which would expire the short TTLs of the other specs.

// Past 2^24 = 16,777,216, where a JavaScript Map stops taking entries; the Rust capacity test
// goes to 20 million. Each set here is a full JS round trip, so the count is kept just past it.
const ENTRIES = 17_000_000

test('L2 holds more small entries than a JavaScript Map can', async (t) => {
  const cache = new DistributedCache({ l1: false, l2: { maxBytes: 4 * 1024 ** 3 } })
  const value = Buffer.from('v')
  for (let i = 0; i < ENTRIES; i++) await cache.set(`k${i}`, value, { ttlMs: 0 })
  const stats = cache.stats()
  t.true((stats.l2?.entries ?? 0) >= ENTRIES * 0.995, `${stats.l2?.entries} entries`)
  t.deepEqual(cache.getSync(`k${ENTRIES - 1}`), value)
  t.deepEqual(cache.getSync('k0'), value)
  await cache.close()
})
