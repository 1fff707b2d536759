/**
 * Overload: twice the gateway's measured maximum, sent open-loop (arrivals do not wait for answers, as many clients
 * do not). Past its in-flight limit the gateway must answer the excess at once with 503 and `Retry-After` rather than
 * queue it, so the requests it admits keep their latency (measured by a latency probe in a process of its own, at half
 * the maximum and in the surge); once the surge ends, full throughput must return quickly.
 */
import { Load, type LoadRequest } from '../load'
import { BackendProcess, GatewayProcess, ProbeProcess } from '../processes'
import { atLeast, atMost, sleep, type Scenario, type ScenarioResult } from '../scenario'

/**
 * The gateway's bound on requests in flight. Saturated, every admitted request waits behind the others in flight, so
 * the bound sets the admitted latency: bound / throughput on average (Little's law), 12 / 7k req/s = 1.7 ms here.
 * Measured in short runs: at 64 the admitted p99 was 8x the figure at half load, at 24 and 16 about 2x, at 12
 * 1.2-1.4x with the surge still served at 80% of the maximum, at 8 1.1-1.5x but at 55-70%.
 */
const MAX_IN_FLIGHT = 12
/** Connections the surge arrives on: well past the in-flight limit, so the gateway (not the client) must refuse. */
const SURGE_CONNECTIONS = 512
const RECOVERY_LIMIT_MS = 10_000

/** The gateway's own p99 (ms) of its recent served requests: its summary, over its sliding window. */
function gatewayP99(samples: Map<string, number>): number {
  for (const [series, value] of samples) {
    if (series.startsWith('optlayer_request_duration_seconds{') && series.includes('quantile="0.99"')) {
      if (series.includes('outcome="ok"')) return value * 1000
    }
  }
  return NaN
}

function request(n: number): LoadRequest {
  return { method: 'GET', path: `/fresh/${n % 1000}` }
}

export const overload: Scenario = {
  name: 'overload',
  inTestCommand: false,
  async run({ short }): Promise<ScenarioResult> {
    const phaseMs = short ? 3_000 : 10_000
    const surgeMs = short ? 5_000 : 60_000
    const backends = await Promise.all([BackendProcess.start(), BackendProcess.start()])
    const gateway = await GatewayProcess.start({
      BACKENDS: backends.map((backend) => backend.url).join(','),
      GATEWAY_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
      // The native front refuses the excess before it reaches the event loop; on node:http alone each refusal
      // still costs a parse and a write there, and at twice the maximum those took the admitted requests' time.
      NATIVE_FRONT: '1',
    })
    const loads: Load[] = []
    // Admitted latency as a client outside the load sees it: the load generators share the cores, and at twice the
    // maximum the surge's own event loop falls behind reading its answers.
    const probe = await ProbeProcess.start(gateway.origin, '/fresh/0')
    const run = async (options: Omit<Parameters<typeof Load.start>[0], 'origin' | 'next'>, ms: number) => {
      await probe.window()
      const load = Load.start({ origin: gateway.origin, next: request, ...options })
      loads.push(load)
      await sleep(ms)
      const probed = await probe.window()
      const ownP99 = gatewayP99(await gateway.metrics())
      return { load, ownP99, probed, report: await load.stop() }
    }
    try {
      // Warmed up first (compiled code, pools filled): a cold gateway's maximum halves the surge.
      await run({ callers: MAX_IN_FLIGHT }, phaseMs / 2)
      // The maximum: closed loop with as many callers as the gateway admits.
      const max = await run({ callers: MAX_IN_FLIGHT }, phaseMs)
      const maxRate = max.report.ok / (max.report.durationMs / 1000)
      const calm = await run({ ratePerSecond: maxRate / 2, connections: 64 }, phaseMs)
      const surge = await run({ ratePerSecond: maxRate * 2, connections: SURGE_CONNECTIONS }, surgeMs)
      const after = Load.start({ origin: gateway.origin, next: request, callers: MAX_IN_FLIGHT })
      loads.push(after)
      await sleep(Math.min(RECOVERY_LIMIT_MS + 2_000, phaseMs * 2))
      const recoveredMs = after.firstFullSecond(maxRate * 0.8)
      const afterReport = await after.stop()
      const afterRate = afterReport.ok / (afterReport.durationMs / 1000)

      const s = surge.report
      const offered = s.sent + s.skipped
      return {
        name: this.name,
        load: `maximum ${Math.round(maxRate)} req/s (closed loop, ${MAX_IN_FLIGHT} callers); surge ${Math.round(maxRate * 2)} req/s open loop on ${SURGE_CONNECTIONS} connections`,
        faults: `2x the maximum for ${surgeMs / 1000} s, GATEWAY_MAX_IN_FLIGHT=${MAX_IN_FLIGHT}`,
        requests: max.report.sent + calm.report.sent + s.sent + afterReport.sent,
        failed: max.report.failed + calm.report.failed + s.failed + afterReport.failed,
        lost: max.report.lost + calm.report.lost + s.lost + afterReport.lost,
        resurrected: 0,
        recoveryMs: recoveredMs,
        figures: {
          'maximum req/s': Math.round(maxRate),
          'p99 ms at half the maximum, latency probe': Number(calm.probed.p99.toFixed(2)),
          'p99 ms at half the maximum, its clients': Number(calm.report.p99.toFixed(2)),
          "p99 ms at half the maximum, the gateway's own": Number(calm.ownP99.toFixed(2)),
          'surge: offered': offered,
          'surge: served': s.ok,
          'surge: shed (503 + Retry-After)': s.shed,
          'surge: served req/s': Math.round(s.ok / (s.durationMs / 1000)),
          'surge: admitted p99 ms, latency probe': Number(surge.probed.p99.toFixed(2)),
          'surge: latency probe requests served / shed': `${surge.probed.ok} / ${surge.probed.shed}`,
          'surge: admitted p50 ms, its clients': Number(s.p50.toFixed(2)),
          'surge: admitted p99 ms, its clients': Number(s.p99.toFixed(2)),
          "surge: admitted p99 ms, the gateway's own": Number(surge.ownP99.toFixed(2)),
          'surge: not sent (client past 20,000 outstanding)': s.skipped,
          'after: req/s': Math.round(afterRate),
          ...Object.fromEntries(Object.entries(s.failures).map(([why, count]) => [`surge failed: ${why}`, count])),
        },
        checks: [
          atMost('surge: requests failed other than shed', s.failed, 0),
          atLeast('surge: share of the excess shed early', s.shed / Math.max(1, offered - s.ok), 0.9),
          atMost(
            'surge: admitted p99 over the p99 at half load (latency probe)',
            surge.probed.p99 / Math.max(calm.probed.p99, 0.001),
            2,
            'x',
          ),
          atMost('latency probe requests failed', surge.probed.failed + calm.probed.failed, 0),
          atLeast(
            'latency probe requests served, fewer of half load and surge',
            Math.min(calm.probed.ok, surge.probed.ok),
            100,
          ),
          atMost('full throughput back after the surge', recoveredMs, RECOVERY_LIMIT_MS, ' ms'),
        ],
      }
    } finally {
      await Promise.all(loads.map((load) => load.stop()))
      await probe.close()
      await gateway.stop()
      await Promise.all(backends.map((backend) => backend.close()))
    }
  },
}
