import type { Metric, Registry } from 'prom-client'

import type { ComponentMetric, ComponentRegistration, ComponentValue } from '../core/component-registry'
import { InvalidArgumentError } from '../core/errors'
import { checkBoundedOptions, construct, OVERFLOW_LABEL_VALUE } from './bounded-metrics'

/** Series of one metric after the cap: label sets with their values. */
type Series = { labels: Readonly<Record<string, string | number>>; value: number }[]

const NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** What a component needs of its collector. @internal */
export interface ComponentHost {
  registry: Registry
  prefix: string
  defaultMaxSeries: number
  /** Counts series folded into an overflow set. */
  countOverflow: (metric: string, by: number) => void
  /** Counts a failed collect. */
  countError: (component: string) => void
}

/**
 * One registered component: its metrics in the registry and the shared, capped read of its
 * figures. Overflows and errors are counted inside {@link Component.read}, so a counter that
 * awaits the reads of every component before it reports (see {@link MetricsCollector})
 * includes this scrape's counts.
 * @internal
 */
export class Component {
  private pending: Promise<ReadonlyMap<string, Series>> | undefined
  private readonly names: string[] = []
  private readonly caps = new Map<string, { name: string; labelNames: readonly string[]; maxSeries: number }>()

  constructor(
    private readonly host: ComponentHost,
    readonly name: string,
    private readonly registration: ComponentRegistration,
  ) {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new InvalidArgumentError(`invalid component name: expected [a-zA-Z_][a-zA-Z0-9_]*, got ${String(name)}`)
    }
    if (typeof registration?.collect !== 'function' || typeof registration.metrics !== 'object') {
      throw new InvalidArgumentError('invalid registration: expected { metrics, collect }')
    }
    try {
      for (const [metric, spec] of Object.entries(registration.metrics)) this.register(metric, spec)
    } catch (err) {
      this.unregister()
      throw err
    }
  }

  /**
   * The figures of this scrape, capped. A scrape asks every metric at once, so the calls made
   * while a collect is in flight share it, and the first call after it settles collects
   * afresh. Never rejects: a failure reads as no figures.
   */
  read(): Promise<ReadonlyMap<string, Series>> {
    if (this.pending === undefined) {
      this.pending = Promise.resolve()
        .then(this.registration.collect)
        .then(
          (figures) => this.cap(figures),
          () => {
            this.host.countError(this.name)
            return new Map<string, Series>()
          },
        )
        .finally(() => (this.pending = undefined))
    }
    return this.pending
  }

  /** Removes the component's metrics from the registry. */
  unregister(): void {
    for (const name of this.names) this.host.registry.removeSingleMetric(name)
    this.names.length = 0
  }

  private register(metric: string, spec: ComponentMetric): void {
    if (!NAME.test(metric) || (spec?.type !== 'counter' && spec?.type !== 'gauge')) {
      throw new InvalidArgumentError(
        `invalid metric ${this.name}.${metric}: expected a name [a-zA-Z_][a-zA-Z0-9_]* and type 'counter' or 'gauge'`,
      )
    }
    const name = `${this.host.prefix}${this.name}_${metric}`
    const { labelNames, maxSeries } = checkBoundedOptions({ ...spec, name }, this.host.defaultMaxSeries)
    this.caps.set(metric, { name, labelNames, maxSeries })
    const metricObject = new ComponentMetricObject(name, spec, labelNames, () => this.read(), metric)
    construct(name, () => this.host.registry.registerMetric(metricObject as unknown as Metric))
    this.names.push(name)
  }

  /** Applies each metric's series cap, folding the excess into the overflow set and counting it. */
  private cap(figures: Readonly<Record<string, ComponentValue>>): ReadonlyMap<string, Series> {
    const out = new Map<string, Series>()
    for (const [metric, { name, labelNames, maxSeries }] of this.caps) {
      const value = figures?.[metric]
      if (value === undefined) continue
      if (typeof value === 'number') {
        out.set(metric, [{ labels: {}, value }])
        continue
      }
      if (!Array.isArray(value)) continue
      const kept = value.slice(0, maxSeries)
      const folded = value.slice(maxSeries)
      if (folded.length > 0) {
        const labels = Object.fromEntries(labelNames.map((l) => [l, OVERFLOW_LABEL_VALUE]))
        kept.push({ labels, value: folded.reduce((sum, s) => sum + s.value, 0) })
        this.host.countOverflow(name, folded.length)
      }
      out.set(metric, kept)
    }
    return out
  }
}

/**
 * One component metric as prom-client's registry renders it (`get()`): exactly the series the
 * component reported this scrape, so a failed or silent component shows no made-up zero.
 */
class ComponentMetricObject {
  readonly type: 'counter' | 'gauge'
  readonly help: string
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    spec: ComponentMetric,
    private readonly labelNames: readonly string[],
    private readonly read: () => Promise<ReadonlyMap<string, Series>>,
    private readonly metric: string,
  ) {
    this.type = spec.type
    this.help = spec.help
  }

  async get(): Promise<{
    name: string
    help: string
    type: 'counter' | 'gauge'
    aggregator: 'sum'
    values: { value: number; labels: Record<string, string | number> }[]
  }> {
    const series = (await this.read()).get(this.metric) ?? []
    // Keyed by the declared labels only, so a stray label neither multiplies the series nor
    // repeats one (a repeated label set is summed).
    const byKey = new Map<string, { value: number; labels: Record<string, string | number> }>()
    for (const { labels, value } of series) {
      // A counter never goes down; a bad figure is dropped rather than failing the scrape.
      if (!Number.isFinite(value) || (this.type === 'counter' && value < 0)) continue
      const kept = Object.fromEntries(this.labelNames.map((l) => [l, labels[l] ?? '']))
      const key = JSON.stringify(this.labelNames.map((l) => String(kept[l])))
      const seen = byKey.get(key)
      if (seen === undefined) byKey.set(key, { value, labels: kept })
      else seen.value += value
    }
    const values = [...byKey.values()]
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** Nothing to reset: the figures belong to the component. */
  reset(): void {}
}
