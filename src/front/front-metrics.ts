import { reportComponentMetrics, type ComponentRegistration, type ComponentValue } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'
import type { NativeFrontStats } from './native-front'

/** What the metrics component reads of a native front. @internal */
export interface MeasuredFront {
  readonly port: number
  stats(): NativeFrontStats
}

/** The native fronts open in this thread; each adds itself when started and leaves on close. @internal */
export const openFronts = new OpenInstances<MeasuredFront>()

type Counter = keyof NativeFrontStats

/** Each metric: its figure of `stats()`, type and help. */
const FIGURES: ReadonlyArray<[string, Counter, 'counter' | 'gauge', string]> = [
  ['connections_total', 'connections', 'counter', 'Client connections accepted.'],
  ['open_connections', 'openConnections', 'gauge', 'Client connections open.'],
  ['hits_total', 'hits', 'counter', 'Requests answered natively from published cache hits.'],
  ['limited_total', 'limited', 'counter', 'Hits refused natively by the rate limit (429).'],
  [
    'process_hits_total',
    'processHits',
    'counter',
    "Requests to the layer's path answered natively from published results.",
  ],
  [
    'process_limited_total',
    'processLimited',
    'counter',
    "Such requests refused natively by the layer's rate limit (429).",
  ],
  ['shed_total', 'shed', 'counter', "Requests refused natively past the gateway's bound on requests in flight (503)."],
  ['relayed_total', 'relayed', 'counter', 'Requests relayed to the gateway.'],
  ['relay_failures_total', 'relayFailures', 'counter', 'Relayed requests the gateway could not be reached for (502).'],
  ['panics_total', 'panics', 'counter', 'Connection tasks that panicked (their connection closed, the front went on).'],
  [
    'in_flight_limit',
    'inFlightLimit',
    'gauge',
    'Relayed requests admitted at once now (0: no bound); below the gateway bound where it follows latency.',
  ],
  ['forms', 'forms', 'gauge', 'Published hits and results held.'],
  ['form_bytes', 'formBytes', 'gauge', 'Bytes of the published hits and results held.'],
]

/**
 * The `front` component of `MetricsCollector`: per native front (labelled by its port), its
 * connections, what it answered itself and what it relayed.
 * @internal
 */
function frontMetrics(): ComponentRegistration {
  return {
    metrics: Object.fromEntries(FIGURES.map(([name, , type, help]) => [name, { type, help, labelNames: ['port'] }])),
    collect: () => {
      const stats = [...openFronts].map((front) => ({ port: front.port, stats: front.stats() }))
      const values: Record<string, ComponentValue> = {}
      for (const [name, figure] of FIGURES) {
        values[name] = stats.map((s) => ({ labels: { port: s.port }, value: s.stats[figure] }))
      }
      return values
    },
  }
}

reportComponentMetrics('front', frontMetrics())
