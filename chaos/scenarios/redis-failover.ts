/**
 * Redis Cluster (3 masters, 3 replicas) losing a master under load, its replica promoted: the gateway's cache and
 * distributed limit carry on, and a durable task queue on the same cluster, with tasks submitted and in flight
 * throughout, completes every task or reports it dead: none is lost. The master killed is the one holding the queue.
 * A Redis limiter deciding throughout, its keys spread over the masters, admits no key past its limit where the key's
 * master lived; where it died, what it had not yet passed to its replica (replication is asynchronous) is counted.
 */
import { DurableTaskQueue, RateLimiter } from 'optlayer'

import { startCluster } from '../../__test__/helpers/redis'
import { cacheMix, Load } from '../load'
import { BackendProcess, GatewayProcess } from '../processes'
import { atLeast, atMost, sleep, type Scenario, type ScenarioResult } from '../scenario'

const SETTLE_LIMIT_MS = 60_000
const TASKS_PER_SECOND = 200
/** Keys of the exactness check, decided in turn one a millisecond throughout, then each up to its limit. */
const LIMITED_KEYS = 16
const KEY_LIMIT = 1_000
const DRAIN_LIMIT_MS = 20_000

type TaskOutcome = 'unsettled' | 'refused' | 'succeeded' | 'failed'

