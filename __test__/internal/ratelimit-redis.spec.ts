import { fork, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import test, { type ExecutionContext } from 'ava'
import Redis, { Cluster } from 'ioredis'

import { ClosedError, CostExceedsCapacityError, InvalidArgumentError, UnavailableError } from '../../src/core/errors'
import { LeaseBatcher } from '../../src/ratelimit/lease-batcher'
import { validateQuota, type FixedRateAlgorithm } from '../../src/ratelimit/quota'
import { RATE_LIMIT_SCRIPTS, scriptArguments } from '../../src/ratelimit/redis-scripts'
import {
  RedisRateLimitStore,
  type RedisDecisionStatus,
  type RedisRateLimitStoreOptions,
} from '../../src/ratelimit/redis-store'
import type { HammerConfig, HammerReport, HammerTarget } from '../fixtures/redis-hammer'
import { startCluster, startStandalone, type RedisCluster, type RedisStandalone } from '../helpers/redis'
import { TcpProxy } from '../helpers/tcp-proxy'
import { waitFor } from '../helpers/wait'

const ALGORITHMS = Object.keys(RATE_LIMIT_SCRIPTS) as FixedRateAlgorithm[]
const BUCKETS: readonly FixedRateAlgorithm[] = ['token-bucket', 'gcra']
// Long enough that no fixed window ends during a test that assumes it does not.
const HOUR = 3_600_000
const UNSAFE_CLIENT_WARNING = 'OPTLAYER_UNSAFE_REDIS_CLIENT'
// ioredis options under which no command is sent twice and none waits forever (what the store sets on its own clients).
const SAFE_CLIENT = { autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0, commandTimeout: 2000 } as const

let server: RedisStandalone | undefined
let cluster: RedisCluster | undefined
let inspector: Redis | undefined
const cleanups: Array<() => unknown> = []

/** Registers `resource` to be cleaned up after all tests and returns it. */
function defer<T>(resource: T, cleanup: (resource: T) => unknown): T {
  cleanups.push(() => cleanup(resource))
  return resource
}

function requireServer(): RedisStandalone {
  if (server === undefined) throw new Error('the standalone server did not start (see test.before)')
  return server
}

function requireInspector(): Redis {
  if (inspector === undefined) throw new Error('no inspector client (see test.before)')
  return inspector
}

function requireCluster(): RedisCluster {
  if (cluster === undefined) throw new Error('the cluster did not start (see test.before)')
  return cluster
}

let keyCount = 0
function uniqueKey(label: string): string {
  return `${label}-${++keyCount}`
}

type StoreOptions = Omit<RedisRateLimitStoreOptions, 'redis'> & Partial<Pick<RedisRateLimitStoreOptions, 'redis'>>

/** A store on the standalone server (unless `redis` says otherwise), closed after all tests. */
function openStore(options: StoreOptions): RedisRateLimitStore {
  const store = new RedisRateLimitStore({ redis: { url: requireServer().url }, ...options })
  return defer(store, (s) => s.close())
}

/** `promise`, or a plain Error if it has not settled within `ms` (so a hang fails an `instanceOf` check). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Collects the process warnings with our code emitted while `fn` runs (warnings are emitted on the next tick). */
async function warningsDuring(fn: () => unknown): Promise<Error[]> {
  const seen: Error[] = []
  const listener = (warning: Error & { code?: string }): void => {
    if (warning.code === UNSAFE_CLIENT_WARNING) seen.push(warning)
  }
  process.on('warning', listener)
  try {
    await fn()
    await new Promise((resolve) => setImmediate(resolve))
    return seen
  } finally {
    process.off('warning', listener)
  }
}

test.before(async () => {
  const [standalone, clustered] = await Promise.allSettled([startStandalone(), startCluster()])
  if (standalone.status === 'fulfilled') server = standalone.value
  if (clustered.status === 'fulfilled') cluster = clustered.value
  if (standalone.status === 'rejected') throw standalone.reason
  if (clustered.status === 'rejected') throw clustered.reason
  inspector = new Redis({ host: standalone.value.host, port: standalone.value.port, lazyConnect: true, ...SAFE_CLIENT })
  await inspector.connect()
})

test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup()
    } catch {
      // Best effort: the servers are stopped below anyway.
    }
  }
  inspector?.disconnect()
  await Promise.allSettled([server?.stop(), cluster?.stop()])
})

// ---------------------------------------------------------------------------------------------------------------
// The scripts against the crate's boundary tests (crates/ratelimit/tests/algorithms), on a fake clock: the same Lua
// with `redis.call('TIME')` replaced by a time passed as its last two arguments, so the decisions compare exactly.
// (TTLs are checked on the real clock further down.)
// ---------------------------------------------------------------------------------------------------------------

/** The replays' time 0: an epoch time in ms aligned to the 1 s and 60 s windows used, like the crate's origin. */
const T0_MS = 1_699_999_980_000

/** `[allowed, remaining, retryAfterMs, resetMs]`, as the crate's tests write decisions. */
type Tuple = [number, number, number, number]
const allowed = (remaining: number, resetMs: number): Tuple => [1, remaining, 0, resetMs]
const denied = (remaining: number, retryAfterMs: number, resetMs: number): Tuple => [
  0,
  remaining,
  retryAfterMs,
  resetMs,
]

/** One key decided by a script on a fake clock. */
class FakeClockKey {
  readonly key = uniqueKey('fake-clock')
  private readonly lua: string
  private readonly parameters: number[]

  constructor(
    readonly algorithm: FixedRateAlgorithm,
    quota: { limit: number; windowMs: number; burst?: number },
  ) {
    const source = RATE_LIMIT_SCRIPTS[algorithm].lua
    this.lua = patch(
      patch(source, "redis.call('TIME')", '{ARGV[#ARGV - 1], ARGV[#ARGV]}'),
      // TTLs run on Redis' real clock: an hour more keeps a slow replay's key from expiring between its steps.
      "redis.call('PEXPIRE', key, ceil_div(us, 1000))",
      "redis.call('PEXPIRE', key, 3600000 + ceil_div(us, 1000))",
    )
    this.parameters = scriptArguments(algorithm, validateQuota(algorithm, quota))
  }

