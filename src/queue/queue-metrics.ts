import { reportComponentMetrics, type ComponentRegistration, type ComponentValue } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'
import type { DurableTaskQueue, DurableTaskQueueStats } from './durable/durable-task-queue'
import type { TaskQueue } from './task-queue'
import { Priority, type TaskQueueStats } from './types'

/** The in-process queues not yet stopped in this thread; each adds itself on construction. */
export const openTaskQueues = new OpenInstances<TaskQueue>()
/** The durable queues not yet stopped in this thread; each adds itself on construction. */
export const openDurableQueues = new OpenInstances<DurableTaskQueue>()

const LEVELS = Object.keys(Priority) as (keyof typeof Priority)[]

/**
 * The `queue` component of {@link MetricsCollector}: depth per priority, outcomes and
 * retries of every open {@link TaskQueue} and {@link DurableTaskQueue}, labelled by queue
 * name (give the two kinds distinct names); workers and wait/run percentiles of the
 * in-process queues; claimed, delayed and summed wait/run times of the durable ones. Read at
 * scrape time. `optlayer_queue_depth{queue,priority}` feeds the dashboard's depth panel.
 * @internal
 */
function queueMetrics(): ComponentRegistration {
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
      failed_total: counter('Tasks that failed for good, dead-lettered ones included.'),
      cancelled_total: counter('Tasks cancelled, or aborted by stop().'),
      retries_total: counter('Retries scheduled.'),
      dead_letters_total: counter('Tasks moved to the dead-letter queue.'),
      timeouts_total: counter('Attempts that timed out or stalled.'),
      rejected_total: counter('Submissions refused (full; durable: also invalid or Redis away).'),
      delayed: gauge('Durable tasks awaiting a retry.'),
      active: gauge('Durable tasks claimed by a consumer and not finished.'),
      wait_seconds_total: counter('Durable: time the tasks started here waited since submission.'),
      started_total: counter('Durable: tasks started here (the count of wait_seconds_total).'),
      run_seconds_total: counter('Durable: time of the runs that ended here.'),
      runs_total: counter('Durable: runs that ended here (the count of run_seconds_total).'),
      redis_errors_total: counter('Durable: background Redis calls that failed and were retried.'),
    },
    collect: () => {
      const queues = [...openTaskQueues].map((queue) => ({
        name: queue.options.name,
        stats: queue.stats(),
        timings: queue.timings(),
      }))
      const durable = [...openDurableQueues].map((queue) => queue.stats())
      const each = (value: (q: (typeof queues)[number]) => number | null) =>
        queues.map((q) => ({ labels: { queue: q.name }, value: value(q) ?? 0 }))
      const eachDurable = (value: (s: DurableTaskQueueStats) => number): ComponentValue =>
        durable.map((s) => ({ labels: { queue: s.name }, value: value(s) }))
      // The figures both kinds report, under one name.
      const both = (value: (s: TaskQueueStats) => number): ComponentValue => [
        ...queues.map((q) => ({ labels: { queue: q.name }, value: value(q.stats) })),
        ...durable.map((s) => ({ labels: { queue: s.name }, value: value(s) })),
      ]
      return {
        depth: [...queues.map((q) => ({ name: q.name, depth: q.stats.depth })), ...durable].flatMap((q) =>
          LEVELS.map((priority) => ({ labels: { queue: q.name, priority }, value: q.depth[priority] })),
        ),
        running: both((s) => s.running),
        workers: each((q) => q.stats.workers),
        wait_p50_seconds: each((q) => q.timings.wait.p50Ms && q.timings.wait.p50Ms / 1000),
        wait_p99_seconds: each((q) => q.timings.wait.p99Ms && q.timings.wait.p99Ms / 1000),
        run_p50_seconds: each((q) => q.timings.run.p50Ms && q.timings.run.p50Ms / 1000),
        run_p99_seconds: each((q) => q.timings.run.p99Ms && q.timings.run.p99Ms / 1000),
        submitted_total: both((s) => s.submitted),
        succeeded_total: both((s) => s.succeeded),
        failed_total: both((s) => s.failed),
        cancelled_total: both((s) => s.cancelled),
        retries_total: both((s) => s.retried),
        dead_letters_total: both((s) => s.deadLettered),
        timeouts_total: both((s) => s.timedOut),
        rejected_total: both((s) => s.rejected),
        delayed: eachDurable((s) => s.delayed),
        active: eachDurable((s) => s.active),
        wait_seconds_total: eachDurable((s) => s.waitSeconds),
        started_total: eachDurable((s) => s.started),
        run_seconds_total: eachDurable((s) => s.runSeconds),
        runs_total: eachDurable((s) => s.runs),
        redis_errors_total: eachDurable((s) => s.redisErrors),
      }
    },
  }
}

reportComponentMetrics('queue', queueMetrics())
