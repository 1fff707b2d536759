/**
 * Redis that stops answering without going away: the server frozen with SIGSTOP, then the network to it blackholed
 * (connections stay open, nothing arrives, no RST) through our TCP fault proxy. The gateway (Redis-backed cache and
 * rate limit) must keep serving, no request may wait much past the Redis command timeout, nothing may be left
 * unsettled when Redis answers again, and L3 and the distributed limit must be used again soon after.
 */
import { startStandalone } from '../../__test__/helpers/redis'
import { TcpProxy } from '../../__test__/helpers/tcp-proxy'
import { cacheMix, Load } from '../load'
import { BackendProcess, GatewayProcess, sumSeries } from '../processes'
import { atMost, sleep, timeUntil, type Scenario, type ScenarioResult } from '../scenario'

/** The cache's and the limiter's Redis command timeout (both default to 1 s). */
const COMMAND_TIMEOUT_MS = 1_000
/**
 * The longest a request may wait: one command timeout (the components of a process share what they learn of a hung
 * server, and stop calling it until it answers a probe; the cache's commands are not held behind one another's batch),
 * plus its own work and the machine's noise.
 */
const REQUEST_WAIT_LIMIT_MS = COMMAND_TIMEOUT_MS + 500
const RECOVERY_LIMIT_MS = 2_000

/** The gateway's rate-limit decisions made through Redis so far. */
function redisDecisions(samples: Map<string, number>): number {
  return sumSeries(samples, 'optlayer_ratelimit_decisions_total', 'source="redis"')
}

export const redisHang: Scenario = {
  name: 'redis-hang',
  inTestCommand: false,
  async run({ short }): Promise<ScenarioResult> {
    const hangMs = short ? 3_000 : 10_000
    const redis = await startStandalone()
    const proxy = await TcpProxy.start(redis.port)
    const backend = await BackendProcess.start()
    const gateway = await GatewayProcess.start({
      REDIS_URL: proxy.url,
      BACKENDS: backend.url,
      RATE_LIMIT_PER_MINUTE: '100000000',
    })
    const load = Load.start({ origin: gateway.origin, callers: 32, next: cacheMix })
    try {
      await sleep(short ? 1_000 : 3_000)
      const resumed: Record<string, number | undefined> = {}
      const faults: [string, () => void, () => void][] = [
        ['SIGSTOP', () => redis.pause(), () => redis.resume()],
        ['blackhole', () => proxy.pause(), () => proxy.resume()],
      ]
      for (const [name, start, end] of faults) {
        start()
        await sleep(hangMs)
        const decisions = redisDecisions(await gateway.metrics())
        end()
        resumed[name] = await timeUntil(
          async () => redisDecisions(await gateway.metrics()) > decisions,
          RECOVERY_LIMIT_MS * 5,
        )
        await sleep(short ? 1_000 : 3_000)
      }
      const report = await load.stop()
      const recoveries = Object.values(resumed)
      const slowest = recoveries.some((ms) => ms === undefined) ? undefined : Math.max(...(recoveries as number[]))
      return {
        name: this.name,
        load: `32 callers, GET (4 in 5 cacheable), ${Math.round(report.ok / (report.durationMs / 1000))} req/s`,
        faults: `Redis frozen (SIGSTOP) ${hangMs / 1000} s, then blackholed ${hangMs / 1000} s`,
        requests: report.sent,
        failed: report.failed,
        lost: report.lost,
        resurrected: 0,
        recoveryMs: slowest,
        figures: {
          'slowest request ms': Math.round(report.maxMs),
          'requests slower than one command timeout': report.slowerThan(COMMAND_TIMEOUT_MS),
          'p99 ms': Number(report.p99.toFixed(2)),
          'distributed limit back after SIGCONT, ms':
            resumed.SIGSTOP === undefined ? 'never' : Math.round(resumed.SIGSTOP),
          'distributed limit back after the blackhole, ms':
            resumed.blackhole === undefined ? 'never' : Math.round(resumed.blackhole),
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost('requests failed', report.failed, 0),
          atMost('requests left unsettled', report.lost, 0),
          atMost('slowest request', report.maxMs, REQUEST_WAIT_LIMIT_MS, ' ms'),
          atMost('distributed limit back after Redis answers again', slowest, RECOVERY_LIMIT_MS, ' ms'),
        ],
      }
    } finally {
      await load.stop()
      if (redis.paused) redis.resume()
      proxy.resume()
      await gateway.stop()
      await backend.close()
      await proxy.close()
      await redis.stop()
    }
  },
}
