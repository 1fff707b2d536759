/**
 * Redis killed under load and restarted: the gateway (Redis-backed cache and rate limit, fail-soft defaults) keeps
 * answering, its memory stays bounded while Redis is away, L3 and the distributed limit are used again soon after
 * Redis returns, and two cache instances that saw writes and deletes during the outage read them back as written.
 *
 * Redis persists to an append-only file here, as a production Redis would: the values from before the outage come
 * back with it, so a write or delete made during the outage that were not replayed would show as a resurrected value.
 */
import { DistributedCache } from 'optlayer'
import { startStandalone } from '../../__test__/helpers/redis'
import { cacheMix, Load } from '../load'
import { BackendProcess, GatewayProcess, sumSeries } from '../processes'
import { atMost, sleep, timeUntil, type Scenario, type ScenarioResult } from '../scenario'

const KEYS = 200
const RSS_GROWTH_LIMIT_MIB = 64
const RECOVERY_LIMIT_MS = 2_000

/** The gateway cache's L3 lookups so far, hits and misses. */
function l3Lookups(samples: Map<string, number>): number {
  return (
    sumSeries(samples, 'optlayer_cache_misses_total', 'tier="l3"', 'gateway') +
    sumSeries(samples, 'optlayer_cache_hits_total', 'tier="l3"', 'gateway')
  )
}

export const redisOutage: Scenario = {
  name: 'redis-outage',
  inTestCommand: true,
  async run({ short }): Promise<ScenarioResult> {
    const outageMs = short ? 3_000 : 10_000
    const redis = await startStandalone(['--appendonly', 'yes', '--appendfsync', 'always'])
    const backend = await BackendProcess.start()
    const gateway = await GatewayProcess.start({
      REDIS_URL: redis.url,
      BACKENDS: backend.url,
      RATE_LIMIT_PER_MINUTE: '100000000',
    })
    const instance = (name: string): DistributedCache<string> =>
      new DistributedCache<string>({ name, namespace: 'chaos', l2: { name }, redis: { url: redis.url } })
    const a = instance('chaos-a')
    const b = instance('chaos-b')
    let load: Load | undefined
    try {
      await Promise.all([a.ready(), b.ready()])
      for (let i = 0; i < KEYS; i++) await a.set(`k${i}`, `before-${i}`)
      for (let i = 0; i < KEYS; i++) await b.get(`k${i}`) // b now holds every value locally

      load = Load.start({ origin: gateway.origin, callers: 32, next: cacheMix })
      await sleep(short ? 1_000 : 3_000)
      const rssBefore = gateway.rss()

      await redis.kill('SIGKILL')
      const downAt = load.now()
      let rssPeak = rssBefore
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, gateway.rss())), 100)
      await sleep(outageMs / 2)
      // The changes a would have lost without its outage journal.
      for (let i = 0; i < KEYS / 2; i++) await a.set(`k${i}`, `during-${i}`)
      for (let i = KEYS / 2; i < KEYS; i++) await a.delete(`k${i}`)
      await sleep(outageMs / 2)
      clearInterval(sampler)

      const before = await gateway.metrics()
      const redisDecisions = sumSeries(before, 'optlayer_ratelimit_decisions_total', 'source="redis"')
      const lookupsBefore = l3Lookups(before)
      await redis.restart()
      const backAt = load.now()
      const [limitResumedMs, l3ResumedMs] = await Promise.all([
        timeUntil(
          async () =>
            sumSeries(await gateway.metrics(), 'optlayer_ratelimit_decisions_total', 'source="redis"') > redisDecisions,
          10_000,
        ),
        timeUntil(async () => {
          const now = await gateway.metrics()
          return sumSeries(now, 'optlayer_cache_redis_available', 'gateway') >= 1 && l3Lookups(now) > lookupsBefore
        }, 10_000),
      ])
      const journalEmptyMs = await timeUntil(() => a.stats().outageJournal.pending === 0, 10_000)
      await sleep(short ? 1_000 : 3_000)
      const report = await load.stop()

      // Every instance, and one that starts now (Redis alone), reads what a wrote during the outage.
      const c = instance('chaos-c')
      let resurrected = 0
      let wrong = 0
      for (const cache of [a, b, c]) {
        for (let i = 0; i < KEYS; i++) {
          const value = await cache.get(`k${i}`)
          const expected = i < KEYS / 2 ? `during-${i}` : undefined
          if (value === `before-${i}`) resurrected++
          else if (value !== expected) wrong++
        }
      }
      await c.close()

      const rssGrowthMiB = (rssPeak - rssBefore) / 2 ** 20
      const recoveryMs = Math.max(limitResumedMs ?? Infinity, l3ResumedMs ?? Infinity)
      return {
        name: this.name,
        load: `32 callers, GET (4 in 5 cacheable), ${Math.round(report.ok / (report.durationMs / 1000))} req/s`,
        faults: `Redis SIGKILLed for ${outageMs / 1000} s, restarted`,
        requests: report.sent,
        failed: report.failed,
        lost: report.lost,
        resurrected,
        recoveryMs,
        figures: {
          'outage started at ms': Math.round(downAt),
          'Redis back at ms': Math.round(backAt),
          'distributed limit resumed after ms': limitResumedMs === undefined ? 'never' : Math.round(limitResumedMs),
          'L3 resumed after ms': l3ResumedMs === undefined ? 'never' : Math.round(l3ResumedMs),
          'outage journal replayed after ms': journalEmptyMs === undefined ? 'never' : Math.round(journalEmptyMs),
          'gateway RSS growth during the outage MiB': Number(rssGrowthMiB.toFixed(1)),
          'values read wrong (neither old nor written)': wrong,
          'p99 ms': Number(report.p99.toFixed(2)),
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost('requests failed', report.failed, 0),
          atMost('requests lost', report.lost, 0),
          atMost('distributed limit resumed after Redis returned', limitResumedMs, RECOVERY_LIMIT_MS, ' ms'),
          atMost('L3 resumed after Redis returned', l3ResumedMs, RECOVERY_LIMIT_MS, ' ms'),
          atMost('values resurrected', resurrected, 0),
          atMost('values read wrong', wrong, 0),
          atMost('gateway RSS growth while Redis was down', rssGrowthMiB, RSS_GROWTH_LIMIT_MIB, ' MiB'),
        ],
      }
    } finally {
      await load?.stop()
      await Promise.all([a.close(), b.close()])
      await gateway.stop()
      await backend.close()
      await redis.stop()
    }
  },
}