  /** Decides `cost` at `atMs` milliseconds after time 0 (fractions down to the microsecond). */
  async at(atMs: number, cost: number): Promise<Tuple> {
    const us = T0_MS * 1000 + Math.round(atMs * 1000)
    const reply = await requireInspector().eval(
      this.lua,
      1,
      this.key,
      cost,
      0,
      ...this.parameters,
      Math.floor(us / 1e6),
      us % 1e6,
    )
    return (reply as number[]).slice(0, 4) as Tuple
  }
}

/** `lua` with the one occurrence of `from` replaced by `to`. */
function patch(lua: string, from: string, to: string): string {
  const parts = lua.split(from)
  if (parts.length !== 2) throw new Error(`expected ${from} once in the script, found it ${parts.length - 1} times`)
  return parts.join(to)
}

/** A step of a replay: at `atMs`, a request of `cost`, expecting a whole decision or just whether it is allowed. */
type Step = [atMs: number, cost: number, expected: Tuple | boolean]

const repeat = (count: number, step: Step): Step[] => Array.from({ length: count }, () => step)

async function replay(t: ExecutionContext, key: FakeClockKey, steps: readonly Step[], label: string): Promise<void> {
  for (const [i, [atMs, cost, expected]] of steps.entries()) {
    const decision = await key.at(atMs, cost)
    const where = `${key.algorithm} ${label}, step ${i}: cost ${cost} at ${atMs} ms`
    if (typeof expected === 'boolean') t.is(decision[0] === 1, expected, where)
    else t.deepEqual(decision, expected, where)
  }
}

test('token-bucket and gcra decide the crate’s boundary scenarios exactly', async (t) => {
  for (const algorithm of BUCKETS) {
    const bucket = (limit: number, windowMs: number, burst?: number): FakeClockKey =>
      new FakeClockKey(algorithm, { limit, windowMs, burst })
    await replay(
      t,
      bucket(10, 1000),
      [
        ...Array.from({ length: 10 }, (_, i): Step => [0, 1, allowed(9 - i, 100 * (i + 1))]),
        [0, 1, denied(0, 100, 1000)],
        [99, 1, denied(0, 1, 901)],
        [100, 1, allowed(0, 1000)],
        [100, 1, denied(0, 100, 1000)],
      ],
      'burst then one per interval',
    )
    await replay(
      t,
      bucket(3, 1000),
      [
        ...repeat(3, [0, 1, true]),
        [0, 1, denied(0, 334, 1000)],
        [333, 1, false],
        [334, 1, allowed(0, 1000)],
        [334, 1, denied(0, 333, 1000)],
        [666, 1, false],
        [667, 1, true],
        [999.999, 1, false],
        [1000, 1, allowed(0, 1000)],
      ],
      'a fractional interval kept exactly',
    )
    await replay(
      t,
      bucket(10, 1000),
      [
        [0, 7, allowed(3, 700)],
        [0, 5, denied(3, 200, 700)],
        [199, 5, denied(4, 1, 501)],
        [200, 5, allowed(0, 1000)],
        [200, 0, allowed(0, 1000)],
      ],
      'cost n waits for its missing units',
    )
    await replay(t, bucket(10, 1000, 20), [[0, 20, allowed(0, 2000)]], 'the whole burst at once')
    await replay(
      t,
      bucket(10, 1000, 30),
      [
        ...repeat(30, [0, 1, true]),
        [0, 1, denied(0, 100, 3000)],
        [1000, 10, allowed(0, 3000)],
        [4000, 0, allowed(30, 0)],
      ],
      'a burst above the limit refills at the limit rate',
    )
    await replay(
      t,
      bucket(10, 1000, 2),
      [
        [5000, 2, allowed(0, 200)],
        [5000, 1, denied(0, 100, 200)],
      ],
      'a burst below the limit caps the bucket',
    )
    await replay(
      t,
      bucket(5, 1000),
      [...repeat(5, [42, 1, true]), ...repeat(20, [42, 1, denied(0, 200, 1000)])],
      'a frozen clock refills nothing',
    )
  }
  // A clock stepping back: GCRA gets stricter, the token bucket sees no time passing.
  await replay(
    t,
    new FakeClockKey('gcra', { limit: 10, windowMs: 1000 }),
    [...repeat(10, [1000, 1, true]), [900, 1, denied(0, 200, 1100)], [1100, 1, true]],
    'a clock stepping back',
  )
  await replay(
    t,
    new FakeClockKey('token-bucket', { limit: 10, windowMs: 1000 }),
    [...repeat(10, [1000, 1, true]), [900, 1, denied(0, 100, 1000)], [1099, 1, false], [1100, 1, true]],
    'a clock stepping back',
  )
})

test('fixed-window decides the crate’s boundary scenarios exactly', async (t) => {
  const fixed = (limit: number, windowMs: number): FakeClockKey => new FakeClockKey('fixed-window', { limit, windowMs })
  await replay(
    t,
    fixed(3, 1000),
    [
      [250, 1, allowed(2, 750)],
      [500, 1, allowed(1, 500)],
      [600, 1, allowed(0, 400)],
      [600, 1, denied(0, 400, 400)],
      [999.999, 1, false],
      [1000, 1, allowed(2, 1000)],
    ],
    'limit per aligned window',
  )
  await replay(
    t,
    fixed(5, 1000),
    [
      [0, 4, allowed(1, 1000)],
      [10, 2, denied(1, 990, 990)],
      [10, 1, allowed(0, 990)],
      [1000, 5, allowed(0, 1000)],
      [2000, 0, allowed(5, 0)],
    ],
    'cost n fits the count or waits for the next window',
  )
  await replay(
    t,
    fixed(3, 1000),
    [...repeat(3, [999, 1, true]), ...repeat(3, [1000, 1, true]), [1000, 1, false]],
    'twice the limit across a boundary',
  )
  await replay(
    t,
    fixed(10, 60_000),
    [...repeat(10, [30_000, 1, true]), ...repeat(20, [30_000, 1, false])],
    'a frozen clock',
  )
  await replay(
    t,
    fixed(2, 1000),
    [
      [1500, 2, true],
      [500, 1, denied(0, 1000, 1000)],
      [2000, 1, true],
    ],
    'a clock stepping back stays in the current window',
  )
})

