import { Session } from 'node:inspector/promises'
import { setTimeout as sleep } from 'node:timers/promises'

import { ConfigError } from '../core/errors'

/** Profile formats: gzipped pprof protobuf (`@datadog/pprof`), or Chrome DevTools JSON (`node:inspector`). */
export type ProfileFormat = 'pprof' | 'devtools'

/** One profile ready to send. */
export interface ProfileFile {
  body: Buffer
  contentType: string
  /** File name suggested in `Content-Disposition`. */
  fileName: string
}

/** What the profiling server needs from a profiler. */
export interface ProfilerBackend {
  readonly format: ProfileFormat
  /** Starts heap sampling, so that a heap profile covers allocations from now on. */
  start(heapIntervalBytes: number): Promise<void>
  /** Profiles the CPU for `durationMs`; rejects with the signal's reason when aborted. */
  cpuProfile(durationMs: number, signal: AbortSignal): Promise<ProfileFile>
  /** The sampled live heap. */
  heapProfile(): Promise<ProfileFile>
  /** Stops sampling and releases the profiler. */
  stop(): Promise<void>
}

/** The part of `@datadog/pprof` used here (it ships no types we can depend on without installing it). */
interface DatadogPprof {
  time: { start(options: Record<string, unknown>): void; stop(): unknown; isStarted(): boolean }
  heap: { start(intervalBytes: number, stackDepth: number): void; stop(): void; profile(): unknown }
  encode(profile: unknown): Promise<Buffer>
}

/** Go's pprof samples at 100 Hz; so do we. */
const CPU_INTERVAL_MICROS = 10_000
const HEAP_STACK_DEPTH = 64

function loadDatadogPprof(): DatadogPprof | undefined {
  try {
    // Optional: resolved at run time so optlayer installs and works without it.
    return require('@datadog/pprof') as DatadogPprof
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined
    throw err
  }
}

/** Whether `@datadog/pprof` can be loaded here (it is an optional dependency with prebuilt binaries). */
export function pprofAvailable(): boolean {
  return loadDatadogPprof() !== undefined
}

class PprofBackend implements ProfilerBackend {
  readonly format = 'pprof'
  private heapStarted = false

  constructor(private readonly pprof: DatadogPprof) {}

  async start(heapIntervalBytes: number): Promise<void> {
    this.pprof.heap.start(heapIntervalBytes, HEAP_STACK_DEPTH)
    this.heapStarted = true
  }

  async cpuProfile(durationMs: number, signal: AbortSignal): Promise<ProfileFile> {
    const { time } = this.pprof
    try {
      // CPU time per sample needs context tracking; older builds refuse it, so fall back to wall time only.
      time.start({ intervalMicros: CPU_INTERVAL_MICROS, withContexts: true, collectCpuTime: true })
    } catch {
      time.start({ intervalMicros: CPU_INTERVAL_MICROS })
    }
    let profile: unknown
    try {
      await sleep(durationMs, undefined, { signal })
    } finally {
      profile = time.stop()
    }
    return { body: await this.pprof.encode(profile), contentType: 'application/octet-stream', fileName: 'cpu.pb.gz' }
  }

  async heapProfile(): Promise<ProfileFile> {
    const body = await this.pprof.encode(this.pprof.heap.profile())
    return { body, contentType: 'application/octet-stream', fileName: 'heap.pb.gz' }
  }

  async stop(): Promise<void> {
    if (this.pprof.time.isStarted()) this.pprof.time.stop()
    if (this.heapStarted) this.pprof.heap.stop()
    this.heapStarted = false
  }
}

class DevtoolsBackend implements ProfilerBackend {
  readonly format = 'devtools'
  private readonly session = new Session()

  async start(heapIntervalBytes: number): Promise<void> {
    this.session.connect()
    await this.session.post('HeapProfiler.startSampling', { samplingInterval: heapIntervalBytes })
  }

  async cpuProfile(durationMs: number, signal: AbortSignal): Promise<ProfileFile> {
    await this.session.post('Profiler.enable')
    await this.session.post('Profiler.setSamplingInterval', { interval: CPU_INTERVAL_MICROS })
    await this.session.post('Profiler.start')
    let result: { profile: unknown } | undefined
    try {
      await sleep(durationMs, undefined, { signal })
    } finally {
      result = await this.session.post('Profiler.stop')
      await this.session.post('Profiler.disable')
    }
    return {
      body: Buffer.from(JSON.stringify(result.profile)),
      contentType: 'application/json',
      fileName: 'cpu.cpuprofile',
    }
  }

  async heapProfile(): Promise<ProfileFile> {
    const { profile } = await this.session.post('HeapProfiler.getSamplingProfile')
    return { body: Buffer.from(JSON.stringify(profile)), contentType: 'application/json', fileName: 'heap.heapprofile' }
  }

  async stop(): Promise<void> {
    await this.session.post('HeapProfiler.stopSampling').catch(() => undefined)
    this.session.disconnect()
  }
}

/**
 * A profiler of the requested format; `'auto'` picks pprof when `@datadog/pprof` loads and
 * DevTools JSON otherwise. Asking for pprof without the package is a {@link ConfigError}.
 */
export function createProfilerBackend(format: ProfileFormat | 'auto'): ProfilerBackend {
  if (format === 'devtools') return new DevtoolsBackend()
  const pprof = loadDatadogPprof()
  if (pprof !== undefined) return new PprofBackend(pprof)
  if (format === 'pprof') {
    throw new ConfigError('profiling format "pprof" needs the @datadog/pprof package: npm install @datadog/pprof')
  }
  return new DevtoolsBackend()
}
