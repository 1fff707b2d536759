/**
 * Redis Cluster (3 masters, 3 replicas) losing a master under load, its replica promoted: the gateway's cache and
 * distributed limit carry on, and a durable task queue on the same cluster, with tasks submitted and in flight
 * throughout, completes every task or reports it dead: none is lost. The master killed is the one holding the queue.
 */
import { DurableTaskQueue, type TaskHandle } from 'optlayer'

import { startCluster } from '../../__test__/helpers/redis'
import { cacheMix, Load } from '../load'
import { BackendProcess, GatewayProcess } from '../processes'
import { atMost, sleep, type Scenario, type ScenarioResult } from '../scenario'

const SETTLE_LIMIT_MS = 60_000
const TASKS_PER_SECOND = 200

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
    const load = Load.start({ origin: gateway.origin, callers: 32, next: cacheMix })
    const handles: { n: number; handle: Promise<TaskHandle | undefined> }[] = []
    let submitting = true
    let refusedSubmits = 0
    const submitter = (async () => {
      for (let n = 0; submitting; n++) {
        const handle = queue.submit({ name: 'work', args: n, retries: 3 }).catch(() => {
          refusedSubmits++
          return undefined
        })
        handles.push({ n, handle })
        await sleep(1_000 / TASKS_PER_SECOND)
      }
    })()
    try {
      await sleep(short ? 2_000 : 5_000)
      // The queue's keys share its name as their hash tag: one slot, one master.
      const master = await cluster.nodeForKey('optlayer:q:{chaos-failover}')
      const killedAt = load.now()
      await master.kill('SIGKILL')
      await cluster.waitForFailover(master.port)
      const failoverMs = load.now() - killedAt
      await sleep(afterMs)
      submitting = false
      await submitter
      const report = await load.stop()

      // Every accepted task ends: a result, or a final failure the queue reports.
      let succeeded = 0
      let failedTasks = 0
      let accepted = 0
      const outcomes = await Promise.all(
        handles.map(async ({ handle }) => {
          const accepted = await handle
          if (accepted === undefined) return 'refused'
          return Promise.race([
            accepted.result.then(
              () => 'succeeded',
              () => 'failed',
            ),
            sleep(SETTLE_LIMIT_MS).then(() => 'unsettled'),
          ])
        }),
      )
      for (const outcome of outcomes) {
        if (outcome === 'succeeded') succeeded++
        if (outcome === 'failed') failedTasks++
        if (outcome !== 'refused') accepted++
      }
      const lost = outcomes.filter((outcome) => outcome === 'unsettled').length
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
          'tasks submitted': handles.length,
          'submits refused (the caller was told)': refusedSubmits,
          'tasks accepted': accepted,
          'tasks succeeded': succeeded,
          'tasks failed for good (reported)': failedTasks,
          'dead letters': deadLetters,
          'tasks run more than once': duplicates,
          'p99 ms': Number(report.p99.toFixed(2)),
          ...Object.fromEntries(Object.entries(report.failures).map(([why, count]) => [`failed: ${why}`, count])),
        },
        checks: [
          atMost('gateway requests failed', report.failed, 0),
          atMost('accepted tasks lost (neither done nor reported failed)', lost, 0),
        ],
      }
    } finally {
      submitting = false
      await load.stop()
      await queue.stop({ drain: false, timeoutMs: 2_000 }).catch(() => {})
      await gateway.stop()
      await backend.close()
      await cluster.stop()
    }
  },
}
