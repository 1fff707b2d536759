/**
 * A backend that hangs: the network to it blackholed through our TCP fault proxy (connections stay open, nothing
 * arrives, no RST). Requests already sent to it time out (504 after the upstream timeout; a timeout is not retried,
 * the backend may be working on it); its breaker must open within a second of those timeouts, so that no later request
 * waits on it, the other backends' answers must stay fast, and the backend must get traffic again once it answers.
 */
import { TcpProxy } from '../../__test__/helpers/tcp-proxy'
import { Load, type LoadRequest } from '../load'
import { BackendProcess, GatewayProcess } from '../processes'
import { atMost, sleep, timeUntil, type Scenario, type ScenarioResult } from '../scenario'

const UPSTREAM_TIMEOUT_MS = 1_000
/** Failures may only come from requests that reached the hung backend before its breaker opened. */
const BREAKER_LIMIT_MS = 1_000
const HEALTHY_P99_LIMIT_MS = 10
const REJOIN_LIMIT_MS = 30_000

function request(n: number): LoadRequest {
  return { method: 'GET', path: `/fresh/${n % 1000}` }
}

export const backendHang: Scenario = {
  name: 'backend-hang',
  inTestCommand: false,
  async run({ short }): Promise<ScenarioResult> {
    const hangMs = short ? 4_000 : 10_000
    const backends = await Promise.all([BackendProcess.start(), BackendProcess.start(), BackendProcess.start()])
    const [first, second, hung] = backends as [BackendProcess, BackendProcess, BackendProcess]
    const proxy = await TcpProxy.start(hung.port)
    const gateway = await GatewayProcess.start({
      BACKENDS: `${first.url},${second.url},http://127.0.0.1:${proxy.port}`,
      UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
    })
    const warm = Load.start({ origin: gateway.origin, callers: 32, next: request })
    let load: Load | undefined
    try {
      await sleep(short ? 1_000 : 3_000)
      const calm = await warm.stop()
      load = Load.start({ origin: gateway.origin, callers: 32, next: request })
      await sleep(500)
      const hangAt = load.now()
      proxy.pause()
      await sleep(hangMs)
      const servedBefore = await hung.served()
      proxy.resume()
      const rejoinMs = await timeUntil(async () => (await hung.served()) > servedBefore, REJOIN_LIMIT_MS, 50)
      await sleep(1_000)
      const report = await load.stop()

      // The failures' spread: from the first timeout to the last failure, the breaker was still letting requests in.
      const timeline = load.timeline()
      const failedBuckets = timeline.flatMap((bucket, i) => (bucket.failed > 0 ? [i * 100] : []))
      const firstFailure = failedBuckets[0]
      const lastFailure = failedBuckets[failedBuckets.length - 1]
      const breakerMs = firstFailure === undefined || lastFailure === undefined ? 0 : lastFailure + 100 - firstFailure
      const duringHang = timeline.slice(Math.ceil((hangAt + UPSTREAM_TIMEOUT_MS + BREAKER_LIMIT_MS) / 100))
      const failedLate = duringHang.reduce((total, bucket) => total + bucket.failed, 0)
      return {
        name: this.name,
        load: `32 callers, no-store GET over 3 backends, ${Math.round(report.ok / (report.durationMs / 1000))} req/s`,
        faults: `1 backend blackholed ${hangMs / 1000} s (UPSTREAM_TIMEOUT_MS=${UPSTREAM_TIMEOUT_MS})`,
        requests: report.sent,
        failed: report.failed,
        lost: report.lost,
        resurrected: 0,
        recoveryMs: rejoinMs,
        figures: {
          'p99 ms before the hang': Number(calm.p99.toFixed(2)),
          'p99 ms of served requests, hang included': Number(report.p99.toFixed(2)),
          'first failure to last failure ms': breakerMs,
          'failures after the breaker should have opened': failedLate,
          'hung backend answering again after ms': rejoinMs === undefined ? 'never' : Math.round(rejoinMs),
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost('first to last failure (the breaker opening)', breakerMs, BREAKER_LIMIT_MS, ' ms'),
          atMost('failures after the breaker should have opened', failedLate, 0),
          atMost('p99 of served requests', report.p99, HEALTHY_P99_LIMIT_MS, ' ms'),
          atMost('requests lost', report.lost, 0),
          atMost('hung backend back in rotation', rejoinMs, REJOIN_LIMIT_MS, ' ms'),
        ],
      }
    } finally {
      await warm.stop()
      await load?.stop()
      proxy.resume()
      await gateway.stop()
      await proxy.close()
      await Promise.all(backends.map((backend) => backend.close()))
    }
  },
}