export const redisFailover: Scenario = {
  name: 'redis-failover',
  inTestCommand: false,
  async run({ short }): Promise<ScenarioResult> {
    const afterMs = short ? 3_000 : 10_000
    const cluster = await startCluster()
    const nodes = cluster.startupNodes.map(({ host, port }) => `${host}:${port}`).join(',')
    const backend = await BackendProcess.start()
    const gateway = await GatewayProcess.start({
      REDIS_CLUSTER_NODES: nodes,
      BACKENDS: backend.url,
      RATE_LIMIT_PER_MINUTE: '100000000',
    })
    const executions = new Map<number, number>()
    const queue = new DurableTaskQueue({
      redis: { cluster: cluster.startupNodes },
      name: 'chaos-failover',
      concurrency: 16,
      visibilityTimeoutMs: 2_000,
      pollIntervalMs: 50,
      handlers: {
        work: async (n: number) => {
          executions.set(n, (executions.get(n) ?? 0) + 1)
          await sleep(5)
          return n
        },
      },
    })
    // Denied while Redis cannot answer: every admission counted is one Redis made. A bucket refilling over 100 hours
    // (under 0.1 of a unit in a run), not a window whose boundary a run could cross.
    const limiter = new RateLimiter({
      algorithm: 'token-bucket',
      limit: KEY_LIMIT,
      windowMs: 360_000_000,
      redis: { cluster: cluster.startupNodes },
      name: `chaos-failover-limit-${Date.now()}`,
      fallback: 'fail-closed',
    })
    const admitted = new Map<string, number>()
    let deciding = true
    const decider = (async () => {
      for (let n = 0; deciding; n++) {
        const key = `key-${n % LIMITED_KEYS}`
        void limiter.allow(key).then(
          (decision) => void (decision.allowed && admitted.set(key, (admitted.get(key) ?? 0) + 1)),
          () => {},
        )
        await sleep(1)
      }
    })()
    const load = Load.start({ origin: gateway.origin, callers: 32, next: cacheMix })
    // How each submitted task ended, updated as it settles: a submit the queue refused (the caller is told), a
    // result, a final failure the queue reports, or nothing yet.
    const outcomes: TaskOutcome[] = []
    const settling: Promise<void>[] = []
    let submitting = true
    const submitter = (async () => {
      for (let n = 0; submitting; n++) {
        const i = outcomes.push('unsettled') - 1
        settling.push(
          queue.submit({ name: 'work', args: n, retries: 3 }).then(
            (task) =>
              task.result.then(
                () => void (outcomes[i] = 'succeeded'),
                () => void (outcomes[i] = 'failed'),
              ),
            () => void (outcomes[i] = 'refused'),
          ),
        )
        await sleep(1_000 / TASKS_PER_SECOND)
      }
    })()
    try {
      await sleep(short ? 2_000 : 5_000)
      // The queue's keys share its name as their hash tag: one slot, one master.
      const master = await cluster.nodeForKey('optlayer:q:{chaos-failover}')
      // The limiter's keys that master holds (its slot is the hash tag's, as the limiter stores a key).
      const keys = Array.from({ length: LIMITED_KEYS }, (_, k) => `key-${k}`)
      const onKilled = new Set<string>()
      for (const key of keys) if ((await cluster.nodeForKey(`{${key}}`)).port === master.port) onKilled.add(key)
      const killedAt = load.now()
      await master.kill('SIGKILL')
      await cluster.waitForFailover(master.port)
      const failoverMs = load.now() - killedAt
      await sleep(afterMs)
      submitting = false
      deciding = false
      await Promise.all([submitter, decider])
      const report = await load.stop()
      // Each key taken to its limit: an increment the promoted replica never had is a unit admitted twice.
      const drainUntil = load.now() + DRAIN_LIMIT_MS
      const drained = await Promise.all(
        keys.map(async (key) => {
          while (load.now() < drainUntil) {
            const unanswered = limiter.stats().fallback.failClosed
            if ((await limiter.allow(key)).allowed) admitted.set(key, (admitted.get(key) ?? 0) + 1)
            // Denied by Redis: the key is at its limit. Denied because Redis did not answer: ask again.
            else if (limiter.stats().fallback.failClosed === unanswered) return true
            else await sleep(50)
          }
          return false
        }),
      )
      const over = { surviving: 0, killed: 0 }
      for (const key of keys) {
        const beyond = Math.max(0, (admitted.get(key) ?? 0) - KEY_LIMIT)
        if (onKilled.has(key)) over.killed += beyond
        else over.surviving += beyond
      }
      const limiterStats = limiter.stats()

      // Every accepted task ends within the limit: what has not is lost.
      let deadline: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.all(settling),
        new Promise((resolve) => (deadline = setTimeout(resolve, SETTLE_LIMIT_MS))),
      ])
      clearTimeout(deadline)
      const count = (outcome: TaskOutcome): number => outcomes.filter((o) => o === outcome).length
      const lost = count('unsettled')
      const deadLetters = (await queue.deadLetters()).length
      const duplicates = [...executions.values()].filter((count) => count > 1).length
      return {
        name: this.name,
        load: `32 callers, GET (4 in 5 cacheable), ${Math.round(report.ok / (report.durationMs / 1000))} req/s; ${TASKS_PER_SECOND} durable tasks/s`,
        faults: "SIGKILL of the master holding the queue's keys, replica promoted",
        requests: report.sent,
        failed: report.failed,
        lost,
        resurrected: 0,
        recoveryMs: failoverMs,
        figures: {
          'failover done after ms': Math.round(failoverMs),
          'tasks submitted': outcomes.length,
          'submits refused (the caller was told)': count('refused'),
          'tasks accepted': outcomes.length - count('refused'),
          'tasks succeeded': count('succeeded'),
          'tasks failed for good (reported)': count('failed'),
          'dead letters': deadLetters,
          'tasks run more than once': duplicates,
          'p99 ms': Number(report.p99.toFixed(2)),
          'limiter: decisions by Redis / denied while it could not answer': `${limiterStats.redis.allowed + limiterStats.redis.denied} / ${limiterStats.fallback.failClosed}`,
          'limiter: keys on the killed master': onKilled.size,
          'limiter: admitted past the limit, keys on surviving masters': over.surviving,
          'limiter: admitted past the limit, keys on the killed master (not yet replicated)': over.killed,
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost('gateway requests failed', report.failed, 0),
          atMost('accepted tasks lost (neither done nor reported failed)', lost, 0),
          atLeast('limiter: keys taken to their limit (Redis denying)', drained.filter(Boolean).length, LIMITED_KEYS),
          atMost('limiter: admitted past the limit, keys on surviving masters', over.surviving, 0),
        ],
      }
    } finally {
      submitting = false
      deciding = false
      await load.stop()
      await limiter.close()
      await queue.stop({ drain: false, timeoutMs: 2_000 }).catch(() => {})
      await gateway.stop()
      await backend.close()
      await cluster.stop()
    }
  },
}