test('sliding-log decides the crate’s boundary scenarios exactly and keeps at most limit entries', async (t) => {
  const log = (limit: number): FakeClockKey => new FakeClockKey('sliding-log', { limit, windowMs: 1000 })
  await replay(
    t,
    log(3),
    [
      [0, 1, allowed(2, 1000)],
      [100, 1, allowed(1, 1000)],
      [200, 1, allowed(0, 1000)],
      [300, 1, denied(0, 700, 900)],
      [999, 1, denied(0, 1, 201)],
      [1000, 1, allowed(0, 1000)],
      [1000, 1, denied(0, 100, 1000)],
    ],
    'the oldest unit expires',
  )
  await replay(
    t,
    log(3),
    [
      [0, 2, allowed(1, 1000)],
      [500, 1, allowed(0, 1000)],
      [600, 2, denied(0, 400, 900)],
      [1000, 2, allowed(0, 1000)],
      [1000, 0, allowed(0, 1000)],
    ],
    'cost n waits for n units to expire',
  )
  await replay(t, log(4), [...repeat(4, [7, 1, true]), ...repeat(20, [7, 1, denied(0, 1000, 1000)])], 'a frozen clock')
  await replay(
    t,
    log(2),
    [
      [500, 2, true],
      [100, 1, denied(0, 1000, 1000)],
      [1499, 1, false],
      [1500, 1, true],
    ],
    'a clock stepping back',
  )
  const bounded = log(5)
  for (let at = 0; at < 300; at++) {
    await bounded.at(at * 7, 1 + (at % 3))
    t.true((await requireInspector().llen(bounded.key)) <= 5)
  }
})

test('sliding-window decides the crate’s boundary scenarios exactly', async (t) => {
  const sliding = (limit: number): FakeClockKey => new FakeClockKey('sliding-window', { limit, windowMs: 1000 })
  await replay(
    t,
    sliding(10),
    [
      ...repeat(10, [0, 1, true]),
      [0, 1, denied(0, 1100, 2000)],
      [1099, 1, false],
      [1100, 1, allowed(0, 1900)],
      [1100, 1, denied(0, 100, 1900)],
      [1200, 1, allowed(0, 1800)],
      [1900, 0, allowed(7, 1100)],
    ],
    'a spent window weighs on the next as it fades',
  )
  await replay(
    t,
    sliding(10),
    [
      [500, 6, allowed(4, 1500)],
      [1000, 5, denied(4, 167, 1000)],
      [1166, 5, false],
      [1167, 5, true],
    ],
    'cost n waits for room for all of it',
  )
  await replay(
    t,
    sliding(4),
    [
      [300, 1, true],
      [300, 4, denied(3, 1700, 1700)],
      [1999.999, 4, false],
      [2000, 4, true],
    ],
    'the whole limit waits for both windows',
  )
  await replay(t, sliding(7), [...repeat(7, [123, 1, true]), ...repeat(20, [123, 1, false])], 'a frozen clock')
  await replay(
    t,
    sliding(2),
    [
      [1500, 2, true],
      [200, 1, false],
      [2500, 1, true],
    ],
    'a clock stepping back',
  )
  await replay(
    t,
    sliding(10),
    [...repeat(10, [999, 1, true]), ...repeat(9, [1998, 1, true]), [1998, 1, false]],
    'bunched traffic reaches the documented overshoot',
  )
})

// ---------------------------------------------------------------------------------------------------------------
// The store on a real Redis clock
// ---------------------------------------------------------------------------------------------------------------

test('every algorithm admits its limit with AllowN, and cost 0 asks without consuming', async (t) => {
  for (const algorithm of ALGORITHMS) {
    const store = openStore({ algorithm, limit: 10, windowMs: HOUR })
    const key = uniqueKey(algorithm)
    t.like(await store.decide(key, 3), { allowed: true, remaining: 7, retryAfterMs: 0 }, algorithm)
    t.like(await store.decide(key, 0), { allowed: true, remaining: 7, retryAfterMs: 0 }, algorithm)
    t.like(await store.decide(key, 8), { allowed: false, remaining: 7 }, `${algorithm}: all or nothing`)
    t.like(await store.decide(key, 7), { allowed: true, remaining: 0 }, algorithm)
    const denial = await store.decide(key, 1)
    t.like(denial, { allowed: false, remaining: 0 }, algorithm)
    t.true(
      denial.retryAfterMs > 0 && denial.retryAfterMs <= 2 * HOUR,
      `${algorithm}: retryAfterMs ${denial.retryAfterMs}`,
    )
    t.true(
      denial.resetMs >= denial.retryAfterMs && denial.resetMs <= 2 * HOUR,
      `${algorithm}: resetMs ${denial.resetMs}`,
    )
    t.like(await store.decide(key, 0), { allowed: true, remaining: 0 }, algorithm)
    t.like(
      await store.decide(uniqueKey(algorithm), 10),
      { allowed: true, remaining: 0 },
      `${algorithm}: keys are apart`,
    )
  }
})

