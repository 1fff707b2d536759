/**
 * A backend that hangs: the network to it blackholed through our TCP fault proxy (connections stay open, nothing
 * arrives, no RST). Requests already sent to it time out (504 at the upstream timeout, not later; a timeout is not retried,
 * the backend may be working on it); its breaker must open within a second of those timeouts, so that no later request
 * waits on it, the other backends' answers must stay fast while it hangs, and the backend must get traffic again once
 * it answers.
 */
import { TcpProxy } from '../../__test__/helpers/tcp-proxy'
import { Load, type LoadRequest } from '../load'
import { BackendProcess, GatewayProcess } from '../processes'
import { atMost, percentile, sleep, timeUntil, type Scenario, type ScenarioResult } from '../scenario'

const UPSTREAM_TIMEOUT_MS = 1_000
/** Failures may only come from requests that reached the hung backend before its breaker opened. */
const BREAKER_LIMIT_MS = 1_000
/** A request to the hung backend fails this soon after its timeout: the 504 written and read under load. */
const TIMEOUT_SLACK_MS = 250
const HEALTHY_P99_LIMIT_MS = 10
/**
 * Each caller's mean pause between requests: the load stays near half of what this machine's gateway serves (32 callers
 * without a pause saturate it, and their p99 is then the host's queue, not the healthy backends' answers).
 */
const CALLER_PAUSE_MS = 8
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
      // Served while the backend hangs: what the healthy backends answered. The load's start (new connections) and
      // the hung backend's return are outside it; the whole run's p99 is reported beside.
      const duringHang: number[] = []
      /** Failed requests: when each was sent and when it failed (ms since the load started). */
      const failures: { sentMs: number; settledMs: number }[] = []
      let hangAt = Infinity
      let resumedAt = Infinity
      load = Load.start({
        origin: gateway.origin,
        callers: 32,
        pauseMs: CALLER_PAUSE_MS,
        next: request,
        observe: (sentMs, settledMs, outcome) => {
          if (outcome === 'ok' && sentMs >= hangAt && settledMs <= resumedAt) duringHang.push(settledMs - sentMs)
          if (outcome === 'failed') failures.push({ sentMs, settledMs })
        },
      })
      await sleep(500)
      hangAt = load.now()
      proxy.pause()
      await sleep(hangMs)
      const servedBefore = await hung.served()
      resumedAt = load.now()
      proxy.resume()
      const rejoinMs = await timeUntil(async () => (await hung.served()) > servedBefore, REJOIN_LIMIT_MS, 50)
      await sleep(1_000)
      const report = await load.stop()

      // The breaker's opening: from the first timeout, how long requests were still sent to the hung backend (each
      // one sent later fails a timeout after it). Judged by when they were sent, not by when they failed.
      const firstTimeout = Math.min(...failures.map((f) => f.settledMs))
      const lastSent = Math.max(...failures.map((f) => f.sentMs))
      const breakerMs = failures.length === 0 ? 0 : Math.max(0, lastSent - firstTimeout)
      const failedLate = failures.filter((f) => f.sentMs > firstTimeout + BREAKER_LIMIT_MS).length
      const slowestFailureMs = Math.max(0, ...failures.map((f) => f.settledMs - f.sentMs))
      const healthyP99 = percentile(duringHang, 0.99)
      return {
        name: this.name,
        load: `32 callers pausing ${CALLER_PAUSE_MS / 2}-${CALLER_PAUSE_MS * 1.5} ms, no-store GET over 3 backends, ${Math.round(report.ok / (report.durationMs / 1000))} req/s`,
        faults: `1 backend blackholed ${hangMs / 1000} s (UPSTREAM_TIMEOUT_MS=${UPSTREAM_TIMEOUT_MS})`,
        requests: report.sent,
        failed: report.failed,
        lost: report.lost,
        resurrected: 0,
        recoveryMs: rejoinMs,
        figures: {
          'p99 ms before the hang': Number(calm.p99.toFixed(2)),
          'p99 ms of the whole load, hang included': Number(report.p99.toFixed(2)),
          'requests served while the backend hung': duringHang.length,
          'p99 ms of requests served while the backend hung': Number(healthyP99.toFixed(2)),
          'first timeout to the last request sent to the hung backend ms': Math.round(breakerMs),
          'slowest failed request ms': Math.round(slowestFailureMs),
          'failures after the breaker should have opened': failedLate,
          'hung backend answering again after ms': rejoinMs === undefined ? 'never' : Math.round(rejoinMs),
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost(
            'first timeout to the last request let through (the breaker opening)',
            breakerMs,
            BREAKER_LIMIT_MS,
            ' ms',
          ),
          atMost('slowest failed request', slowestFailureMs, UPSTREAM_TIMEOUT_MS + TIMEOUT_SLACK_MS, ' ms'),
          atMost('failures after the breaker should have opened', failedLate, 0),
          atMost('p99 of requests served while the backend hung', healthyP99, HEALTHY_P99_LIMIT_MS, ' ms'),
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
