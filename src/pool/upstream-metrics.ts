import { reportComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'
import type { HttpUpstreamStats } from './http-upstream'

/** The HTTP upstreams open in this thread; each adds itself on construction and leaves on close. @internal */
export const openUpstreams = new OpenInstances<{ stats(): HttpUpstreamStats }>()

/** The figures of `stats()` that are counts. */
type Count = {
  [K in keyof HttpUpstreamStats]: HttpUpstreamStats[K] extends number ? K : never
}[keyof HttpUpstreamStats]

/** Each summed figure: its metric, the field of `stats()`, type and help. */
const SUMS: ReadonlyArray<[string, Count, 'gauge' | 'counter', string]> = [
  ['connections', 'connected', 'gauge', 'Open connections to the origin.'],
  ['idle_connections', 'free', 'gauge', 'Open connections without a request in flight.'],
  ['running', 'running', 'gauge', 'Requests sent or waiting for their response.'],
  ['queued', 'queued', 'gauge', 'Requests waiting for a connection.'],
  ['requests_total', 'requests', 'counter', 'Requests started.'],
  ['failures_total', 'failures', 'counter', 'Requests that failed: connection errors, timeouts, aborts.'],
]

/**
 * The `upstream` component of `MetricsCollector`: the connections and requests of every open
 * `HttpUpstream` (the gateway's backends, the layer's), labelled by origin and read at scrape
 * time. Two upstreams of one origin (the gateway's and the layer's pools to one backend) are
 * summed, their p99 the larger: one series per origin.
 * @internal
 */
function upstreamMetrics(): ComponentRegistration {
  const byOrigin = { labelNames: ['origin'] }
  return {
    metrics: {
      ...Object.fromEntries(SUMS.map(([name, , type, help]) => [name, { type, help, ...byOrigin }])),
      headers_latency_p99_seconds: {
        type: 'gauge',
        help: 'The 99th percentile of the time to response headers.',
        ...byOrigin,
      },
    },
    collect: () => {
      const origins = new Map<string, { sums: number[]; p99Ms: number }>()
      for (const upstream of openUpstreams) {
        const stats = upstream.stats()
        const seen = origins.get(stats.origin) ?? { sums: SUMS.map(() => 0), p99Ms: 0 }
        SUMS.forEach(([, field], i) => (seen.sums[i] = (seen.sums[i] as number) + stats[field]))
        seen.p99Ms = Math.max(seen.p99Ms, stats.headersLatencyMs.p99)
        origins.set(stats.origin, seen)
      }
      const series = (value: (s: { sums: number[]; p99Ms: number }) => number) =>
        [...origins].map(([origin, s]) => ({ labels: { origin }, value: value(s) }))
      return {
        ...Object.fromEntries(SUMS.map(([name], i) => [name, series((s) => s.sums[i] as number)])),
        headers_latency_p99_seconds: series((s) => s.p99Ms / 1000),
      }
    },
  }
}

reportComponentMetrics('upstream', upstreamMetrics())