test('waiting retryAfterMs is enough for the same request to be admitted', async (t) => {
  await Promise.all(
    ALGORITHMS.map(async (algorithm) => {
      const store = openStore({ algorithm, limit: 4, windowMs: 200 })
      let key = uniqueKey(algorithm)
      t.true((await store.decide(key, 4)).allowed, algorithm)
      let denial = await store.decide(key, 2)
      // On a busy machine a window may end (or units refill) between the two calls: start over on a new key.
      for (let attempt = 1; denial.allowed && attempt < 5; attempt++) {
        key = uniqueKey(algorithm)
        await store.decide(key, 4)
        denial = await store.decide(key, 2)
      }
      t.false(denial.allowed, algorithm)
      t.true(denial.retryAfterMs >= 1 && denial.retryAfterMs <= 400, `${algorithm}: ${denial.retryAfterMs} ms`)
      // Timers fire on a millisecond loop clock, so allow for one millisecond of rounding.
      await sleep(denial.retryAfterMs + 2)
      t.true((await store.decide(key, 2)).allowed, algorithm)
    }),
  )
})

test('a key carries a TTL until its state is full again, then vanishes', async (t) => {
  const redis = requireInspector()
  await Promise.all(
    ALGORITHMS.map(async (algorithm) => {
      const store = openStore({ algorithm, limit: 3, windowMs: 1000 })
      const key = uniqueKey(algorithm)
      t.is(await redis.exists(store.redisKey(key)), 0)
      t.like(await store.decide(key, 0), { remaining: 3, resetMs: 0 }, `${algorithm}: cost 0 writes nothing`)
      t.is(await redis.exists(store.redisKey(key)), 0, algorithm)
      const sent = Date.now()
      const decision = await store.decide(key, 2)
      const ttl = await redis.pttl(store.redisKey(key))
      t.true(decision.resetMs > 0, algorithm)
      if (ttl === -2) {
        // A fixed window can end before the TTL is read: then the key may only be gone once full.
        t.true(Date.now() - sent >= decision.resetMs - 1, `${algorithm}: gone early (reset ${decision.resetMs} ms)`)
      } else {
        t.true(ttl > 0 && ttl <= decision.resetMs + 1, `${algorithm}: pttl ${ttl}, reset ${decision.resetMs} ms`)
      }
      await sleep(decision.resetMs + 20)
      t.is(await redis.exists(store.redisKey(key)), 0, `${algorithm}: the key is gone once full`)
      t.like(await store.decide(key, 0), { remaining: 3, resetMs: 0 }, algorithm)
    }),
  )
})

test('take grants what is available up to n, if at least atLeast; take(n, n) decides as decide(n)', async (t) => {
  for (const algorithm of ALGORITHMS) {
    const store = openStore({ algorithm, limit: 10, windowMs: HOUR })
    const key = uniqueKey(algorithm)
    const status: RedisDecisionStatus = {}
    const before = Date.now() * 1000
    t.like(await store.take(key, 4, { status }), { granted: 4, decision: { allowed: true, remaining: 6 } }, algorithm)
    t.true(status.timeUs !== undefined && Math.abs(status.timeUs - before) < 5e6, `${algorithm}: Redis time in µs`)
    t.like(
      await store.take(key, 100),
      { granted: 6, decision: { allowed: true, remaining: 0 } },
      `${algorithm}: clamped`,
    )
    const nothing = await store.take(key, 3)
    t.like(nothing, { granted: 0, decision: { allowed: false, remaining: 0 } }, algorithm)
    t.true(nothing.decision.retryAfterMs > 0, algorithm)

    const other = uniqueKey(algorithm)
    await store.decide(other, 8)
    t.like(await store.take(other, 5, { atLeast: 3 }), { granted: 0, decision: { allowed: false, remaining: 2 } })
    t.is((await store.decide(other, 0)).remaining, 2, `${algorithm}: a refused take takes nothing`)
    t.like(await store.take(other, 5, { atLeast: 2 }), { granted: 2, decision: { allowed: true, remaining: 0 } })

    const [viaDecide, viaTake] = [uniqueKey(algorithm), uniqueKey(algorithm)]
    for (const cost of [3, 5, 4, 2, 0, 1]) {
      const decided = await store.decide(viaDecide, cost)
      const taken = await store.take(viaTake, Math.max(cost, 1), { atLeast: Math.max(cost, 1) })
      if (cost === 0) continue
      t.deepEqual(
        [decided.allowed, decided.remaining],
        [taken.decision.allowed, taken.decision.remaining],
        `${algorithm}: cost ${cost}`,
      )
    }
  }
})

