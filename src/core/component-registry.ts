/**
 * Where components announce the metrics they report, so that monitoring reads them without
 * importing any component: each component's metrics module calls
 * {@link reportComponentMetrics} when it is loaded, and every `MetricsCollector` (present or
 * created later) exports what was announced.
 */

/** One figure a component reports: a number, or one number per label set. */
export type ComponentValue = number | readonly { labels: Readonly<Record<string, string | number>>; value: number }[]

/** A metric a component reports, declared once at registration. */
export interface ComponentMetric {
  /** `'counter'` for cumulative totals (hits, evictions), `'gauge'` for levels (size, depth). */
  type: 'counter' | 'gauge'
  /** What the metric measures, shown as `# HELP`. */
  help: string
  /** Labels of its label sets (e.g. `['tier']`). @default [] */
  labelNames?: readonly string[]
  /** Most label sets kept; further ones are summed into the `'__overflow__'` set. @default the collector's maxSeriesPerMetric */
  maxSeries?: number
}

/** What `MetricsCollector.registerComponent` takes, and what a built-in component announces. */
export interface ComponentRegistration {
  /**
   * The metrics, by name: each is exported as `<prefix><component>_<name>`, so a cache
   * registered as `'cache'` with a metric `hits_total` gives `optlayer_cache_hits_total`.
   */
  metrics: Readonly<Record<string, ComponentMetric>>
  /**
   * Reads the component's figures, keyed like `metrics`; called once per scrape (shared by
   * all its metrics) and never on a hot path. A figure left out is not exported this time;
   * label sets beyond a metric's `maxSeries` are summed into its `'__overflow__'` set (each
   * folded set counting once per scrape in `<prefix>metrics_overflow_total`); a throw leaves
   * the component's metrics empty for that scrape and counts in
   * `<prefix>component_errors_total{component}`.
   */
  collect: () => Readonly<Record<string, ComponentValue>> | Promise<Readonly<Record<string, ComponentValue>>>
}

/** Receives each announced component: those announced already, then each new one. */
export type ComponentListener = (name: string, registration: ComponentRegistration) => void

const announced = new Map<string, ComponentRegistration>()
const listeners = new Set<ComponentListener>()

/**
 * Announces a built-in component's metrics to every metrics collector. Called once per
 * component kind, when its module loads; a second announcement of one name is ignored, so a
 * module evaluated twice (two copies of the package) reports once per copy's collectors.
 * @internal
 */
export function reportComponentMetrics(name: string, registration: ComponentRegistration): void {
  if (announced.has(name)) return
  announced.set(name, registration)
  for (const listener of listeners) listener(name, registration)
}

/**
 * Calls `listener` for every component announced so far and for each one announced later,
 * until the returned function is called.
 * @internal
 */
export function onComponentMetrics(listener: ComponentListener): () => void {
  for (const [name, registration] of announced) listener(name, registration)
  listeners.add(listener)
  return () => listeners.delete(listener)
}
