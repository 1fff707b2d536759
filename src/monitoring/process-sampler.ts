import {
  constants,
  monitorEventLoopDelay,
  performance,
  PerformanceObserver,
  type IntervalHistogram,
} from 'node:perf_hooks'

/** Kinds of garbage collection V8 reports. */
export type GcKind = 'minor' | 'major' | 'incremental' | 'weakcb'

/** Collections and pause time of one GC kind since the collector started. */
export interface GcKindTotals {
  /** Collections. */
  count: number
  /** Total pause, in milliseconds. */
  pauseMs: number
}

/** The process part of {@link MetricsCollector.getSystemMetrics}. */
export interface ProcessFigures {
  /** CPU used by the process over the rate window: `percent` of one core (200 = two cores busy). */
  cpu: { percent: number; userSeconds: number; systemSeconds: number; windowSeconds: number }
  /** `process.memoryUsage()`, in bytes. */
  memory: {
    rssBytes: number
    heapUsedBytes: number
    heapTotalBytes: number
    externalBytes: number
    arrayBuffersBytes: number
  }
  /**
   * Event-loop delay percentiles from `perf_hooks.monitorEventLoopDelay` over the last
   * `windowSeconds`, and event-loop utilization (0 to 1) over the rate window.
   */
  eventLoop: {
    delayP50Ms: number | null
    delayP99Ms: number | null
    delayMaxMs: number | null
    delayMeanMs: number | null
    utilization: number
    windowSeconds: number
  }
  /** Garbage collections and their pauses since the collector started, in total and by kind. */
  gc: { count: number; pauseMs: number; byKind: Record<GcKind, GcKindTotals> }
  /** `process.getActiveResourcesInfo()`: libuv requests, other handles (timers included), and counts by type. */
  resources: { handles: number; requests: number; byType: Record<string, number> }
}

const GC_KINDS: ReadonlyMap<number, GcKind> = new Map([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
])

/** libuv requests (as opposed to handles and timers) among `process.getActiveResourcesInfo()` names. */
const REQUEST_TYPE = /Req(Wrap|Callback)?$|Request$/

const ns = (value: number): number | null => (Number.isFinite(value) && value > 0 ? value / 1e6 : null)

/**
 * The process side of `getSystemMetrics()`: CPU and event-loop utilization over a sliding
 * window, event-loop delay from `perf_hooks.monitorEventLoopDelay`, GC pauses by kind from a
 * `PerformanceObserver`, memory and active resources.
 *
 * Event-loop delay comes from two monitors reset in turn, half a window apart: the one reset
 * longer ago always covers between half a window and a window of the most recent history,
 * so the figures are never stale and never from a nearly empty histogram.
 * @internal
 */
export class ProcessSampler {
  private readonly monitors: [IntervalHistogram, IntervalHistogram]
  /** When each monitor's current run began. */
  private readonly startedAt: [number, number]
  /** When each monitor is next reset: a window after its start, the second first after half a window. */
  private readonly resetDue: [number, number]
  private readonly gcTotals: Record<GcKind, GcKindTotals> = {
    minor: { count: 0, pauseMs: 0 },
    major: { count: 0, pauseMs: 0 },
    incremental: { count: 0, pauseMs: 0 },
    weakcb: { count: 0, pauseMs: 0 },
  }
  private readonly gcObserver: PerformanceObserver
  private readonly cpuSamples: {
    at: number
    usage: NodeJS.CpuUsage
    elu: ReturnType<typeof performance.eventLoopUtilization>
  }[] = []

  constructor(
    private readonly windowMs: number,
    resolutionMs: number,
  ) {
    const now = performance.now()
    this.monitors = [
      monitorEventLoopDelay({ resolution: resolutionMs }),
      monitorEventLoopDelay({ resolution: resolutionMs }),
    ]
    for (const monitor of this.monitors) monitor.enable()
    this.startedAt = [now, now]
    // The second monitor's first run is half as long, so that the two stay half a window apart.
    this.resetDue = [now + windowMs, now + windowMs / 2]
    this.gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = GC_KINDS.get((entry as { detail?: { kind?: number } }).detail?.kind ?? -1)
        if (kind === undefined) continue
        this.gcTotals[kind].count++
        this.gcTotals[kind].pauseMs += entry.duration
      }
    })
    this.gcObserver.observe({ entryTypes: ['gc'] })
    this.sample()
  }

  /** Rotates the event-loop monitors and keeps CPU samples for the window; call about every second. */
  sample(): void {
    const now = performance.now()
    for (const i of [0, 1] as const) {
      if (now >= this.resetDue[i]) {
        this.monitors[i].reset()
        this.startedAt[i] = now
        this.resetDue[i] = now + this.windowMs
      }
    }
    this.cpuSamples.push({ at: now, usage: process.cpuUsage(), elu: performance.eventLoopUtilization() })
    while ((this.cpuSamples[1]?.at ?? Infinity) <= now - this.windowMs) this.cpuSamples.shift()
  }

  /** The figures now. */
  read(): ProcessFigures {
    this.sample()
    const now = performance.now()
    const older = this.startedAt[0] <= this.startedAt[1] ? 0 : 1
    const monitor = this.monitors[older]
    const base = this.cpuSamples[0]
    const usage = process.cpuUsage()
    const wallMs = base === undefined ? 0 : now - base.at
    const cpuMs = base === undefined ? 0 : (usage.user - base.usage.user + usage.system - base.usage.system) / 1000
    const memory = process.memoryUsage()
    const byType: Record<string, number> = {}
    let requests = 0
    let handles = 0
    for (const type of process.getActiveResourcesInfo()) {
      byType[type] = (byType[type] ?? 0) + 1
      if (REQUEST_TYPE.test(type)) requests++
      else handles++
    }
    let gcCount = 0
    let gcPauseMs = 0
    const byKind = {} as Record<GcKind, GcKindTotals>
    for (const [kind, totals] of Object.entries(this.gcTotals) as [GcKind, GcKindTotals][]) {
      byKind[kind] = { ...totals }
      gcCount += totals.count
      gcPauseMs += totals.pauseMs
    }
    return {
      cpu: {
        // Of one core: a process busy on two threads reads 200.
        percent: wallMs > 0 ? (100 * cpuMs) / wallMs : 0,
        userSeconds: usage.user / 1e6,
        systemSeconds: usage.system / 1e6,
        windowSeconds: wallMs / 1000,
      },
      memory: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        heapTotalBytes: memory.heapTotal,
        externalBytes: memory.external,
        arrayBuffersBytes: memory.arrayBuffers,
      },
      eventLoop: {
        delayP50Ms: monitor.count > 0 ? ns(monitor.percentile(50)) : null,
        delayP99Ms: monitor.count > 0 ? ns(monitor.percentile(99)) : null,
        delayMaxMs: monitor.count > 0 ? ns(monitor.max) : null,
        delayMeanMs: monitor.count > 0 ? ns(monitor.mean) : null,
        utilization:
          base === undefined
            ? 0
            : performance.eventLoopUtilization(performance.eventLoopUtilization(), base.elu).utilization,
        windowSeconds: (now - this.startedAt[older]) / 1000,
      },
      gc: { count: gcCount, pauseMs: gcPauseMs, byKind },
      resources: { handles, requests, byType },
    }
  }

  /** Stops the monitors and the GC observer. */
  close(): void {
    for (const monitor of this.monitors) monitor.disable()
    this.gcObserver.disconnect()
  }
}