test('bad input is a typed error with a code, raised before any round trip', async (t) => {
  // Nothing listens on port 1: a request that reached the network would be UnavailableError instead.
  const store = openStore({
    algorithm: 'token-bucket',
    limit: 10,
    windowMs: 1000,
    redis: { url: 'redis://127.0.0.1:1' },
  })
  const invalid = { instanceOf: InvalidArgumentError, code: 'ERR_OPTLAYER_INVALID_ARGUMENT' }
  const overCapacity = { instanceOf: CostExceedsCapacityError, code: 'ERR_OPTLAYER_COST_EXCEEDS_CAPACITY' }
  await t.throwsAsync(store.decide('', 1), { ...invalid, message: /non-empty/ })
  await t.throwsAsync(store.decide('k'.repeat(513), 1), { ...invalid, message: /at most 512 bytes, got 513/ })
  await t.throwsAsync(store.decide(42 as unknown as string, 1), invalid)
  await t.throwsAsync(store.decide('k', 11), { ...overCapacity, message: /cost 11 .* at most 10/ })
  for (const cost of [1.5, -1, Number.NaN, Infinity, '1' as unknown as number]) {
    await t.throwsAsync(store.decide('k', cost), { ...invalid, message: /invalid cost/ }, String(cost))
  }
  await t.throwsAsync(store.take('k', 0), invalid)
  await t.throwsAsync(store.take('k', 5, { atLeast: 6 }), invalid)
  await t.throwsAsync(store.take('k', 20, { atLeast: 11 }), overCapacity)
  await t.throwsAsync(store.decide('k'.repeat(512), 10), {
    instanceOf: UnavailableError,
    code: 'ERR_OPTLAYER_UNAVAILABLE',
  })

  const short = openStore({ algorithm: 'fixed-window', limit: 5, windowMs: 1000, maxKeyLength: 4 })
  await t.throwsAsync(short.decide('ééé', 1), { ...invalid, message: /at most 4 bytes, got 6 bytes/ })
  t.true((await short.decide('éé', 1)).allowed)

  const construct = (options: Partial<RedisRateLimitStoreOptions>) => () =>
    new RedisRateLimitStore({
      algorithm: 'token-bucket',
      limit: 10,
      windowMs: 1000,
      redis: { url: 'redis://127.0.0.1:1' },
      ...options,
    })
  for (const [options, message] of [
    [{ limit: 0 }, /invalid limit/],
    [{ windowMs: 1.5 }, /invalid windowMs/],
    [{ algorithm: 'fixed-window', burst: 20 }, /invalid burst/],
    [{ algorithm: 'adaptive' as FixedRateAlgorithm }, /invalid algorithm/],
    [{ prefix: 'app:{rl}:' }, /invalid prefix/],
    [{ name: 'x}' }, /invalid name/],
    [{ maxKeyLength: 0 }, /invalid maxKeyLength/],
    [{ timeoutMs: -1 }, /invalid timeoutMs/],
    [{ redis: { cluster: [] } }, /invalid redis.cluster/],
    [{ redis: { url: 5 as unknown as string } }, /invalid redis.url/],
    // Outside what the scripts compute exactly in doubles:
    [{ windowMs: 2 ** 50 / 1000 + 1 }, /invalid windowMs/],
    [{ algorithm: 'sliding-window', limit: 100_000_000, windowMs: 24 * HOUR }, /sliding-window needs limit × windowMs/],
    [{ limit: 4_294_967_291, windowMs: 24 * HOUR }, /token-bucket needs burst × windowMs/],
    [{ limit: 1, windowMs: 24 * HOUR, burst: 4_294_967_295 }, /must refill within 2\^51 µs/],
  ] as Array<[Partial<RedisRateLimitStoreOptions>, RegExp]>) {
    t.throws(construct(options), { ...invalid, message }, JSON.stringify(options))
  }
  // A million a day is fine for the buckets: the gcd keeps the scaled units small.
  const daily = openStore({ algorithm: 'gcra', limit: 1_000_000, windowMs: 24 * HOUR })
  t.like(await daily.decide(uniqueKey('daily'), 1000), { allowed: true, remaining: 999_000 })
})

test('close() ends calls with ClosedError and quits only a client the store created', async (t) => {
  const owned = new RedisRateLimitStore({
    algorithm: 'fixed-window',
    limit: 5,
    windowMs: HOUR,
    redis: { url: requireServer().url },
  })
  t.false(owned.available(), 'not connected yet')
  t.true((await owned.decide(uniqueKey('owned'), 1)).allowed, 'the first call waits for the connection')
  t.true(owned.available())
  await owned.close()
  await owned.close()
  t.false(owned.available())
  await t.throwsAsync(owned.decide('k', 1), { instanceOf: ClosedError, code: 'ERR_OPTLAYER_CLOSED' })

  const client = defer(new Redis(requireServer().port, requireServer().host, SAFE_CLIENT), (c) => c.disconnect())
  const borrowed = new RedisRateLimitStore({ algorithm: 'gcra', limit: 5, windowMs: HOUR, redis: client })
  t.true((await borrowed.decide(uniqueKey('borrowed'), 1)).allowed)
  await borrowed.close()
  t.is(client.status, 'ready')
  t.is(await client.ping(), 'PONG')
  await t.throwsAsync(borrowed.decide('k', 1), { instanceOf: ClosedError })
})

test.serial('a client without the safe options gets a warning; one with them does not', async (t) => {
  const options = { algorithm: 'fixed-window', limit: 5, windowMs: 1000 } as const
  // Never connected: nothing is sent, so they need no server (and port 1 keeps them away from any real one).
  const lazy = { port: 1, lazyConnect: true }
  const unsafe = await warningsDuring(() => {
    new RedisRateLimitStore({ ...options, redis: new Redis(lazy) })
    new RedisRateLimitStore({ ...options, redis: new Cluster([{ host: '127.0.0.1', port: 1 }], lazy) })
  })
  t.is(unsafe.length, 2)
  t.regex(unsafe[0]?.message ?? '', /autoResendUnfulfilledCommands: false .* commandTimeout/)
  t.regex(unsafe[1]?.message ?? '', /retryDelayOnFailover: 0, redisOptions.commandTimeout/)
  const safe = await warningsDuring(() => {
    new RedisRateLimitStore({ ...options, redis: new Redis({ ...lazy, ...SAFE_CLIENT }) })
    new RedisRateLimitStore({ ...options, redis: new Redis({ ...lazy, maxRetriesPerRequest: 0, commandTimeout: 500 }) })
    new RedisRateLimitStore({
      ...options,
      redis: new Cluster([{ host: '127.0.0.1', port: 1 }], {
        ...lazy,
        retryDelayOnFailover: 0,
        redisOptions: { commandTimeout: 500 },
      }),
    })
  })
  t.deepEqual(safe, [])
})

// ---------------------------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------------------------

