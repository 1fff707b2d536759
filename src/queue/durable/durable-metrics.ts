import type { ComponentRegistration, ComponentValue } from '../../monitoring/components'
import { DurableTaskQueue, type DurableTaskQueueStats } from './durable-task-queue'

/**
 * The durable queues' metrics for {@link MetricsCollector.registerComponent} under `queue`:
 * `optlayer_queue_depth{queue, priority}` (the dashboard's queue-depth panel reads it) and
 * the outcomes, retries, dead letters, wait and run times of every open
 * {@link DurableTaskQueue}, labelled `queue` = its name so that they do not clash with the
 * in-process queue's series. Read at scrape time.
 */
export function durableQueueMetrics(): ComponentRegistration {
  const byQueue = ['queue']
  const counter = (help: string) => ({ type: 'counter' as const, help, labelNames: byQueue })
  const gauge = (help: string) => ({ type: 'gauge' as const, help, labelNames: byQueue })
  return {
    metrics: {
      depth: { type: 'gauge', help: 'Tasks waiting, by priority.', labelNames: ['queue', 'priority'] },
      delayed: gauge('Tasks awaiting a retry.'),
      active: gauge('Tasks claimed by a consumer and not finished.'),
      running: gauge('Tasks running in this process.'),
      submitted_total: counter('Tasks accepted from this process.'),
      rejected_total: counter('Submits refused (full, invalid, Redis unavailable).'),
      succeeded_total: counter('Tasks that succeeded here.'),
      failed_total: counter('Tasks that failed for good here (dead letters included).'),
      cancelled_total: counter('Tasks cancelled.'),
      retries_total: counter('Failed attempts scheduled for a retry.'),
      dead_letters_total: counter('Tasks moved to the dead-letter set.'),
      timeouts_total: counter('Attempts that ran past their timeoutMs.'),
      wait_seconds_total: counter('Time tasks started here waited since submission.'),
      started_total: counter('Tasks started here (the count of wait_seconds_total).'),
      run_seconds_total: counter('Time of the runs that ended here.'),
      runs_total: counter('Runs that ended here (the count of run_seconds_total).'),
      redis_errors_total: counter('Background Redis calls that failed and were retried.'),
    },
    collect: () => {
      const stats = [...DurableTaskQueue.open()].map((queue) => queue.stats())
      const each = (value: (s: DurableTaskQueueStats) => number): ComponentValue =>
        stats.map((s) => ({ labels: { queue: s.name }, value: value(s) }))
      return {
        depth: stats.flatMap((s) =>
          Object.entries(s.depth).map(([priority, value]) => ({ labels: { queue: s.name, priority }, value })),
        ),
        delayed: each((s) => s.delayed),
        active: each((s) => s.active),
        running: each((s) => s.running),
        submitted_total: each((s) => s.submitted),
        rejected_total: each((s) => s.rejected),
        succeeded_total: each((s) => s.succeeded),
        failed_total: each((s) => s.failed),
        cancelled_total: each((s) => s.cancelled),
        retries_total: each((s) => s.retried),
        dead_letters_total: each((s) => s.deadLettered),
        timeouts_total: each((s) => s.timedOut),
        wait_seconds_total: each((s) => s.waitSeconds),
        started_total: each((s) => s.started),
        run_seconds_total: each((s) => s.runSeconds),
        runs_total: each((s) => s.runs),
        redis_errors_total: each((s) => s.redisErrors),
      }
    },
  }
}
