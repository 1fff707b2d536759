/**
 * Steady HTTP load for the chaos scenarios: requests from a generator sent over undici keep-alive connections,
 * either closed-loop (a fixed number of callers, each sending its next request when the last one settles, at once or
 * after a pause) or open-loop (a fixed rate whatever the answers, as overload needs). Every outcome is counted in
 * 100 ms buckets so a scenario can say when failures started and when service recovered; latencies of served
 * requests give percentiles.
 */
import { Pool } from 'undici'

/** One request of the load. */
export interface LoadRequest {
  method: 'GET' | 'POST' | 'HEAD'
  path: string
  headers?: Record<string, string>
  body?: string
}

/** How a request ended. `shed`: a 503 with `Retry-After` (the gateway's early refusal); `failed`: anything else. */
export type Outcome = 'ok' | 'shed' | 'limited' | 'failed'

/** Options of {@link Load.start}. */
export interface LoadOptions {
  origin: string
  /** The request to send `n`-th (n from 0). */
  next(n: number): LoadRequest
  /** Closed loop: this many callers. */
  callers?: number
  /**
   * Closed loop: each caller waits about this long after an answer before its next request (default 0: at once), drawn
   * from half to one and a half times it. Without a pause the callers saturate the host, and latency is then its queue;
   * with one, the load stays below capacity. The draw keeps callers apart: released together (a hung backend's
   * timeouts free them at once), equal pauses would keep them sending in bursts.
   */
  pauseMs?: number
  /** Open loop: this many requests a second (callers is then ignored). */
  ratePerSecond?: number
  /** Connections of the pool (default: callers, or 64 in open loop). */
  connections?: number
  /** A request not answered whole within this counts as failed (default 5,000 ms). */
  timeoutMs?: number
  /** Open loop: past this many requests outstanding, a tick sends nothing (counted as `skipped`). */
  maxOutstanding?: number
  /** Told of every request as it settles: when it was sent and settled (ms since the load started) and how it ended. */
  observe?(sentMs: number, settledMs: number, outcome: Outcome): void
}

/** Counts of one 100 ms bucket. */
export interface Bucket {
  ok: number
  shed: number
  limited: number
  failed: number
}

/** What a load did, with everything a scenario reports. */
export interface LoadReport {
  sent: number
  ok: number
  shed: number
  limited: number
  failed: number
  /** Sent but never settled (must be 0: every request has a timeout). */
  lost: number
  /** Open loop: ticks' requests not sent because too many were outstanding. */
  skipped: number
  /** Failures by method and status or error code (`GET 502`, `POST ECONNRESET`). */
  failures: Record<string, number>
  /** Served requests' latency percentiles, ms. */
  p50: number
  p99: number
  /** The slowest request, served or not, ms. */
  maxMs: number
  /** How many served requests took longer than `ms`. */
  slowerThan(ms: number): number
  durationMs: number
}

const BUCKET_MS = 100

/** The mix most scenarios hold: four in five GETs hit the cache (500 paths), the rest reach a backend every time. */
export function cacheMix(n: number): LoadRequest {
  return n % 5 === 4 ? { method: 'GET', path: `/fresh/${n % 1000}` } : { method: 'GET', path: `/cached/${n % 500}` }
}

/** A running load; {@link stop} ends it and reports. */
export class Load {
  private readonly pool: Pool
  private readonly started = performance.now()
  private running = true
  private sent = 0
  private outstanding = 0
  private skipped = 0
  private readonly failures: Record<string, number> = {}
  private readonly buckets: Bucket[] = []
  private latencies = new Float64Array(1 << 16)
  private latencyCount = 0
  private maxMs = 0
  private readonly loops: Promise<void>[] = []
  private ticker: NodeJS.Timeout | undefined
  private settledAll: (() => void) | undefined
  private stopped: Promise<LoadReport> | undefined

