import { reportComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'

/** How one request through a layer ended. */
export type LayerOutcome = 'hit' | 'miss' | 'limited' | 'error' | 'shed'

/** Every {@link LayerOutcome}. */
export const LAYER_OUTCOMES: readonly LayerOutcome[] = Object.freeze(['hit', 'miss', 'limited', 'error', 'shed'])

/** Counters of an {@link OptimizationLayer}: `stats()`. */
export interface LayerStats {
  /**
   * Requests by outcome: `hit` answered without running work for it (cached, or computed for
   * an identical request in flight), `miss` computed for it, `limited` denied by the rate
   * limit, `shed` refused because the queue was full or the layer stopping, `error` any failure.
   */
  requests: Record<LayerOutcome, number>
  /** Requests being processed now. */
  inFlight: number
}

/** What the metrics component reads of a layer. @internal */
export interface MeasuredLayer {
  readonly name: string
  stats(): LayerStats
}

/** The layers open in this thread; each adds itself on construction and leaves when stopped. @internal */
export const openLayers = new OpenInstances<MeasuredLayer>()

/**
 * The `layer` component of `MetricsCollector`: requests by outcome and in flight, per layer.
 * @internal
 */
function layerMetrics(): ComponentRegistration {
  return {
    metrics: {
      requests_total: {
        type: 'counter',
        help: 'Requests through the layer by outcome (hit, miss, limited, error, shed).',
        labelNames: ['layer', 'outcome'],
      },
      in_flight: { type: 'gauge', help: 'Requests being processed.', labelNames: ['layer'] },
    },
    collect: () => {
      const stats = [...openLayers].map((layer) => ({ name: layer.name, ...layer.stats() }))
      return {
        requests_total: stats.flatMap((s) =>
          LAYER_OUTCOMES.map((outcome) => ({ labels: { layer: s.name, outcome }, value: s.requests[outcome] })),
        ),
        in_flight: stats.map((s) => ({ labels: { layer: s.name }, value: s.inFlight })),
      }
    },
  }
}

reportComponentMetrics('layer', layerMetrics())
