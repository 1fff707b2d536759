import {
  AggregatorRegistry,
  Counter,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client'

import { InvalidArgumentError, OptlayerError } from '../core/errors'
import { knownOptions, nowOption, numberInRange, optionNames } from '../core/validate'
import { DEFAULT_QUANTILES, LatencyHistogram, type LatencyHistogramOptions } from '../core/latency-histogram'
import { LatencySummaryMetric } from './latency-summary'
import { LatencyWindow } from './latency-window'
import { METRICS_DEFAULTS, type LocalMetricsSnapshot, type MetricsCollector } from './metrics-collector'

// Fleet metrics without scrape-time round trips.
//
// prom-client's AggregatorRegistry asks every worker for its metrics when a scrape arrives and
// gives up after 5 s when one is slow or gone. Here every gateway worker pushes a compact
// snapshot (its metrics as JSON and its latency histograms serialized) to the primary every
// `intervalMs`; the primary merges them (counters summed, gauges as each metric's prom-client
// `aggregator` says, latency histograms merged exactly as HDR histograms), renders the
// exposition once and broadcasts it; a scrape of any worker answers from the latest broadcast
// without waiting on anyone. Staleness: a worker's figures reach a scrape at most about
// 2 × intervalMs (plus IPC and render time) after they happened; the aggregate reports the
// age of its oldest input as `<prefix>fleet_snapshot_age_seconds`.

/** Message a worker sends the primary. @internal */
export interface FleetSnapshotMessage {
  type: 'optlayer:metrics:snapshot'
  /** When the worker took it, ms since the epoch. */
  at: number
  snapshot: LocalMetricsSnapshot
}

/** Message the primary broadcasts to the workers. @internal */
export interface FleetAggregateMessage {
  type: 'optlayer:metrics:aggregate'
  /** When the primary rendered it, ms since the epoch. */
  at: number
  /** Prometheus text of the whole fleet. */
  text: string
}

/** Options of {@link FleetReporter} and {@link FleetAggregator}. */
export interface FleetOptions {
  /**
   * How often each worker pushes its snapshot and the primary renders and broadcasts the
   * aggregate, in milliseconds: the staleness bound is about twice this.
   * @default 1000
   */
  intervalMs?: number
}

/** Defaults of {@link FleetOptions}. */
export const FLEET_DEFAULTS = Object.freeze({ intervalMs: 1000 })

/** How long a worker's first scrape waits for a first aggregate, in push intervals, before answering alone. */
const FIRST_AGGREGATE_INTERVALS = 3

/** The IPC channel of a cluster worker: `process` (with `send`) and its `message` events. */
export interface FleetChannel {
  /** Sends a message to the primary; the callback receives delivery errors. */
  send?: (message: unknown, callback: (error: Error | null) => void) => boolean
  /** Subscribes to messages from the primary. */
  on(event: 'message', listener: (message: unknown) => void): unknown
  /** Unsubscribes. */
  off(event: 'message', listener: (message: unknown) => void): unknown
}

/** Whether `message` is one of the fleet's messages of type `type`. @internal */
export function isFleetMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type
}

/**
 * The worker side of the fleet: pushes this process's snapshot to the primary every
 * `intervalMs` and makes the collector's `expose()` answer with the fleet aggregate the
 * primary broadcasts. Until a first aggregate arrives (a few intervals at most) a scrape
 * waits for it, then answers with this worker's own metrics, marked by a comment line.
 */
export class FleetReporter {
  private latest: FleetAggregateMessage | undefined
  private readonly waiting = new Set<() => void>()
  private readonly intervalMs: number
  private readonly channel: FleetChannel
  private timer: NodeJS.Timeout | undefined
  private pushing = false
  private readonly onMessage = (message: unknown): void => {
    if (!isFleetMessage<FleetAggregateMessage>(message, 'optlayer:metrics:aggregate')) return
    this.latest = message
    for (const wake of this.waiting) wake()
  }

  constructor(
    private readonly collector: MetricsCollector,
    options: FleetOptions & { channel?: FleetChannel } = {},
  ) {
    knownOptions('fleet options', options, REPORTER_NAMES)
    this.intervalMs = numberInRange('intervalMs', options.intervalMs, 10, Number.MAX_VALUE, {
      fallback: FLEET_DEFAULTS.intervalMs,
    })
    this.channel = options.channel ?? process
    if (typeof this.channel.send !== 'function') {
      throw new InvalidArgumentError('invalid channel: expected an IPC channel (run as a cluster worker)')
    }
  }

