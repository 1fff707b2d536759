import test from 'ava'
import { ClosedError } from 'optlayer'

import { fromNativeError } from '../../src/core/errors'
import { native } from '../../src/core/native'
import { LocalLimiter } from '../../src/ratelimit/local-limiter'

/** A fixed window of one request a minute: a stray decision shows in the counters. */
const ONE_A_MINUTE = {
  algorithm: native.LimiterAlgorithm.FixedWindow,
  limit: 1,
  windowMs: 60_000,
  burst: 1,
  maxKeys: 16,
  atCap: native.LimiterCapPolicy.RejectNew,
  shards: 1,
  maxKeyLength: 64,
}

// A closed limiter's slot is reused by the next one; its old handle must stay dead however
// many limiters come after (a 12-bit generation came round again after 4,096).
test('a closed native limiter never decides for one opened in its slot, through 5,000 reuses', (t) => {
  const first = new native.NativeRateLimiter(ONE_A_MINUTE)
  const stale = first.decisions()
  first.close()
  const wrong: string[] = []
  for (let i = 1; i <= 5_000; i++) {
    const live = new native.NativeRateLimiter(ONE_A_MINUTE)
    try {
      stale.allow('k', 1)
      wrong.push(`reuse ${i}: the stale limiter decided`)
    } catch (err) {
      if (fromNativeError(err).code !== 'ERR_OPTLAYER_CLOSED') wrong.push(`reuse ${i}: ${String(err)}`)
    }
    const { allowed, denied } = live.stats()
    if (allowed + denied !== 0) wrong.push(`reuse ${i}: the live limiter counted ${allowed + denied}`)
    live.close()
  }
  t.deepEqual(wrong, [])
})

test('a closed local limiter throws ClosedError before reaching native', (t) => {
  const quota = { limit: 1, windowMs: 60_000, burst: 1 }
  const local = new LocalLimiter('fixed-window', quota)
  local.close()
  const live = new LocalLimiter('fixed-window', quota)
  t.teardown(() => live.close())
  t.throws(() => local.allow('k', 1), { instanceOf: ClosedError, code: 'ERR_OPTLAYER_CLOSED' })
  t.throws(() => local.stats(), { instanceOf: ClosedError })
  t.throws(() => local.size, { instanceOf: ClosedError })
  t.true(live.allow('k', 1).allowed, 'the live limiter still has its one request')
})

// The window is validated in TypeScript too; native must refuse what it cannot hold
// instead of panicking in the Duration conversion.
test('the native limiter refuses a window that is not a duration with a typed error', (t) => {
  for (const windowMs of [1e300, Number.MAX_VALUE, Infinity, NaN, -1, -Infinity]) {
    const err = t.throws(() => new native.NativeRateLimiter({ ...ONE_A_MINUTE, windowMs }))
    t.is(fromNativeError(err).code, 'ERR_OPTLAYER_INVALID_ARGUMENT', String(windowMs))
  }
})
