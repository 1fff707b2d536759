import { reportComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'
import type { PoolStats } from './connection-pool'

/** The pools open in this thread; each adds itself on construction and leaves on close. */
export const openPools = new OpenInstances<{ stats(): PoolStats }>()

const byPool = ['pool']

/**
 * The `pool` component of {@link MetricsCollector}: usage and outcomes of every open
 * {@link ConnectionPool}, labelled by pool name, read at scrape time.
 * @internal
 */
function poolMetrics(): ComponentRegistration {
  const gauge = (help: string) => ({ type: 'gauge' as const, help, labelNames: byPool })
  const counter = (help: string) => ({ type: 'counter' as const, help, labelNames: byPool })
  return {
    metrics: {
      active: gauge('Resources borrowed.'),
      idle: gauge('Resources idle, ready to lend.'),
      waiting: gauge('Callers waiting in acquire().'),
      pending_creations: gauge('Creations in flight.'),
      acquire_latency_p99_seconds: gauge('99th percentile of the time acquire() took.'),
      acquires_total: counter('Resources lent.'),
      timeouts_total: counter('Acquires that timed out.'),
      creations_total: counter('Resources created.'),
      create_failures_total: counter('create() failures and timeouts.'),
      destructions_total: counter('Resources destroyed.'),
      validation_failures_total: counter('Validations that failed.'),
      leaks_total: counter('Resources held past leakDetectionMs.'),
    },
    collect: () => {
      const stats = [...openPools].map((pool) => pool.stats())
      const each = (value: (s: (typeof stats)[number]) => number) =>
        stats.map((s) => ({ labels: { pool: s.name }, value: value(s) }))
      return {
        active: each((s) => s.active),
        idle: each((s) => s.idle),
        waiting: each((s) => s.waiting),
        pending_creations: each((s) => s.pending),
        acquire_latency_p99_seconds: each((s) => s.acquireLatencyMs.p99 / 1000),
        acquires_total: each((s) => s.acquires),
        timeouts_total: each((s) => s.timeouts),
        creations_total: each((s) => s.creations),
        create_failures_total: each((s) => s.createFailures),
        destructions_total: each((s) => s.destructions),
        validation_failures_total: each((s) => s.validationFailures),
        leaks_total: each((s) => s.leaks),
      }
    },
  }
}

reportComponentMetrics('pool', poolMetrics())
