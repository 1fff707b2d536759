/**
 * The gateway's own processes stopped under load. With `WORKERS=2`, one worker SIGKILLed: only the requests in flight
 * on it may fail, the other worker carries the load, and the primary starts a replacement. Then SIGTERM to the
 * primary: every request already in flight is answered, and the fleet exits cleanly.
 */
import { Load, type LoadRequest, type Outcome } from '../load'
import { BackendProcess, GatewayProcess } from '../processes'
import { atMost, sleep, timeUntil, type Scenario, type ScenarioResult } from '../scenario'

/** Each answer is held this long, so requests are in flight when a process goes. */
const BACKEND_DELAY_MS = 50
const REPLACEMENT_LIMIT_MS = 5_000
/** Failures later than this after the kill are not explained by requests in flight on the killed worker. */
const KILL_WINDOW_MS = 1_000

function request(n: number): LoadRequest {
  return n % 4 === 3
    ? { method: 'POST', path: '/order', headers: { 'content-type': 'application/json' }, body: `{"order":${n}}` }
    : { method: 'GET', path: `/fresh/${n % 1000}` }
}

/** Requests of a load that were in flight at a moment, by how they ended. */
class InFlightAt {
  readonly outcomes: Record<Outcome, number> = { ok: 0, shed: 0, limited: 0, failed: 0 }
  at = Infinity

  observe(sentMs: number, settledMs: number, outcome: Outcome): void {
    if (sentMs < this.at && settledMs > this.at) this.outcomes[outcome]++
  }

  get total(): number {
    return this.outcomes.ok + this.outcomes.shed + this.outcomes.limited + this.outcomes.failed
  }
}

export const gatewayRestarts: Scenario = {
  name: 'gateway-restarts',
  inTestCommand: false,
  async run({ short }): Promise<ScenarioResult> {
    const settleMs = short ? 2_000 : 5_000
    const backends = await Promise.all([BackendProcess.start({ CHAOS_DELAY_MS: String(BACKEND_DELAY_MS) })])
    const gateway = await GatewayProcess.start({ BACKENDS: backends.map((b) => b.url).join(','), WORKERS: '2' })
    await gateway.waitForLine(/2 workers listening on port/)
    const atKill = new InFlightAt()
    const atTerm = new InFlightAt()
    const load = Load.start({
      origin: gateway.origin,
      callers: 32,
      next: request,
      observe: (sent, settled, outcome) => {
        atKill.observe(sent, settled, outcome)
        atTerm.observe(sent, settled, outcome)
      },
    })
    try {
      await sleep(settleMs)
      const workers = gateway.matches(/listening on \S+ \(worker (\d+), pid (\d+)\)/)
      const victim = Number(workers[0]?.[2])
      atKill.at = load.now()
      process.kill(victim, 'SIGKILL')
      const replacedMs = await timeUntil(
        () => gateway.matches(/listening on \S+ \(worker (\d+), pid (\d+)\)/).length > workers.length,
        REPLACEMENT_LIMIT_MS,
      )
      await sleep(settleMs)
      const failedAfterKill = load.countBetween('failed', atKill.at + KILL_WINDOW_MS, load.now())
      const failedNearKill = load.countBetween('failed', atKill.at, atKill.at + KILL_WINDOW_MS)

      atTerm.at = load.now()
      const exitCode = await gateway.stop('SIGTERM', 20_000)
      const exitMs = load.now() - atTerm.at
      const report = await load.stop()
      return {
        name: this.name,
        load: `32 callers, GET and POST (1 in 4), backend answers in ${BACKEND_DELAY_MS} ms, ${Math.round(report.ok / (atTerm.at / 1000))} req/s`,
        faults: 'WORKERS=2: one worker SIGKILLed, then SIGTERM to the primary',
        requests: report.sent,
        failed: failedNearKill + failedAfterKill + atTerm.outcomes.failed,
        lost: report.lost,
        resurrected: 0,
        recoveryMs: replacedMs,
        figures: {
          'in flight at the kill': atKill.total,
          'failed within 1 s of the kill': failedNearKill,
          'failed later (before SIGTERM)': failedAfterKill,
          'replacement worker listening after ms': replacedMs === undefined ? 'never' : Math.round(replacedMs),
          'in flight at SIGTERM': atTerm.total,
          'in flight at SIGTERM and answered': atTerm.outcomes.ok,
          'gateway exit code': String(exitCode),
          'gateway exited after SIGTERM, ms': Math.round(exitMs),
        },
        checks: [
          atMost('failures within 1 s of the kill (at most the requests then in flight)', failedNearKill, atKill.total),
          atMost(`failures later than ${KILL_WINDOW_MS} ms after the kill`, failedAfterKill, 0),
          atMost('replacement worker listening', replacedMs, REPLACEMENT_LIMIT_MS, ' ms'),
          atMost('requests in flight at SIGTERM not answered', atTerm.total - atTerm.outcomes.ok, 0),
          { what: 'the fleet exits cleanly after SIGTERM', ok: exitCode === 0, detail: `exit code ${exitCode}` },
          atMost('requests lost', report.lost, 0),
        ],
      }
    } finally {
      await load.stop()
      await gateway.stop()
      await Promise.all(backends.map((backend) => backend.close()))
    }
  },
}
