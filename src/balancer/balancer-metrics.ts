import { reportComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'
import type { LoadBalancer } from './load-balancer'

/** The balancers open in this thread; each adds itself on construction and leaves on close. */
export const openBalancers = new OpenInstances<LoadBalancer>()

const byBackend = ['balancer', 'backend']

/**
 * The `balancer` component of {@link MetricsCollector}: per-backend health, load and
 * outcomes of every open {@link LoadBalancer}, read at scrape time. `backend_healthy` is 1
 * for a backend that takes picks now (the dashboard's backend-health panel reads it).
 * @internal
 */
function balancerMetrics(): ComponentRegistration {
  const gauge = (help: string) => ({ type: 'gauge' as const, help, labelNames: byBackend })
  const counter = (help: string) => ({ type: 'counter' as const, help, labelNames: byBackend })
  return {
    metrics: {
      backend_healthy: gauge('1 when the backend takes picks now, else 0.'),
      backend_outstanding: gauge('Picks not yet released.'),
      backend_latency_ewma_seconds: gauge('Time-weighted EWMA of the reported latencies.'),
      backend_requests_total: counter('Picks of the backend.'),
      backend_failures_total: counter('Releases with ok: false.'),
      backend_ejections_total: counter('Times outlier detection ejected the backend.'),
      no_backend_total: { type: 'counter', help: 'Picks that found no backend.', labelNames: ['balancer'] },
      panic: { type: 'gauge', help: '1 while panic mode uses every backend.', labelNames: ['balancer'] },
    },
    collect: () => {
      const balancers = [...openBalancers].map((lb) => ({ name: lb.name, stats: lb.stats() }))
      const backends = balancers.flatMap(({ name, stats }) => stats.backends.map((b) => ({ name, b })))
      const each = (value: (b: (typeof backends)[number]['b']) => number) =>
        backends.map(({ name, b }) => ({ labels: { balancer: name, backend: b.id }, value: value(b) }))
      return {
        backend_healthy: each((b) => (b.available ? 1 : 0)),
        backend_outstanding: each((b) => b.outstanding),
        backend_latency_ewma_seconds: each((b) => b.latencyEwmaMs / 1000),
        backend_requests_total: each((b) => b.requests),
        backend_failures_total: each((b) => b.failures),
        backend_ejections_total: each((b) => b.ejections),
        no_backend_total: balancers.map(({ name, stats }) => ({ labels: { balancer: name }, value: stats.noBackend })),
        panic: balancers.map(({ name, stats }) => ({ labels: { balancer: name }, value: stats.panic ? 1 : 0 })),
      }
    },
  }
}

reportComponentMetrics('balancer', balancerMetrics())
