/**
 * Backends SIGKILLed and restarted one by one under load: the gateway fails over to the others, retries idempotent
 * requests that a dying backend dropped, and takes each backend back once it answers again. The only failures allowed
 * are non-idempotent requests already in flight on a backend at the moment it died (the gateway must not replay
 * them), so every failure must fall just after a kill.
 */
import { OUTLIER_DETECTION_DEFAULTS } from 'optlayer'

import { Load, type LoadRequest } from '../load'
import { BackendProcess, GatewayProcess } from '../processes'
import { atMost, sleep, timeUntil, type Scenario, type ScenarioResult } from '../scenario'

const BACKENDS = 3
/** Each answer is held this long, so requests are in flight when a backend dies. */
const BACKEND_DELAY_MS = 2
/** Failures later than this after a kill are not explained by requests in flight at the kill. */
const KILL_WINDOW_MS = 1_000
/** An ejected backend is taken back after the outlier detector's first ejection time (the gateway's default). */
const REJOIN_LIMIT_MS = OUTLIER_DETECTION_DEFAULTS.baseEjectionMs + 5_000

function request(n: number): LoadRequest {
  // One in four is a POST: not idempotent, never retried by the gateway.
  return n % 4 === 3
    ? { method: 'POST', path: '/order', headers: { 'content-type': 'application/json' }, body: `{"order":${n}}` }
    : { method: 'GET', path: `/fresh/${n % 1000}` }
}

export const backendRestarts: Scenario = {
  name: 'backend-restarts',
  inTestCommand: true,
  async run({ short }): Promise<ScenarioResult> {
    const downMs = short ? 1_000 : 3_000
    const settleMs = short ? 1_500 : 5_000
    const backends = await Promise.all(
      Array.from({ length: BACKENDS }, () => BackendProcess.start({ CHAOS_DELAY_MS: String(BACKEND_DELAY_MS) })),
    )
    const gateway = await GatewayProcess.start({ BACKENDS: backends.map((backend) => backend.url).join(',') })
    const load = Load.start({ origin: gateway.origin, callers: 32, next: request })
    try {
      await sleep(settleMs)
      const kills: number[] = []
      const rejoins: Promise<number | undefined>[] = []
      for (const backend of backends) {
        kills.push(load.now())
        await backend.kill()
        await sleep(downMs)
        await backend.restart()
        // Back in rotation: the restarted process answers the gateway's traffic again. A backend the outlier
        // detector ejected stays out for its ejection time, so the next kill does not wait for this.
        rejoins.push(timeUntil(async () => (await backend.served()) > 0, REJOIN_LIMIT_MS, 20))
        await sleep(settleMs)
      }
      const rejoinMs = await Promise.all(rejoins)
      const report = await load.stop()
      const failedGets = Object.entries(report.failures)
        .filter(([why]) => why.startsWith('GET '))
        .reduce((total, [, count]) => total + count, 0)
      const nearKills = kills.reduce((total, at) => total + load.countBetween('failed', at, at + KILL_WINDOW_MS), 0)
      const slowestRejoin = rejoinMs.some((ms) => ms === undefined) ? undefined : Math.max(...(rejoinMs as number[]))
      return {
        name: this.name,
        load: `32 callers, no-store GET and POST (1 in 4), ${Math.round(report.ok / (report.durationMs / 1000))} req/s`,
        faults: `${BACKENDS} backends SIGKILLed one by one, each down ${downMs / 1000} s`,
        requests: report.sent,
        failed: report.failed,
        lost: report.lost,
        resurrected: 0,
        recoveryMs: slowestRejoin,
        figures: {
          'failed GETs (retried by the gateway)': failedGets,
          'failed POSTs (in flight at a kill)': report.failed - failedGets,
          [`failures more than ${KILL_WINDOW_MS} ms after a kill`]: report.failed - nearKills,
          'restarted backend answering again after ms': rejoinMs
            .map((ms) => (ms === undefined ? 'never' : Math.round(ms)))
            .join(', '),
          'p99 ms': Number(report.p99.toFixed(2)),
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost('idempotent requests failed', failedGets, 0),
          atMost(`failures later than ${KILL_WINDOW_MS} ms after a kill`, report.failed - nearKills, 0),
          atMost('requests lost', report.lost, 0),
          atMost('slowest restarted backend back in rotation', slowestRejoin, REJOIN_LIMIT_MS, ' ms'),
        ],
      }
    } finally {
      await load.stop()
      await gateway.stop()
      await Promise.all(backends.map((backend) => backend.close()))
    }
  },
}