  private constructor(private readonly options: LoadOptions) {
    const callers = options.callers ?? 64
    this.pool = new Pool(options.origin, {
      connections: options.connections ?? (options.ratePerSecond === undefined ? callers : 64),
      pipelining: 1,
      keepAliveTimeout: 30_000,
    })
  }

  /** Starts sending at once. */
  static start(options: LoadOptions): Load {
    const load = new Load(options)
    if (options.ratePerSecond !== undefined) load.openLoop(options.ratePerSecond)
    else for (let i = 0; i < (options.callers ?? 64); i++) load.loops.push(load.closedLoop())
    return load
  }

  /** Milliseconds since the load started. */
  now(): number {
    return performance.now() - this.started
  }

  /** The buckets so far (index i covers [i × 100, (i + 1) × 100) ms). */
  timeline(): readonly Bucket[] {
    return this.buckets
  }

  /** Counts so far of requests that ended in `outcome`. */
  private count(outcome: Outcome): number {
    let total = 0
    for (const bucket of this.buckets) total += bucket[outcome]
    return total
  }

  /** Requests that ended in `outcome` within [fromMs, toMs) (to the 100 ms bucket). */
  countBetween(outcome: Outcome, fromMs: number, toMs: number): number {
    let total = 0
    for (let i = Math.floor(fromMs / BUCKET_MS); i < Math.ceil(toMs / BUCKET_MS); i++)
      total += this.buckets[i]?.[outcome] ?? 0
    return total
  }

  /**
   * The time (ms since start) from which every bucket up to now has had no failure and at least `minOk` served
   * requests, searching from `fromMs`; undefined if the load never got there.
   */
  recoveredAt(fromMs: number, minOk = 1): number | undefined {
    let candidate: number | undefined
    const last = Math.floor(this.now() / BUCKET_MS) - 1
    for (let i = Math.floor(fromMs / BUCKET_MS); i <= last; i++) {
      const bucket = this.buckets[i] ?? { ok: 0, shed: 0, limited: 0, failed: 0 }
      if (bucket.failed === 0 && bucket.ok >= minOk) candidate ??= i * BUCKET_MS
      else candidate = undefined
    }
    return candidate
  }

  /**
   * The start (ms since start) of the first whole second that served at least `minPerSecond` with no failure;
   * undefined if none did. Unlike {@link recoveredAt}, one slow bucket later (a GC pause, the scheduler) is no relapse.
   */
  firstFullSecond(minPerSecond: number): number | undefined {
    const perSecond = 1000 / BUCKET_MS
    for (let i = 0; i + perSecond <= this.buckets.length; i++) {
      const second = this.buckets.slice(i, i + perSecond)
      const served = second.reduce((sum, bucket) => sum + bucket.ok, 0)
      if (served >= minPerSecond && second.every((bucket) => bucket.failed === 0)) return i * BUCKET_MS
    }
    return undefined
  }

  /** Stops sending, waits for the requests in flight (each bounded by its timeout) and reports; idempotent. */
  stop(): Promise<LoadReport> {
    this.stopped ??= this.finish()
    return this.stopped
  }

  private async finish(): Promise<LoadReport> {
    this.running = false
    clearInterval(this.ticker)
    await Promise.all(this.loops)
    if (this.outstanding > 0) {
      const timeoutMs = (this.options.timeoutMs ?? 5_000) + 2_000
      await new Promise<void>((resolve) => {
        this.settledAll = resolve
        setTimeout(resolve, timeoutMs).unref()
      })
    }
    const durationMs = this.now()
    await this.pool.destroy()
    const sorted = this.latencies.subarray(0, this.latencyCount).sort()
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
    return {
      sent: this.sent,
      ok: this.count('ok'),
      shed: this.count('shed'),
      limited: this.count('limited'),
      failed: this.count('failed'),
      lost: this.outstanding,
      skipped: this.skipped,
      failures: this.failures,
      p50: at(0.5),
      p99: at(0.99),
      maxMs: this.maxMs,
      slowerThan: (ms) => sorted.length - firstAbove(sorted, ms),
      durationMs,
    }
  }

