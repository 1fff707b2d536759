import type { ComponentRegistration } from '../monitoring/components'
import { TaskQueue } from './task-queue'
import { Priority } from './types'

const LEVELS = Object.keys(Priority) as (keyof typeof Priority)[]

/**
 * The `queue` component of {@link MetricsCollector}: depth per priority, workers, outcomes
 * and wait/run time percentiles of every open {@link TaskQueue}, labelled by queue name,
 * read at scrape time. `optlayer_queue_depth{queue,priority}` feeds the dashboard's depth panel.
 * @internal
 */
export function queueMetrics(): ComponentRegistration {
  const byQueue = ['queue']
  const gauge = (help: string) => ({ type: 'gauge' as const, help, labelNames: byQueue })
  const counter = (help: string) => ({ type: 'counter' as const, help, labelNames: byQueue })
  return {
    metrics: {
      depth: { type: 'gauge', help: 'Tasks pending, by priority.', labelNames: ['queue', 'priority'] },
      running: gauge('Tasks running.'),
      workers: gauge('Workers (concurrent slots, or threads in worker-thread mode).'),
      wait_p50_seconds: gauge('Median time tasks waited for a worker.'),
      wait_p99_seconds: gauge('99th percentile of the time tasks waited for a worker.'),
      run_p50_seconds: gauge('Median run time of an attempt.'),
      run_p99_seconds: gauge('99th percentile of the run time of an attempt.'),
      submitted_total: counter('Tasks accepted.'),
      succeeded_total: counter('Tasks that succeeded.'),
      failed_total: counter('Tasks that failed for good (no dead-letter queue).'),
      cancelled_total: counter('Tasks cancelled, or aborted by stop().'),
      retries_total: counter('Retries scheduled.'),
      dead_letters_total: counter('Tasks moved to the dead-letter queue.'),
      timeouts_total: counter('Attempts that timed out or stalled.'),
      rejected_total: counter('Submissions refused because the queue was full.'),
    },
    collect: () => {
      const queues = [...TaskQueue.open()].map((queue) => ({
        name: queue.options.name,
        stats: queue.stats(),
        timings: queue.timings(),
      }))
      const each = (value: (q: (typeof queues)[number]) => number | null) =>
        queues.map((q) => ({ labels: { queue: q.name }, value: value(q) ?? 0 }))
      return {
        depth: queues.flatMap((q) =>
          LEVELS.map((priority) => ({ labels: { queue: q.name, priority }, value: q.stats.depth[priority] })),
        ),
        running: each((q) => q.stats.running),
        workers: each((q) => q.stats.workers),
        wait_p50_seconds: each((q) => q.timings.wait.p50Ms && q.timings.wait.p50Ms / 1000),
        wait_p99_seconds: each((q) => q.timings.wait.p99Ms && q.timings.wait.p99Ms / 1000),
        run_p50_seconds: each((q) => q.timings.run.p50Ms && q.timings.run.p50Ms / 1000),
        run_p99_seconds: each((q) => q.timings.run.p99Ms && q.timings.run.p99Ms / 1000),
        submitted_total: each((q) => q.stats.submitted),
        succeeded_total: each((q) => q.stats.succeeded),
        failed_total: each((q) => q.stats.failed),
        cancelled_total: each((q) => q.stats.cancelled),
        retries_total: each((q) => q.stats.retried),
        dead_letters_total: each((q) => q.stats.deadLettered),
        timeouts_total: each((q) => q.stats.timedOut),
        rejected_total: each((q) => q.stats.rejected),
      }
    },
  }
}
