/**
 * Soak: mixed traffic for minutes against a gateway with Redis (cache tiers, distributed limit), with its resident
 * memory, V8 heap and open file descriptors sampled every second. After warm-up their slopes must be flat within the
 * stated bounds: a leak of memory, sockets or handles shows as a steady climb.
 */
import { readdirSync } from 'node:fs'

import { startStandalone } from '../../__test__/helpers/redis'
import { Load, type LoadRequest } from '../load'
import { BackendProcess, GatewayProcess } from '../processes'
import { atMost, sleep, type Scenario, type ScenarioResult } from '../scenario'

const MIB = 2 ** 20
/** Growth allowed after warm-up, per minute: allocator and JIT noise, not a leak at these request rates. */
const RSS_SLOPE_LIMIT_MIB_PER_MIN = 2
const HEAP_SLOPE_LIMIT_MIB_PER_MIN = 1
const FD_GROWTH_LIMIT = 10

const ENCODINGS = ['gzip', 'br', 'zstd', 'identity', 'gzip, br;q=0.5']

function request(n: number): LoadRequest {
  switch (n % 6) {
    case 0:
      return { method: 'GET', path: `/fresh/${n % 1000}` }
    case 1:
      return { method: 'POST', path: '/order', headers: { 'content-type': 'application/json' }, body: `{"n":${n}}` }
    case 2:
      return { method: 'HEAD', path: `/cached/${n % 2000}` }
    default:
      return {
        method: 'GET',
        path: `/cached/${n % 2000}`,
        headers: { 'accept-encoding': ENCODINGS[n % ENCODINGS.length] as string, 'x-api-key': `user-${n % 50}` },
      }
  }
}

/** Least-squares slope of `values` over `times` (per unit of time). */
function slope(times: readonly number[], values: readonly number[]): number {
  const n = times.length
  const meanT = times.reduce((a, b) => a + b, 0) / n
  const meanV = values.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += ((times[i] as number) - meanT) * ((values[i] as number) - meanV)
    den += ((times[i] as number) - meanT) ** 2
  }
  return den === 0 ? 0 : num / den
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return 0
  }
}

export const soak: Scenario = {
  name: 'soak',
  inTestCommand: false,
  async run({ short }): Promise<ScenarioResult> {
    const durationMs = short ? 20_000 : 600_000
    const warmUpMs = durationMs / 5
    const redis = await startStandalone()
    const backends = await Promise.all([BackendProcess.start(), BackendProcess.start()])
    const gateway = await GatewayProcess.start({
      REDIS_URL: redis.url,
      BACKENDS: backends.map((b) => b.url).join(','),
      RATE_LIMIT_PER_MINUTE: '100000000',
      USER_KEY_HEADER: 'x-api-key',
    })
    const load = Load.start({ origin: gateway.origin, callers: 16, next: request })
    const samples: { minute: number; rss: number; heap: number; fds: number }[] = []
    try {
      const started = performance.now()
      while (performance.now() - started < durationMs) {
        await sleep(1_000)
        let heap = 0
        for (const [series, value] of await gateway.metrics()) {
          if (series.startsWith('optlayer_nodejs_heap_size_used_bytes') || series === 'nodejs_heap_size_used_bytes') {
            heap = value
          }
        }
        samples.push({
          minute: (performance.now() - started) / 60_000,
          rss: gateway.rss(),
          heap,
          fds: openFds(gateway.pid),
        })
      }
      const report = await load.stop()
      const steady = samples.filter((s) => s.minute * 60_000 >= warmUpMs)
      const minutes = steady.map((s) => s.minute)
      const rssSlope =
        slope(
          minutes,
          steady.map((s) => s.rss),
        ) / MIB
      const heapSlope =
        slope(
          minutes,
          steady.map((s) => s.heap),
        ) / MIB
      const fdGrowth = (steady[steady.length - 1]?.fds ?? 0) - (steady[0]?.fds ?? 0)
      const first = steady[0]
      const last = steady[steady.length - 1]
      return {
        name: this.name,
        load: `16 callers, mixed GET/HEAD/POST with encodings and 50 API keys, ${Math.round(report.ok / (report.durationMs / 1000))} req/s`,
        faults: `none: ${durationMs / 1000} s of steady traffic, sampled each second`,
        requests: report.sent,
        failed: report.failed,
        lost: report.lost,
        resurrected: 0,
        recoveryMs: undefined,
        figures: {
          'RSS after warm-up, first and last MiB': `${((first?.rss ?? 0) / MIB).toFixed(0)}, ${((last?.rss ?? 0) / MIB).toFixed(0)}`,
          'RSS slope MiB/min': Number(rssSlope.toFixed(2)),
          'heap after warm-up, first and last MiB': `${((first?.heap ?? 0) / MIB).toFixed(1)}, ${((last?.heap ?? 0) / MIB).toFixed(1)}`,
          'heap slope MiB/min': Number(heapSlope.toFixed(2)),
          'open fds after warm-up, first and last': `${first?.fds ?? 0}, ${last?.fds ?? 0}`,
          'p99 ms': Number(report.p99.toFixed(2)),
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost('requests failed', report.failed, 0),
          atMost('RSS slope after warm-up', rssSlope, RSS_SLOPE_LIMIT_MIB_PER_MIN, ' MiB/min'),
          atMost('heap slope after warm-up', heapSlope, HEAP_SLOPE_LIMIT_MIB_PER_MIN, ' MiB/min'),
          atMost('open file descriptors gained after warm-up', fdGrowth, FD_GROWTH_LIMIT),
        ],
      }
    } finally {
      await load.stop()
      await gateway.stop()
      await Promise.all(backends.map((backend) => backend.close()))
      await redis.stop()
    }
  },
}