  private async closedLoop(): Promise<void> {
    const pauseMs = this.options.pauseMs ?? 0
    while (this.running) {
      await this.send()
      if (pauseMs > 0 && this.running)
        await new Promise((resolve) => setTimeout(resolve, pauseMs * (0.5 + Math.random())))
    }
  }

  private openLoop(ratePerSecond: number): void {
    // Small groups, as independent clients arrive: at 5 ms ticks a 14k/s surge came in bursts of 70, and the
    // admitted requests' latency measured the burst more than the gateway.
    const tickMs = 1
    let due = 0
    let last = performance.now()
    this.ticker = setInterval(() => {
      const now = performance.now()
      due += ((now - last) * ratePerSecond) / 1000
      last = now
      for (; due >= 1; due--) {
        if (this.outstanding >= (this.options.maxOutstanding ?? 20_000)) this.skipped++
        else void this.send()
      }
    }, tickMs)
  }

  private async send(): Promise<void> {
    const request = this.options.next(this.sent++)
    const start = performance.now()
    this.outstanding++
    let outcome: Outcome
    try {
      const { status, retryAfter } = await this.exchange(request)
      outcome = classify(status, retryAfter)
      if (outcome === 'failed') this.fail(`${request.method} ${status}`)
    } catch (error) {
      outcome = 'failed'
      this.fail(`${request.method} ${(error as { code?: string }).code ?? (error as Error).name}`)
    }
    const end = performance.now()
    this.options.observe?.(start - this.started, end - this.started, outcome)
    this.outstanding--
    this.maxMs = Math.max(this.maxMs, end - start)
    if (outcome === 'ok') this.latency(end - start)
    const index = Math.floor((end - this.started) / BUCKET_MS)
    for (let i = this.buckets.length; i <= index; i++) this.buckets.push({ ok: 0, shed: 0, limited: 0, failed: 0 })
    const bucket = this.buckets[index]
    if (bucket !== undefined) bucket[outcome]++
    if (this.outstanding === 0 && !this.running) this.settledAll?.()
  }

  /**
   * One request, its body read and dropped. Through undici's handler API rather than `pool.request`: no stream
   * object per response, so the load generator, which shares the machine's cores with what it measures, takes less
   * of them.
   */
  private exchange(request: LoadRequest): Promise<{ status: number; retryAfter: boolean }> {
    const timeoutMs = this.options.timeoutMs ?? 5_000
    return new Promise((resolve, reject) => {
      let status = 0
      let retryAfter = false
      this.pool.dispatch(
        {
          method: request.method,
          path: request.path,
          headers: request.headers,
          body: request.body,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        {
          onRequestStart() {},
          onResponseStart(_controller, statusCode, headers) {
            if (statusCode < 200) return
            status = statusCode
            retryAfter = headers['retry-after'] !== undefined
          },
          onResponseData() {},
          onResponseEnd() {
            resolve({ status, retryAfter })
          },
          onResponseError(_controller, error) {
            reject(error)
          },
        },
      )
    })
  }

  private fail(reason: string): void {
    this.failures[reason] = (this.failures[reason] ?? 0) + 1
  }

  private latency(ms: number): void {
    if (this.latencyCount === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2)
      grown.set(this.latencies)
      this.latencies = grown
    }
    this.latencies[this.latencyCount++] = ms
  }
}

/** The index of the first value of ascending `sorted` above `ms` (its length if none). */
function firstAbove(sorted: Float64Array, ms: number): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((sorted[mid] as number) > ms) high = mid
    else low = mid + 1
  }
  return low
}

function classify(status: number, retryAfter: boolean): Outcome {
  if (status < 400) return 'ok'
  if (status === 503 && retryAfter) return 'shed'
  if (status === 429) return 'limited'
  return 'failed'
}
