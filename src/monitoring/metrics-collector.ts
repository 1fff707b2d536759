import { performance } from 'node:perf_hooks'

import {
  Counter,
  Gauge,
  Registry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client'

import { onComponentMetrics, type ComponentRegistration } from '../core/component-registry'
import { fromNativeError, type InvalidArgumentError } from '../core/errors'
import { invalidOption, knownOptions, nowOption, numberInRange, optionNames, wholeNumber } from '../core/validate'
import {
  BoundedMetricFactory,
  type BoundedCounter,
  type BoundedGauge,
  type BoundedHistogram,
  type BoundedHistogramOptions,
  type BoundedMetricOptions,
} from './bounded-metrics'
import { Component } from './components'
import { DEFAULT_QUANTILES, LatencyHistogram, type LatencyHistogramOptions } from '../core/latency-histogram'
import { LatencySummaryMetric } from './latency-summary'
import { LatencyWindow } from './latency-window'
import { ProcessSampler, type ProcessFigures } from './process-sampler'

/** Options of {@link MetricsCollector}. */
export interface MetricsCollectorOptions {
  /**
   * Registry to register into; pass one to merge optlayer's metrics with your own.
   * @default a new prom-client Registry
   */
  registry?: Registry
  /**
   * Prefix of every metric name.
   * @default 'optlayer_'
   */
  prefix?: string
  /**
   * Also collect prom-client's default process metrics (CPU, memory, event loop lag, GC).
   * @default true
   */
  defaultMetrics?: boolean
  /**
   * Quantiles of `<prefix>request_duration_seconds`, each from 0 to 1.
   * @default [0.5, 0.9, 0.99, 0.999]
   */
  quantiles?: readonly number[]
  /**
   * The quantiles of `request_duration_seconds` and of `getSystemMetrics().latency` cover the
   * requests of about this many milliseconds (between this and 7/6 of it); 0 covers every
   * request since start. `_count` and `_sum` always count since start.
   * @default 60_000
   */
  quantileWindowMs?: number
  /**
   * Window of the request rate, error rate and CPU figures of `getSystemMetrics()`, and of its
   * event-loop delay (which covers between half of it and all of it).
   * @default 10_000
   */
  rateWindowMs?: number
  /**
   * Most label sets each custom metric ({@link MetricsCollector.counter} and siblings, and
   * component metrics) keeps unless it says otherwise.
   * @default 1000
   */
  maxSeriesPerMetric?: number
  /** Range and precision of the request-latency histograms. @default LATENCY_HISTOGRAM_DEFAULTS */
  latency?: Omit<LatencyHistogramOptions, 'name'>
  /** Sampling interval of the event-loop delay monitors, in milliseconds. @default 10 */
  eventLoopResolutionMs?: number
  /**
   * Monotonic clock in milliseconds for the request-rate window; inject a fake in tests.
   * @default performance.now
   */
  now?: () => number
  /** @deprecated Renamed `now`, as in every other component; accepted until the next major release. */
  clock?: () => number
}

/** Defaults of every {@link MetricsCollector} option. */
export const METRICS_DEFAULTS = Object.freeze({
  prefix: 'optlayer_',
  defaultMetrics: true,
  quantiles: DEFAULT_QUANTILES,
  quantileWindowMs: 60_000,
  rateWindowMs: 10_000,
  maxSeriesPerMetric: 1000,
  eventLoopResolutionMs: 10,
})

/** Every option name of {@link MetricsCollectorOptions}. @internal */
export const METRICS_OPTION_NAMES = optionNames<MetricsCollectorOptions>()(METRICS_DEFAULTS, {
  registry: true,
  latency: true,
  now: true,
  clock: true,
})

/** How often the collector samples rates, CPU and latency checkpoints. */
const SAMPLE_INTERVAL_MS = 1000
/** Checkpoints of the latency window: a read covers between the window and 7/6 of it. */
const WINDOW_SLICES = 6

/** Request figures of {@link SystemMetrics}. */
export interface RequestFigures {
  /** Requests recorded since start. */
  total: number
  /** Failed requests recorded since start. */
  errors: number
  /** Requests started and not yet finished ({@link MetricsCollector.requestStarted}). */
  inFlight: number
  /** Requests per second over `windowSeconds`. */
  ratePerSecond: number
  /** Failed over all requests in `windowSeconds`, 0 to 1 (0 without requests). */
  errorRate: number
  /** Seconds the rates cover (up to `rateWindowMs`, less just after start). */
  windowSeconds: number
}

/** Requests counted elsewhere: see {@link MetricsCollector.addRequestSource}. */
export type RequestSource = () => { requests: number; errors: number }

/** Request-latency figures of {@link SystemMetrics}, all outcomes together; `null` without requests. */
export interface LatencyFigures {
  /** Requests in the window. */
  count: number
  /** Mean latency, ms. */
  meanMs: number | null
  /** Longest latency (within HDR precision), ms. */
  maxMs: number | null
  /** Median, ms. */
  p50Ms: number | null
  /** 90th percentile, ms. */
  p90Ms: number | null
  /** 99th percentile, ms. */
  p99Ms: number | null
  /** 99.9th percentile, ms. */
  p999Ms: number | null
  /** Seconds the figures cover; undefined when they cover every request since start. */
  windowSeconds: number | undefined
}

/** A plain snapshot of the process and its requests: {@link MetricsCollector.getSystemMetrics}. */
export interface SystemMetrics extends ProcessFigures {
  /** When it was taken, ms since the epoch. */
  timestamp: number
  /** Seconds since the process started. */
  uptimeSeconds: number
  /** Request counts and rates. */
  requests: RequestFigures
  /** Request latency over the quantile window. */
  latency: LatencyFigures
}

/** What a gateway process hands to the fleet's primary (see `src/monitoring/fleet.ts`). @internal */
export interface LocalMetricsSnapshot {
  /** Every metric but the request-latency summary, as `registry.getMetricsAsJSON()` gives them. */
  metrics: MetricObjectWithValues<MetricValue<string>>[]
  /** Serialized request-latency histograms by outcome. */
  latency: { ok: Uint8Array; error: Uint8Array }
}

/** Stops the monitors of collectors that were dropped without `close()`, and their component subscription. */
/** The refusal of a request duration that is not a finite number of at least 0 ms. */
function invalidDuration(durationMs: unknown): InvalidArgumentError {
  return invalidOption('durationMs', 'a finite number of milliseconds of at least 0', durationMs)
}

const abandoned = new FinalizationRegistry<() => void>((release) => release())

/**
 * Prometheus metrics of one optlayer process, exposed through prom-client.
 *
 * - Requests: {@link MetricsCollector.recordRequest} costs one native call (~45 ns) and two
 *   increments; no prom-client observation runs on the hot path. At scrape time the native
 *   HDR histograms give `<prefix>request_duration_seconds{outcome,quantile}` (a summary:
 *   quantiles over a sliding window, `_sum` and `_count` since start), and plain counters
 *   give `<prefix>requests_total`, `<prefix>request_errors_total` and
 *   `<prefix>requests_in_flight`.
 * - Process: prom-client's default metrics, and {@link MetricsCollector.getSystemMetrics} for
 *   a plain snapshot.
 * - Custom metrics with bounded label cardinality ({@link MetricsCollector.counter},
 *   {@link MetricsCollector.gauge}, {@link MetricsCollector.histogram}) and components that
 *   report at scrape time ({@link MetricsCollector.registerComponent}).
 * - The metrics of every built-in component (cache, rate limiters, queues, balancers, pools,
 *   codecs), which announce themselves when loaded and are read at scrape time.
 *
 * @example
 * ```ts
 * const metrics = new MetricsCollector()
 * metrics.recordRequest(12.5, true)
 * const jobs = metrics.counter({ name: 'myapp_jobs_total', help: 'Jobs run.', labelNames: ['kind'] })
 * jobs.inc({ kind: 'resize' })
 * const body = await metrics.expose() // Prometheus text format
 * ```
 */
export class MetricsCollector {
  /** The registry holding every metric this collector exposes. */
  readonly registry: Registry
  /** The Content-Type of {@link MetricsCollector.expose}'s output. */
  readonly contentType: string
  /** The prefix of optlayer's metric names. */
  readonly prefix: string
  /** The native histograms behind `request_duration_seconds`, by outcome (milliseconds). */
  readonly requestLatency: Readonly<{ ok: LatencyHistogram; error: LatencyHistogram }>
  private recordedRequests = 0
  private recordedErrors = 0
  private inFlight = 0
  /** Requests recorded outside this process's JavaScript (a native front's answers). */
  private readonly requestSources = new Set<RequestSource>()
  private readonly recordOk: (valueMs: number) => void
  private readonly recordError: (valueMs: number) => void
  private readonly windows: Readonly<{ ok: LatencyWindow; error: LatencyWindow }> | undefined
  private readonly scratch: [LatencyHistogram, LatencyHistogram]
  private readonly rateSamples: { at: number; requests: number; errors: number }[] = []
  private readonly rateWindowMs: number
  private readonly clock: () => number
  private readonly sampler: ProcessSampler
  private readonly timer: NodeJS.Timeout
  private readonly stopComponentFeed: () => void
  private readonly bounded: BoundedMetricFactory
  private readonly componentErrors: Counter<'component'>
  private readonly components = new Set<Component>()
  private readonly maxSeriesPerMetric: number
  private readonly summaryName: string
  private expositionSource: (() => Promise<string>) | undefined
  private isClosed = false

  /**
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option (the
   *   `latency` histogram's included) is invalid or unknown; the message names it.
   * @throws {Error} prom-client's own, when `registry` already holds metrics of these names
   *   (another collector with the same `prefix`, say) or `prefix` makes invalid metric names.
   */
  constructor(options: MetricsCollectorOptions = {}) {
    knownOptions('metrics options', options, METRICS_OPTION_NAMES)
    const prefix = options.prefix ?? METRICS_DEFAULTS.prefix
    const quantiles = [...(options.quantiles ?? METRICS_DEFAULTS.quantiles)]
    for (const q of quantiles) numberInRange('quantile', q, 0, 1)
    const quantileWindowMs = wholeNumber(
      'quantileWindowMs',
      options.quantileWindowMs ?? METRICS_DEFAULTS.quantileWindowMs,
      0,
    )
    this.rateWindowMs = wholeNumber('rateWindowMs', options.rateWindowMs ?? METRICS_DEFAULTS.rateWindowMs, 1)
    this.maxSeriesPerMetric = wholeNumber(
      'maxSeriesPerMetric',
      options.maxSeriesPerMetric ?? METRICS_DEFAULTS.maxSeriesPerMetric,
      1,
    )
    const resolution = wholeNumber(
      'eventLoopResolutionMs',
      options.eventLoopResolutionMs ?? METRICS_DEFAULTS.eventLoopResolutionMs,
      1,
    )
    this.clock = nowOption(options, () => performance.now())
    this.prefix = prefix
    this.registry = options.registry ?? new Registry()
    this.contentType = this.registry.contentType

    const latency = { ...options.latency, name: undefined }
    const ok = new LatencyHistogram(latency)
    const error = new LatencyHistogram(latency)
    this.requestLatency = Object.freeze({ ok, error })
    this.recordOk = ok.recorder
    this.recordError = error.recorder
    this.scratch = [new LatencyHistogram(latency), new LatencyHistogram(latency)]
    this.windows =
      quantileWindowMs > 0
        ? Object.freeze({
            ok: new LatencyWindow(quantileWindowMs, WINDOW_SLICES),
            error: new LatencyWindow(quantileWindowMs, WINDOW_SLICES),
          })
        : undefined

    if (options.defaultMetrics ?? METRICS_DEFAULTS.defaultMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix })
      dropMisnamedGauges(this.registry, prefix)
    }
    this.summaryName = `${prefix}request_duration_seconds`
    new LatencySummaryMetric(
      this.summaryName,
      'Duration of requests handled, by outcome: quantiles over a sliding window, sum and count since start.',
      () => [
        { labels: { outcome: 'ok' }, histogram: ok, window: this.windows?.ok },
        { labels: { outcome: 'error' }, histogram: error, window: this.windows?.error },
      ],
      quantiles,
      () => {
        ok.reset()
        error.reset()
      },
    ).register(this.registry)
    this.registerRequestCounters(prefix)
    // Components count overflows and errors while they collect: these counters report after them.
    const settleComponents = (): Promise<unknown> => Promise.all([...this.components].map((c) => c.read()))
    this.bounded = new BoundedMetricFactory(this.registry, prefix, this.maxSeriesPerMetric, settleComponents)
    this.componentErrors = new Counter({
      name: `${prefix}component_errors_total`,
      help: 'Scrapes in which a registered component failed to report.',
      labelNames: ['component'],
      registers: [this.registry],
      async collect() {
        await settleComponents()
      },
    })

    this.sampler = new ProcessSampler(this.rateWindowMs, resolution)
    this.tick()
    // The timer holds the collector weakly and the sampler's monitors are released when the
    // collector is collected, so a collector nobody closes (or holds) does not live forever.
    const self = new WeakRef(this)
    const timer = setInterval(() => {
      const collector = self.deref()
      if (collector === undefined) clearInterval(timer)
      else collector.tick()
    }, SAMPLE_INTERVAL_MS).unref()
    this.timer = timer
    // Built-in components announce themselves when their modules load, before or after this
    // collector exists; the listener holds the collector weakly, like the timer.
    this.stopComponentFeed = onComponentMetrics((name, registration) => {
      try {
        self.deref()?.registerComponent(name, registration)
      } catch (err) {
        // Metrics of that name exist already (registered by hand into this registry): keep them.
        process.emitWarning(`optlayer: the ${name} component's metrics were not registered: ${String(err)}`)
      }
    })
    const sampler = this.sampler
    const stopComponentFeed = this.stopComponentFeed
    abandoned.register(
      this,
      () => {
        sampler.close()
        stopComponentFeed()
      },
      this,
    )
  }

  /**
   * Records one handled request of `durationMs` milliseconds that succeeded or not: a native
   * histogram record and two increments, nothing else. Throws `InvalidArgumentError` for a
   * duration that is not a finite number of at least 0, and counts nothing then.
   */
  recordRequest(durationMs: number, success: boolean): void {
    // One comparison pair on the hot path; NaN fails both and falls through to the throw.
    if (!(durationMs >= 0 && durationMs < Infinity)) throw invalidDuration(durationMs)
    try {
      if (success) this.recordOk(durationMs)
      else this.recordError(durationMs)
    } catch (err) {
      throw fromNativeError(err)
    }
    this.recordedRequests++
    if (!success) this.recordedErrors++
  }

  /**
   * Adds the requests `source` counts to `requests_total`, `request_errors_total` and the
   * rates of {@link getSystemMetrics}: requests handled where `recordRequest` cannot be
   * called (a native HTTP front records their latency into {@link requestLatency} itself).
   * Its counts must only grow. Returns a function that removes it.
   */
  addRequestSource(source: RequestSource): () => void {
    this.requestSources.add(source)
    return () => this.requestSources.delete(source)
  }

  /** Requests recorded, those of the request sources included. */
  private get requests(): number {
    let total = this.recordedRequests
    for (const source of this.requestSources) total += source().requests
    return total
  }

  /** Failed requests recorded, those of the request sources included. */
  private get errors(): number {
    let total = this.recordedErrors
    for (const source of this.requestSources) total += source().errors
    return total
  }

  /** Counts a request as in flight until {@link MetricsCollector.requestFinished}. */
  requestStarted(): void {
    this.inFlight++
  }

  /**
   * Ends a request counted by {@link MetricsCollector.requestStarted}; with a duration, also
   * records it as {@link MetricsCollector.recordRequest} does.
   */
  requestFinished(durationMs?: number, success = true): void {
    if (durationMs !== undefined && !(durationMs >= 0 && durationMs < Infinity)) throw invalidDuration(durationMs)
    if (this.inFlight > 0) this.inFlight--
    if (durationMs !== undefined) this.recordRequest(durationMs, success)
  }

  /**
   * Runs `work` as one request: in flight while it runs, then recorded with its duration, a
   * success unless it throws (or rejects). Resolves or rejects as `work` does.
   */
  async trackRequest<T>(work: () => T | Promise<T>): Promise<T> {
    const started = performance.now()
    this.requestStarted()
    try {
      const result = await work()
      this.requestFinished(performance.now() - started, true)
      return result
    } catch (err) {
      this.requestFinished(performance.now() - started, false)
      throw err
    }
  }

  /** A custom counter in this collector's registry whose label sets are capped (see {@link BoundedMetricOptions}). */
  counter<L extends string = string>(options: BoundedMetricOptions<L>): BoundedCounter<L> {
    return this.bounded.counter(options)
  }

  /** A custom gauge in this collector's registry whose label sets are capped (see {@link BoundedMetricOptions}). */
  gauge<L extends string = string>(options: BoundedMetricOptions<L>): BoundedGauge<L> {
    return this.bounded.gauge(options)
  }

  /** A custom histogram in this collector's registry whose label sets are capped (see {@link BoundedMetricOptions}). */
  histogram<L extends string = string>(options: BoundedHistogramOptions<L>): BoundedHistogram<L> {
    return this.bounded.histogram(options)
  }

  /**
   * Lets a component (cache, queue, pool, balancer, ...) report its figures at scrape time:
   * each metric of `registration.metrics` is exported as `<prefix><name>_<metric>`, its
   * value read from `registration.collect()` once per scrape. Returns the function that
   * unregisters them. The built-in components report under their own names (`cache`,
   * `ratelimit`, `queue`, `pool`, `balancer`, `layer`, `gateway`, `codec`): a component of
   * yours needs another name, or its metrics clash with theirs (`InvalidArgumentError`).
   *
   * @example
   * ```ts
   * metrics.registerComponent('sessions', {
   *   metrics: {
   *     hits_total: { type: 'counter', help: 'Session store hits by tier.', labelNames: ['tier'] },
   *     entries: { type: 'gauge', help: 'Sessions held.' },
   *   },
   *   collect: () => ({ hits_total: [{ labels: { tier: 'memory' }, value: store.hits }], entries: store.size }),
   * })
   * ```
   */
  registerComponent(name: string, registration: ComponentRegistration): () => void {
    const component = new Component(
      {
        registry: this.registry,
        prefix: this.prefix,
        defaultMaxSeries: this.maxSeriesPerMetric,
        countOverflow: this.bounded.countOverflow,
        countError: (failed) => this.componentErrors.inc({ component: failed }),
      },
      name,
      registration,
    )
    this.components.add(component)
    return () => {
      component.unregister()
      this.components.delete(component)
    }
  }

  /** A plain snapshot of the process (CPU, memory, event loop, GC, resources) and its requests. */
  getSystemMetrics(): SystemMetrics {
    const now = this.clock()
    this.sampleRates(now)
    const base = this.rateSamples[0]
    const elapsedMs = base === undefined ? 0 : now - base.at
    const windowRequests = base === undefined ? 0 : this.requests - base.requests
    const windowErrors = base === undefined ? 0 : this.errors - base.errors
    return {
      timestamp: Date.now(),
      uptimeSeconds: process.uptime(),
      ...this.sampler.read(),
      requests: {
        total: this.requests,
        errors: this.errors,
        inFlight: this.inFlight,
        ratePerSecond: elapsedMs > 0 ? (1000 * windowRequests) / elapsedMs : 0,
        errorRate: windowRequests > 0 ? windowErrors / windowRequests : 0,
        windowSeconds: elapsedMs / 1000,
      },
      latency: this.windowedLatency(now),
    }
  }

  /**
   * Renders every metric in the Prometheus text exposition format. In a fleet
   * (`WORKERS` > 1) this is the fleet's aggregate, answered locally (see
   * {@link MetricsCollector.setExpositionSource}).
   */
  expose(): Promise<string> {
    return this.expositionSource === undefined ? this.registry.metrics() : this.expositionSource()
  }

  /**
   * Makes {@link MetricsCollector.expose} answer from `source` instead of this registry (the
   * fleet aggregate of a cluster worker); `undefined` restores the registry.
   */
  setExpositionSource(source: (() => Promise<string>) | undefined): void {
    this.expositionSource = source
  }

  /** What this process contributes to a fleet aggregate: metrics as JSON and the serialized latency histograms. */
  async localSnapshot(): Promise<LocalMetricsSnapshot> {
    const metrics = (await this.registry.getMetricsAsJSON()).filter((metric) => metric.name !== this.summaryName)
    return {
      metrics,
      latency: { ok: this.requestLatency.ok.toBuffer(), error: this.requestLatency.error.toBuffer() },
    }
  }

  /** Whether {@link MetricsCollector.close} was called. */
  get closed(): boolean {
    return this.isClosed
  }

  /**
   * Stops the sampling timer and the event-loop and GC monitors and frees the native
   * histograms; recording afterwards throws `ClosedError`. Idempotent.
   */
  async close(): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    clearInterval(this.timer)
    abandoned.unregister(this)
    this.sampler.close()
    this.stopComponentFeed()
    for (const histogram of [this.requestLatency.ok, this.requestLatency.error, ...this.scratch]) histogram.close()
  }

  /** Once a second: rates, CPU and event-loop samples, latency checkpoints. */
  private tick(): void {
    if (this.isClosed) return
    const now = this.clock()
    this.sampleRates(now)
    this.sampler.sample()
    if (this.windows !== undefined) {
      this.windows.ok.tick(now, () => this.requestLatency.ok.toBuffer())
      this.windows.error.tick(now, () => this.requestLatency.error.toBuffer())
    }
  }

  private sampleRates(now: number): void {
    const samples = this.rateSamples
    const last = samples[samples.length - 1]
    if (last === undefined || now > last.at) samples.push({ at: now, requests: this.requests, errors: this.errors })
    // The base is the newest sample at least a window old; older ones are dropped.
    while ((samples[1]?.at ?? Infinity) <= now - this.rateWindowMs) samples.shift()
    // Bounded however often getSystemMetrics is called: thin out the middle of the window.
    if (samples.length > 4 * (this.rateWindowMs / SAMPLE_INTERVAL_MS) + 8) samples.splice(1, 1)
  }

  /** Latency of every outcome together over the quantile window: the two histograms merged, now and at the window's start. */
  private windowedLatency(now: number): LatencyFigures {
    const [all, base] = this.scratch
    all.reset()
    all.merge(this.requestLatency.ok)
    all.merge(this.requestLatency.error)
    let since: Uint8Array | undefined
    const okSince = this.windows?.ok.since()
    const errorSince = this.windows?.error.since()
    if (okSince !== undefined && errorSince !== undefined) {
      // Both windows tick together, so their bases are of the same moment.
      base.reset()
      base.merge(okSince)
      base.merge(errorSince)
      since = base.toBuffer()
    }
    const s = all.snapshot(since === undefined ? {} : { since })
    return {
      count: s.count,
      meanMs: s.meanMs,
      maxMs: s.maxMs,
      p50Ms: s.p50Ms,
      p90Ms: s.p90Ms,
      p99Ms: s.p99Ms,
      p999Ms: s.p999Ms,
      windowSeconds: this.windows?.ok.coveredSeconds(now),
    }
  }

  /** `requests_total`, `request_errors_total` and `requests_in_flight`, read from plain fields at scrape time. */
  private registerRequestCounters(prefix: string): void {
    // prom-client calls `collect` with `this` bound to the metric, so the collector goes by another name.
    const collector = this
    new Counter({
      name: `${prefix}requests_total`,
      help: 'Requests handled.',
      registers: [this.registry],
      collect() {
        this.reset()
        this.inc(collector.requests)
      },
    })
    new Counter({
      name: `${prefix}request_errors_total`,
      help: 'Requests that failed.',
      registers: [this.registry],
      collect() {
        this.reset()
        this.inc(collector.errors)
      },
    })
    new Gauge({
      name: `${prefix}requests_in_flight`,
      help: 'Requests started and not yet finished.',
      registers: [this.registry],
      collect() {
        this.set(collector.inFlight)
      },
    })
  }
}

/**
 * prom-client exports `nodejs_active_{handles,requests,resources}_total` as gauges, and
 * Prometheus reserves `_total` for counters (`promtool check metrics` rejects them). The same
 * counts stay available, by type, in `nodejs_active_{handles,requests,resources}`: sum them.
 */
function dropMisnamedGauges(registry: Registry, prefix: string): void {
  for (const kind of ['handles', 'requests', 'resources']) {
    registry.removeSingleMetric(`${prefix}nodejs_active_${kind}_total`)
  }
}
