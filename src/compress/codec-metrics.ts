import type { ComponentRegistration } from '../core/component-registry'
import { codecStats, type CodecCounters } from './codec-stats'

const byCall = ['operation', 'algorithm']

/**
 * The `codec` component of `MetricsCollector`: calls, bytes and time by direction and
 * algorithm (plain counters on the hot path, read at scrape time), and the jobs on the libuv
 * pool that `load` reports.
 * @internal
 */
export function codecMetrics(load: () => { active: number; waiting: number }): ComponentRegistration {
  const counter = (help: string) => ({ type: 'counter' as const, help, labelNames: byCall })
  const byField = (field: keyof CodecCounters) =>
    Object.entries(codecStats()).flatMap(([operation, byAlgorithm]) =>
      Object.entries(byAlgorithm).map(([algorithm, counters]) => ({
        labels: { operation, algorithm },
        value: counters[field],
      })),
    )
  return {
    metrics: {
      calls_total: counter('Codec calls that succeeded.'),
      bytes_in_total: counter('Bytes given to codecs.'),
      bytes_out_total: counter('Bytes produced by codecs; out/in is the ratio.'),
      seconds_total: counter('Time spent in codecs (small synchronous calls sampled).'),
      async_jobs: {
        type: 'gauge',
        help: 'Codec jobs on the thread pool (state="active") and waiting for a slot (state="waiting").',
        labelNames: ['state'],
      },
    },
    collect: () => {
      const { active, waiting } = load()
      return {
        calls_total: byField('calls'),
        bytes_in_total: byField('bytesIn'),
        bytes_out_total: byField('bytesOut'),
        seconds_total: byField('seconds'),
        async_jobs: [
          { labels: { state: 'active' }, value: active },
          { labels: { state: 'waiting' }, value: waiting },
        ],
      }
    },
  }
}
