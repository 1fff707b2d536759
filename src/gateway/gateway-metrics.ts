import { reportComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { OpenInstances } from '../core/open-instances'

/**
 * How one request through a gateway ended:
 * - `hit`, `stale`: answered from the cache (`stale` past its freshness, within `stale-*` allowances);
 * - `miss`: forwarded, the cache consulted first;
 * - `bypass`: forwarded without the cache (no cache, or a method or request it does not serve);
 * - `shed`: refused at once, over `maxInFlight` or closing (503);
 * - `limited`: refused by the rate limit (429);
 * - `error`: the gateway answered an error itself (502, 504, 500, or 503 when the rate limiter
 *   failed), the backend cut the body, or the client left before any response.
 */
export type GatewayOutcome = 'hit' | 'miss' | 'stale' | 'bypass' | 'shed' | 'limited' | 'error'

/** Every {@link GatewayOutcome}. */
export const GATEWAY_OUTCOMES: readonly GatewayOutcome[] = Object.freeze([
  'hit',
  'miss',
  'stale',
  'bypass',
  'shed',
  'limited',
  'error',
])

/** Status classes of backend responses. */
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx'

const STATUS_CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx']

/** The class of an HTTP status. */
export function statusClass(status: number): StatusClass {
  return STATUS_CLASSES[Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1] as StatusClass
}

/** Request latency of a gateway, from the request's arrival to its response's end, in ms. */
export interface GatewayLatency {
  /** Requests timed. */
  count: number
  /** Median. */
  p50: number
  /** 90th percentile. */
  p90: number
  /** 99th percentile. */
  p99: number
  /** Longest. */
  max: number
}

/** Counters of a {@link Gateway}: `stats()`. */
export interface GatewayStats {
  /** Requests by outcome (probes not counted). */
  requests: Record<GatewayOutcome, number>
  /** Backend responses by status class. */
  upstreamResponses: Record<StatusClass, number>
  /** Requests admitted and not finished. */
  inFlight: number
  /** Request latency. */
  latencyMs: GatewayLatency
}

/** What the metrics component reads of a gateway. @internal */
export interface MeasuredGateway {
  readonly name: string
  stats(): GatewayStats
}

/** The gateways open in this thread; each adds itself on construction and leaves on close. @internal */
export const openGateways = new OpenInstances<MeasuredGateway>()

/**
 * The `gateway` component of `MetricsCollector`: requests by outcome, backend responses by
 * status class, requests in flight and latency quantiles, per gateway.
 * @internal
 */
function gatewayMetrics(): ComponentRegistration {
  return {
    metrics: {
      requests_total: {
        type: 'counter',
        help: 'Requests through the gateway by outcome (hit, miss, stale, bypass, shed, limited, error).',
        labelNames: ['gateway', 'outcome'],
      },
      upstream_responses_total: {
        type: 'counter',
        help: 'Backend responses by status class.',
        labelNames: ['gateway', 'class'],
      },
      in_flight: { type: 'gauge', help: 'Requests being served.', labelNames: ['gateway'] },
      latency_seconds: {
        type: 'gauge',
        help: 'Request latency quantiles (0.5, 0.9, 0.99, 1 = max) since the gateway opened.',
        labelNames: ['gateway', 'quantile'],
      },
      latency_seconds_count: { type: 'counter', help: 'Requests timed.', labelNames: ['gateway'] },
    },
    collect: () => {
      const stats = [...openGateways].map((gateway) => ({ name: gateway.name, ...gateway.stats() }))
      return {
        requests_total: stats.flatMap((s) =>
          GATEWAY_OUTCOMES.map((outcome) => ({ labels: { gateway: s.name, outcome }, value: s.requests[outcome] })),
        ),
        upstream_responses_total: stats.flatMap((s) =>
          STATUS_CLASSES.map((c) => ({ labels: { gateway: s.name, class: c }, value: s.upstreamResponses[c] })),
        ),
        in_flight: stats.map((s) => ({ labels: { gateway: s.name }, value: s.inFlight })),
        latency_seconds: stats.flatMap((s) =>
          (
            [
              ['0.5', s.latencyMs.p50],
              ['0.9', s.latencyMs.p90],
              ['0.99', s.latencyMs.p99],
              ['1', s.latencyMs.max],
            ] as const
          ).map(([quantile, ms]) => ({ labels: { gateway: s.name, quantile }, value: ms / 1000 })),
        ),
        latency_seconds_count: stats.map((s) => ({ labels: { gateway: s.name }, value: s.latencyMs.count })),
      }
    },
  }
}

reportComponentMetrics('gateway', gatewayMetrics())