  /** Starts pushing and answering scrapes with the aggregate. */
  start(): this {
    if (this.timer !== undefined) return this
    this.channel.on('message', this.onMessage)
    this.collector.setExpositionSource(() => this.exposition())
    void this.push()
    this.timer = setInterval(() => void this.push(), this.intervalMs).unref()
    return this
  }

  /** When the latest aggregate was rendered (ms since the epoch), if one arrived. */
  get aggregateAt(): number | undefined {
    return this.latest?.at
  }

  /**
   * Stops pushing, after one last push so that the primary counts everything this worker
   * recorded, and gives the collector back its own exposition. A worker killed without a
   * chance to close loses what it recorded since its last push (at most `intervalMs`).
   */
  async close(): Promise<void> {
    if (this.timer === undefined) return
    clearInterval(this.timer)
    this.timer = undefined
    while (this.pushing) await new Promise((resolve) => setImmediate(resolve))
    await this.push()
    this.channel.off('message', this.onMessage)
    this.collector.setExpositionSource(undefined)
    for (const wake of this.waiting) wake()
  }

  /** Sends one snapshot, unless the previous one is still being taken; resolves once it is handed to IPC. */
  async push(): Promise<void> {
    if (this.pushing || this.collector.closed) return
    this.pushing = true
    try {
      const snapshot = await this.collector.localSnapshot()
      const message: FleetSnapshotMessage = { type: 'optlayer:metrics:snapshot', at: Date.now(), snapshot }
      // Delivery errors (the primary is gone) arrive in the callback, not as an 'error' event;
      // the next push retries.
      await new Promise<void>((resolve) => {
        // Bounded, should a callback never come: a stuck push must not stop the next ones.
        setTimeout(resolve, this.intervalMs).unref()
        if (this.channel.send?.(message, () => resolve()) === undefined) resolve()
      })
    } catch (err) {
      // A closed collector, or a failing collect(): skip this push, never crash the worker.
      if (!(err instanceof OptlayerError)) console.error('optlayer: fleet metrics push failed:', err)
    } finally {
      this.pushing = false
    }
  }

  private async exposition(): Promise<string> {
    if (this.latest === undefined && this.timer !== undefined) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timeout)
          this.waiting.delete(wake)
          resolve()
        }
        const timeout = setTimeout(wake, FIRST_AGGREGATE_INTERVALS * this.intervalMs).unref()
        this.waiting.add(wake)
      })
    }
    if (this.latest !== undefined) return this.latest.text
    const local = await this.collector.registry.metrics()
    return `# optlayer: no fleet aggregate yet; these are one worker's metrics (pid ${process.pid})\n${local}`
  }
}

type MetricJson = MetricObjectWithValues<MetricValue<string>>

/** prom-client reports types as strings at runtime although it types them as an enum. */
const isCumulative = (metric: MetricJson): boolean => ['counter', 'histogram'].includes(String(metric.type))

/** Options of {@link FleetAggregator}. */
export interface FleetAggregatorOptions {
  /** Prefix of the workers' metric names. @default 'optlayer_' */
  prefix?: string
  /** Quantiles of the fleet's `request_duration_seconds`. @default [0.5, 0.9, 0.99, 0.999] */
  quantiles?: readonly number[]
  /** Window of those quantiles; 0 for since start. @default 60_000 */
  quantileWindowMs?: number
  /** Shape of the fleet histograms: the workers' latency options. @default LATENCY_HISTOGRAM_DEFAULTS */
  latency?: Omit<LatencyHistogramOptions, 'name'>
  /** Milliseconds since the epoch (snapshot ages). @default Date.now */
  now?: () => number
  /** @deprecated Renamed `now`, as in every other component; accepted until the next major release. */
  clock?: () => number
}

/** Every option name of {@link FleetAggregatorOptions}. @internal */
export const FLEET_AGGREGATOR_OPTION_NAMES = optionNames<FleetAggregatorOptions>()(
  {},
  { prefix: true, quantiles: true, quantileWindowMs: true, latency: true, now: true, clock: true },
)
const REPORTER_NAMES = optionNames<FleetOptions & { channel?: FleetChannel }>()(FLEET_DEFAULTS, { channel: true })

/**
 * The primary side of the fleet: keeps each worker's latest snapshot and renders the fleet's
 * exposition. Counters and histograms of workers that exit are folded into a retired total,
 * so fleet counters never go backwards when a worker is replaced; their gauges leave with them.
 */
export class FleetAggregator {
  private readonly latest = new Map<string, { at: number; snapshot: LocalMetricsSnapshot }>()
  private retiredMetrics: MetricJson[] = []
  private readonly retiring: MetricJson[][] = []
  private readonly retired: { ok: LatencyHistogram; error: LatencyHistogram }
  private readonly fleet: { ok: LatencyHistogram; error: LatencyHistogram }
  private readonly windows: { ok: LatencyWindow; error: LatencyWindow } | undefined
  private readonly prefix: string
  private readonly quantiles: readonly number[]
  private readonly clock: () => number
  private mergeFailures = 0