test('every algorithm works on Redis Cluster, its keys spread over the masters by hash tag', async (t) => {
  const c = requireCluster()
  const reader = defer(new Cluster(c.startupNodes, { retryDelayOnFailover: 0, redisOptions: SAFE_CLIENT }), (r) =>
    r.disconnect(),
  )
  for (const algorithm of ALGORITHMS) {
    const store = openStore({ algorithm, limit: 3, windowMs: HOUR, redis: { cluster: c.startupNodes } })
    // Fixed names on a fresh cluster: where each lands is deterministic.
    const keys = Array.from({ length: 8 }, (_, i) => `cluster-${algorithm}-${i}`)
    const owners = new Set(await Promise.all(keys.map(async (key) => (await c.nodeForKey(store.redisKey(key))).port)))
    t.true(owners.size >= 2, `${algorithm}: keys on ${owners.size} masters`)
    await Promise.all(
      keys.map(async (key) => {
        t.like(await store.decide(key, 2), { allowed: true, remaining: 1 }, algorithm)
        t.like(await store.take(key, 5), { granted: 1, decision: { remaining: 0 } }, algorithm)
        t.like(await store.decide(key, 1), { allowed: false, remaining: 0 }, algorithm)
        t.true((await reader.pttl(store.redisKey(key))) > 0, `${algorithm}: the key has a TTL`)
      }),
    )
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Many processes on one key
// ---------------------------------------------------------------------------------------------------------------

const HAMMER = path.join(__dirname, '..', 'fixtures', 'redis-hammer.ts')

function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type?: string }): void => {
      if (message?.type !== type) return
      done()
      resolve(message as T)
    }
    const onExit = (code: number | null, signal: string | null): void => {
      done()
      reject(new Error(`a hammer process exited (${code ?? signal}) before sending '${type}'`))
    }
    const done = (): void => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/**
 * Runs `processes` hammer processes with `config` from a shared start on a window boundary for `windows` windows and
 * returns their reports. Every process is killed by the end, whatever happens.
 */
async function hammer(
  processes: number,
  config: Omit<HammerConfig, 'type'>,
  windowMs: number,
  windows: number,
): Promise<HammerReport[]> {
  const children: ChildProcess[] = []
  try {
    for (let i = 0; i < processes; i++) {
      children.push(fork(HAMMER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
    }
    const ready = children.map((child) => nextMessage(child, 'ready'))
    for (const child of children) child.send({ type: 'config', ...config } satisfies HammerConfig)
    await within(Promise.all(ready), 60_000)
    const startAt = (Math.floor(Date.now() / windowMs) + 2) * windowMs
    const reports = children.map((child) => nextMessage<HammerReport>(child, 'report'))
    for (const child of children) child.send({ type: 'go', startAt, endAt: startAt + windows * windowMs })
    return await within(Promise.all(reports), windows * windowMs + 60_000)
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

interface Admissions {
  target: HammerTarget
  /** Sorted admission times, µs since the epoch. */
  times: number[]
  denied: number
  roundTrips: number
}

function collect(reports: readonly HammerReport[], targets: readonly HammerTarget[]): Admissions[] {
  return targets.map((target, i) => {
    const lanes = reports.map((report) => report.targets[i] ?? { admitted: [], denied: 0, roundTrips: 0 })
    return {
      target,
      times: lanes.flatMap((lane) => lane.admitted).sort((a, b) => a - b),
      denied: lanes.reduce((sum, lane) => sum + lane.denied, 0),
      roundTrips: lanes.reduce((sum, lane) => sum + lane.roundTrips, 0),
    }
  })
}

/** Most admissions in one aligned window. */
function maxPerAlignedWindow(times: readonly number[], windowMs: number): number {
  const counts = new Map<number, number>()
  for (const time of times) {
    const window = Math.floor(time / (windowMs * 1000))
    counts.set(window, (counts.get(window) ?? 0) + 1)
  }
  return Math.max(0, ...counts.values())
}

/** Most admissions in any window-long interval (t − window, t]. */
function maxPerSlidingWindow(times: readonly number[], windowMs: number): number {
  let most = 0
  for (let first = 0, last = 0; last < times.length; last++) {
    while ((times[first] as number) <= (times[last] as number) - windowMs * 1000) first++
    most = Math.max(most, last - first + 1)
  }
  return most
}

/**
 * The largest excess over `burst + limit × d / window` of the admissions in any interval [t_i, t_j] (d = t_j − t_i,
 * widened by the resolution of the times), in units; at most 0 for a token bucket that starts full.
 */
function bucketExcess(times: readonly number[], target: HammerTarget, resolutionUs: number): number {
  const windowUs = target.windowMs * 1000
  const burst = target.burst ?? target.limit
  let most = -Infinity
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      const span = (times[j] as number) - (times[i] as number) + resolutionUs
      most = Math.max(most, j - i + 1 - burst - (span * target.limit) / windowUs)
    }
  }
  return most
}

test.serial('8 processes hammering one key never admit more than the limit per window', async (t) => {
  const windowMs = 250
  const limit = 40
  const targets: HammerTarget[] = ALGORITHMS.map((algorithm) => ({
    algorithm,
    limit,
    windowMs,
    ...(BUCKETS.includes(algorithm) ? { burst: 20 } : {}),
    key: uniqueKey(`hammer-${algorithm}`),
  }))
  const reports = await hammer(8, { url: requireServer().url, targets, concurrency: 2 }, windowMs, 6)
  for (const { target, times, denied } of collect(reports, targets)) {
    const { algorithm } = target
    // The limit was reached over and over: at least two windows' worth admitted (six are run;
    // under a loaded machine the processes start late and get through fewer).
    t.true(denied > 0 && times.length >= 2 * limit, `${algorithm}: ${times.length} admitted, ${denied} denied`)
    switch (algorithm) {
      case 'fixed-window': {
        const most = maxPerAlignedWindow(times, windowMs)
        t.is(most, limit, `${algorithm}: at most, and in some window exactly, the limit`)
        break
      }
      case 'sliding-window':
        t.true(maxPerAlignedWindow(times, windowMs) <= limit, `${algorithm}: per aligned window`)
        break
      case 'sliding-log':
        t.true(maxPerSlidingWindow(times, windowMs) <= limit, `${algorithm}: in every window-long interval`)
        break
      default:
        t.true(bucketExcess(times, target, 0) <= 0, `${algorithm}: within burst + rate × time`)
    }
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Local batching
// ---------------------------------------------------------------------------------------------------------------

/** Counts the store's `take` and `decide` calls (round trips). */
function countCalls(store: RedisRateLimitStore): { takes: number; decides: number } {
  const counts = { takes: 0, decides: 0 }
  const take = store.take.bind(store)
  const decide = store.decide.bind(store)
  store.take = (...args) => {
    counts.takes++
    return take(...args)
  }
  store.decide = (...args) => {
    counts.decides++
    return decide(...args)
  }
  return counts
}

test('batched decisions share one lease request per key and serve from the lease', async (t) => {
  const store = openStore({ algorithm: 'fixed-window', limit: 100, windowMs: HOUR })
  const calls = countCalls(store)
  const batcher = new LeaseBatcher(store, { batchSize: 10, leaseMs: HOUR })
  const key = uniqueKey('batched')
  const decisions = await Promise.all(Array.from({ length: 25 }, () => batcher.decide(key, 1)))
  t.true(decisions.every((decision) => decision.allowed))
  t.is(calls.takes, 3, '25 requests, 3 leases of 10')
  t.is(await requireInspector().hget(store.redisKey(key), 'c'), '30', 'Redis counted the leased units')
  t.like(decisions[24], { remaining: 5 + 70, retryAfterMs: 0 }, 'lease units left plus what Redis had left')
  t.like(await batcher.decide(key, 2), { allowed: true, remaining: 73 })
  t.is(calls.takes, 3)
})

test('a lease is dropped after leaseMs, and a denial is remembered until its retry time', async (t) => {
  let now = 0
  const store = openStore({ algorithm: 'token-bucket', limit: 15, windowMs: HOUR })
  const calls = countCalls(store)
  const batcher = new LeaseBatcher(store, { batchSize: 10, leaseMs: 100, now: () => now })
  const key = uniqueKey('lease')
  t.true((await batcher.decide(key, 1)).allowed)
  now = 99
  t.true((await batcher.decide(key, 1)).allowed)
  t.is(calls.takes, 1)
  now = 100
  t.like(await batcher.decide(key, 1), { allowed: true }, 'a new lease of the 5 left')
  t.is(calls.takes, 2)
  t.is((await store.decide(key, 0)).remaining, 0, 'the expired lease’s 8 units stay spent')
  for (let i = 0; i < 4; i++) t.true((await batcher.decide(key, 1)).allowed)
  const denial = await batcher.decide(key, 1)
  t.false(denial.allowed)
  t.true(denial.retryAfterMs > 0)
  t.is(calls.takes, 3)
  now += 1000
  t.like(await batcher.decide(key, 1), { allowed: false }, 'denied without asking')
  t.like(await batcher.decide(key, 2), { allowed: false }, 'a larger cost is denied without asking too')
  t.is(calls.takes, 3)
  now += denial.retryAfterMs
  await batcher.decide(key, 1)
  t.is(calls.takes, 4, 'asks Redis again once the retry time has passed')
})

test('batching sends cost 0, costs above batchSize and keys beyond maxKeys straight to Redis', async (t) => {
  const store = openStore({ algorithm: 'sliding-log', limit: 20, windowMs: HOUR })
  const calls = countCalls(store)
  const batcher = new LeaseBatcher(store, { batchSize: 5, maxKeys: 2, leaseMs: HOUR })
  const key = uniqueKey('direct')
  t.like(await batcher.decide(key, 6), { allowed: true, remaining: 14 })
  t.like(await batcher.decide(key, 0), { allowed: true, remaining: 14 })
  t.deepEqual(calls, { takes: 0, decides: 2 })
  await batcher.decide(uniqueKey('a'), 1)
  await batcher.decide(uniqueKey('b'), 1)
  t.deepEqual(calls, { takes: 2, decides: 2 })
  t.true((await batcher.decide(uniqueKey('c'), 1)).allowed)
  t.deepEqual(calls, { takes: 2, decides: 3 }, 'a third key while two hold leases')
})

test('batching rejects bad input, failed leases and calls after close with typed errors', async (t) => {
  const unreachable = openStore({
    algorithm: 'gcra',
    limit: 10,
    windowMs: 1000,
    redis: { url: 'redis://127.0.0.1:1' },
    timeoutMs: 200,
  })
  const calls = countCalls(unreachable)
  const batcher = new LeaseBatcher(unreachable, { batchSize: 5 })
  await t.throwsAsync(batcher.decide('', 1), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(batcher.decide('k', 11), { instanceOf: CostExceedsCapacityError })
  await t.throwsAsync(batcher.decide('k', 0.5), { instanceOf: InvalidArgumentError })
  const waiting = await Promise.allSettled([1, 2, 3].map(() => batcher.decide('k', 1)))
  t.true(waiting.every((result) => result.status === 'rejected' && result.reason instanceof UnavailableError))
  t.is(calls.takes, 1, 'one lease request, its failure shared')
  batcher.close()
  await t.throwsAsync(batcher.decide('k', 1), { instanceOf: ClosedError })
  for (const options of [{ batchSize: 0 }, { leaseMs: 1.5 }, { maxKeys: -1 }, { now: 5 as unknown as () => number }]) {
    t.throws(() => new LeaseBatcher(unreachable, options), { instanceOf: InvalidArgumentError })
  }
})

test.serial('4 batching processes stay within limit + processes × batchSize per window', async (t) => {
  const windowMs = 250
  const limit = 40
  const processes = 4
  const batch = { batchSize: 5, leaseMs: 50 }
  const targets: HammerTarget[] = ALGORITHMS.map((algorithm) => ({
    algorithm,
    limit,
    windowMs,
    ...(BUCKETS.includes(algorithm) ? { burst: 20 } : {}),
    key: uniqueKey(`batched-${algorithm}`),
  }))
  const reports = await hammer(processes, { url: requireServer().url, targets, concurrency: 4, batch }, windowMs, 6)
  const slack = processes * batch.batchSize
  for (const { target, times, denied, roundTrips } of collect(reports, targets)) {
    const { algorithm } = target
    // The limit was reached over and over: at least two windows' worth admitted (six are run;
    // under a loaded machine the processes start late and get through fewer).
    t.true(denied > 0 && times.length >= 2 * limit, `${algorithm}: ${times.length} admitted, ${denied} denied`)
    t.true(roundTrips < times.length, `${algorithm}: ${roundTrips} leases for ${times.length} admissions`)
    switch (algorithm) {
      case 'fixed-window':
      case 'sliding-window':
        t.true(maxPerAlignedWindow(times, windowMs) <= limit + slack, `${algorithm}: per aligned window`)
        break
      case 'sliding-log':
        t.true(maxPerSlidingWindow(times, windowMs) <= limit + slack, `${algorithm}: per window-long interval`)
        break
      default:
        // Batched admissions are timed by the processes' millisecond clock.
        t.true(bucketExcess(times, target, 1000) <= slack, `${algorithm}: within burst + rate × time + slack`)
    }
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Faults: lost replies, stalls, a killed server
// ---------------------------------------------------------------------------------------------------------------

async function openProxy(): Promise<TcpProxy> {
  return defer(await TcpProxy.start(requireServer().port), (proxy) => proxy.close())
}

async function fixedWindowCount(store: RedisRateLimitStore, key: string): Promise<string | null> {
  return requireInspector().hget(store.redisKey(key), 'c')
}

test.serial(
  'a reply lost with the connection counts its request once: the call rejects, nothing is re-sent',
  async (t) => {
    const proxy = await openProxy()
    const store = openStore({ algorithm: 'fixed-window', limit: 100, windowMs: HOUR, redis: { url: proxy.url } })
    const key = uniqueKey('lost-reply')
    await store.decide(key, 0)
    const dropped = proxy.dropRepliesThenReset(3)
    const results = await Promise.allSettled([1, 2, 3].map(() => store.decide(key, 1)))
    await dropped
    for (const result of results) {
      t.true(result.status === 'rejected' && result.reason instanceof UnavailableError, JSON.stringify(result))
    }
    t.is(await fixedWindowCount(store, key), '3', 'Redis ran each script once')
    await waitFor('the store to reconnect', () => store.available())
    // Any re-sent script would have run by now.
    await sleep(300)
    t.is(await fixedWindowCount(store, key), '3', 'and never again')
    t.like(await store.decide(key, 0), { allowed: true, remaining: 97 })
  },
)

test.serial('the same lost reply with ioredis defaults is counted twice, which is why the store warns', async (t) => {
  const proxy = await openProxy()
  const client = defer(new Redis(proxy.url), (c) => c.disconnect())
  client.on('error', () => {})
  let store: RedisRateLimitStore | undefined
  const warnings = await warningsDuring(() => {
    store = openStore({ algorithm: 'fixed-window', limit: 100, windowMs: HOUR, redis: client })
  })
  t.is(warnings.length, 1)
  if (store === undefined) return
  const key = uniqueKey('resent')
  await store.decide(key, 0)
  const dropped = proxy.dropRepliesThenReset(1)
  t.true((await store.decide(key, 1)).allowed, 'ioredis re-sent the script after reconnecting')
  await dropped
  t.is(await fixedWindowCount(store, key), '2', 'one request, counted twice')
})

test.serial('a reply stalled past the timeout rejects, and the command runs once when the link resumes', async (t) => {
  const proxy = await openProxy()
  const store = openStore({
    algorithm: 'fixed-window',
    limit: 100,
    windowMs: HOUR,
    redis: { url: proxy.url },
    timeoutMs: 500,
  })
  const key = uniqueKey('stalled')
  await store.decide(key, 0)
  proxy.pause()
  await t.throwsAsync(within(store.decide(key, 1), 5000), { instanceOf: UnavailableError, message: /timed out/ })
  proxy.resume()
  await waitFor('the stalled command to reach Redis', async () => (await fixedWindowCount(store, key)) === '1')
  await sleep(300)
  t.is(await fixedWindowCount(store, key), '1')
  t.like(await store.decide(key, 1), { allowed: true, remaining: 98 }, 'the connection carries on')
  proxy.closeConnections()
  await waitFor('the store to notice the reset', () => !store.available())
  await waitFor('the store to reconnect by itself', () => store.available())
  t.like(await store.decide(key, 1), { allowed: true, remaining: 97 })
})

test.serial('a script flushed from Redis is loaded again without the caller noticing', async (t) => {
  const store = openStore({ algorithm: 'sliding-log', limit: 5, windowMs: HOUR })
  const key = uniqueKey('flushed')
  t.true((await store.decide(key, 1)).allowed)
  t.true((await store.decide(key, 1)).allowed, 'sent as EVALSHA once the connection has loaded it')
  await requireInspector().script('FLUSH')
  t.like(await store.decide(key, 1), { allowed: true, remaining: 2 }, 'NOSCRIPT, then EVAL')
})

test.serial(
  'with Redis killed, calls reject at once with UnavailableError; the same store recovers after restart',
  async (t) => {
    const victim = defer(await startStandalone(), (s) => s.stop())
    const store = openStore({ algorithm: 'sliding-window', limit: 5, windowMs: HOUR, redis: { url: victim.url } })
    const key = uniqueKey('killed')
    t.true((await store.decide(key, 1)).allowed)
    await victim.kill()
    await waitFor('the store to notice', () => !store.available())
    for (let i = 0; i < 3; i++) {
      await t.throwsAsync(within(store.decide(key, 1), 3000), {
        instanceOf: UnavailableError,
        code: 'ERR_OPTLAYER_UNAVAILABLE',
      })
    }
    const failure = await t.throwsAsync(store.decide(key, 1))
    t.truthy(failure?.cause, 'the ioredis error is kept as cause')
    await victim.restart()
    await waitFor('the store to reconnect', () => store.available())
    // The restarted server kept no data.
    t.like(await store.decide(key, 1), { allowed: true, remaining: 4 })
  },
)