  constructor(options: FleetAggregatorOptions = {}) {
    knownOptions('fleet aggregator options', options, FLEET_AGGREGATOR_OPTION_NAMES)
    this.prefix = options.prefix ?? METRICS_DEFAULTS.prefix
    this.quantiles = options.quantiles ?? DEFAULT_QUANTILES
    this.clock = nowOption(options, Date.now)
    const latency = { ...options.latency, name: undefined }
    this.retired = { ok: new LatencyHistogram(latency), error: new LatencyHistogram(latency) }
    this.fleet = { ok: new LatencyHistogram(latency), error: new LatencyHistogram(latency) }
    const windowMs = options.quantileWindowMs ?? METRICS_DEFAULTS.quantileWindowMs
    this.windows =
      windowMs > 0 ? { ok: new LatencyWindow(windowMs, 6), error: new LatencyWindow(windowMs, 6) } : undefined
  }

  /** Workers whose snapshots are held. */
  get workers(): number {
    return this.latest.size
  }

  /** Keeps `snapshot` as worker `id`'s latest. */
  update(id: string, message: Pick<FleetSnapshotMessage, 'at' | 'snapshot'>): void {
    this.latest.set(id, { at: message.at, snapshot: message.snapshot })
  }

  /** Folds worker `id`'s cumulative figures into the retired totals and forgets its snapshot. */
  retire(id: string): void {
    const entry = this.latest.get(id)
    if (entry === undefined) return
    this.latest.delete(id)
    this.retiring.push(entry.snapshot.metrics.filter(isCumulative))
    this.mergeInto(this.retired.ok, entry.snapshot.latency.ok)
    this.mergeInto(this.retired.error, entry.snapshot.latency.error)
  }

  /** The fleet's exposition: every worker's metrics merged, plus the fleet latency summary. */
  async render(): Promise<string> {
    if (this.retiring.length > 0) {
      const folded = AggregatorRegistry.aggregate([this.retiredMetrics, ...this.retiring.splice(0)])
      this.retiredMetrics = (await folded.getMetricsAsJSON()).filter(isCumulative)
    }
    const now = this.clock()
    for (const outcome of ['ok', 'error'] as const) {
      const fleet = this.fleet[outcome]
      fleet.reset()
      fleet.merge(this.retired[outcome])
      for (const { snapshot } of this.latest.values()) this.mergeInto(fleet, snapshot.latency[outcome])
      this.windows?.[outcome].tick(now, () => fleet.toBuffer())
    }
    const registry: Registry = AggregatorRegistry.aggregate([
      this.retiredMetrics,
      ...[...this.latest.values()].map(({ snapshot }) => snapshot.metrics),
    ])
    new LatencySummaryMetric(
      `${this.prefix}request_duration_seconds`,
      'Duration of requests handled by the fleet, by outcome: quantiles over a sliding window, sum and count since start.',
      () => [
        { labels: { outcome: 'ok' }, histogram: this.fleet.ok, window: this.windows?.ok },
        { labels: { outcome: 'error' }, histogram: this.fleet.error, window: this.windows?.error },
      ],
      this.quantiles,
    ).register(registry)
    const ages = [...this.latest.values()].map(({ at }) => (now - at) / 1000)
    new Gauge({
      name: `${this.prefix}fleet_workers`,
      help: 'Gateway workers whose metrics this aggregate holds.',
      registers: [registry],
    }).set(this.latest.size)
    new Gauge({
      name: `${this.prefix}fleet_snapshot_age_seconds`,
      help: 'Age of the oldest worker snapshot in this aggregate when it was rendered: its staleness.',
      registers: [registry],
    }).set(ages.length > 0 ? Math.max(0, ...ages) : 0)
    new Counter({
      name: `${this.prefix}fleet_merge_failures_total`,
      help: 'Worker latency histograms that could not be decoded and were left out of an aggregate.',
      registers: [registry],
    }).inc(this.mergeFailures)
    return registry.metrics()
  }

  /** Frees the native histograms. */
  close(): void {
    for (const histogram of [this.retired.ok, this.retired.error, this.fleet.ok, this.fleet.error]) histogram.close()
  }

  private mergeInto(target: LatencyHistogram, data: Uint8Array): void {
    try {
      target.merge(data)
    } catch {
      // A damaged message costs that worker's latency figures for one render, not the fleet's.
      this.mergeFailures++
    }
  }
}
