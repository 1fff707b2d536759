import type { RequestListener } from 'node:http'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

import { LoadBalancer } from '../balancer/load-balancer'
import type { LoadBalancerOptions } from '../balancer/options'
import type { DistributedCacheOptions } from '../cache/cache-options'
import { abortable } from '../cache/abortable'
import { DistributedCache } from '../cache/distributed-cache'
import {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  OverloadedError,
  QueueFullError,
  RateLimitedError,
  UnavailableError,
} from '../core/errors'
import { knownOptions } from '../core/validate'
import type { NativeProcessPath } from '../front/native-front'
import { MetricsCollector } from '../monitoring/metrics-collector'
import type { RateLimitDecision } from '../ratelimit/decision'
import { RateLimiter } from '../ratelimit/rate-limiter'
import type { TaskQueueOptions } from '../queue/options'
import { TaskQueue } from '../queue/task-queue'
import { BackendClient } from './backend-client'
import { EncodedBodies } from './encoded-bodies'
import { FrontResults, type ResultPublisher } from './front-results'
import { listenNative, type LayerNativeListener, type LayerNativeListenOptions } from './native-listener'
import { layerOptionsFromEnv } from './from-env'
import { createLayerHandler, type HandledResult } from './http-handler'
import { openLayers, type LayerOutcome, type LayerStats } from './layer-metrics'
import {
  OPTIMIZATION_LAYER_DEFAULTS,
  PROCESS_REQUEST_OPTION_NAMES,
  resolveLayerOptions,
  resolveStopOptions,
  type LayerRateLimitOptions,
  type LayerStopOptions,
  type OptimizationLayerOptions,
  type Processor,
  type ProcessRequestOptions,
  type ResolvedLayerOptions,
} from './options'
import { defaultCacheKey } from './request-key'

/** The answer of {@link OptimizationLayer.health} and {@link OptimizationLayer.ready}. */
export interface LayerCheck {
  /** Every check passed. */
  ok: boolean
  /** Each check by name; those that do not apply (no Redis, no backends) are absent. */
  checks: Record<string, boolean>
}

/** What {@link OptimizationLayer.stop} reports. */
export interface LayerStopReport {
  /** Every request in flight finished on its own (none was aborted by the stop). */
  drained: boolean
  /** Queued or running work aborted because the drain timed out or was not asked for. */
  aborted: number
}

type LayerState = 'created' | 'started' | 'stopping' | 'stopped'

let unnamed = 0

/** How often `start()` looks at its dependencies while it waits for them. */
const START_POLL_MS = 25

/**
 * The optimization layer: one object composing optlayer's components in front of your work.
 * A request is limited by its user key (`RateLimiter`), looked up in the cache
 * (`DistributedCache`, identical concurrent requests run once), and on a miss computed by
 * your `processor` on a bounded `TaskQueue` (priority, timeout, retries; shed at once with
 * `OverloadedError` when full) or sent to an HTTP backend chosen by a `LoadBalancer`; the
 * result is cached and every request recorded in a `MetricsCollector`.
 *
 * @example
 * ```ts
 * const layer = new OptimizationLayer({
 *   processor: async (data: { n: number }, { signal }) => expensive(data.n, signal),
 *   rateLimit: { limit: 50, windowMs: 1000 },
 *   queue: { maxWorkers: 8, queueSize: 100, timeoutMs: 5_000 },
 * })
 * await layer.start()
 * const result = await layer.processRequest('user-42', { n: 7 }, { ttlMs: 60_000 })
 * http.createServer(layer.handler()).listen(8080)
 * await layer.stop({ timeoutMs: 10_000 })
 * ```
 */
export class OptimizationLayer<D = unknown, R = unknown> {
  /** Label of this layer in metrics. */
  readonly name: string
  /** The cache results are kept in. */
  readonly cache: DistributedCache<R>
  /** The per-user-key limiter; undefined with `rateLimit: false`. */
  readonly limiter: RateLimiter | undefined
  /** The queue work runs on. */
  readonly queue: TaskQueue
  /** The balancer of the backends; undefined when a processor does the work. */
  readonly balancer: LoadBalancer | undefined
  /** Where requests are recorded. */
  readonly metrics: MetricsCollector
  private readonly settings: ResolvedLayerOptions
  private readonly backend: BackendClient | undefined
  private readonly processor: Processor<D, R> | undefined
  /** `queueSize` of a queue the layer created; a ready-made queue does not tell its own. */
  private readonly queueSize: number | undefined
  /** Response bodies of recent results for `handler()`; undefined with `encodedBodyCacheBytes: 0`. */
  private readonly bodies: EncodedBodies | undefined
  /** What the layer created, closed by `stop()` in this order. */
  private readonly closers: (() => Promise<unknown>)[] = []
  private readonly inFlight = new Set<Promise<unknown>>()
  private readonly taskIds = new Set<string>()
  private readonly counts: Record<LayerOutcome, number> = { hit: 0, miss: 0, limited: 0, error: 0, shed: 0 }
  /** @internal For `handler()`: the native front its answers are published to, once attached. */
  frontResults: FrontResults | undefined
  private state: LayerState = 'created'
  /** Set once `stop()` aborts what is left: no more work is queued from then on. */
  private aborting = false
  private stopped: Promise<LayerStopReport> | undefined

  /**
   * Builds the layer and the components it is not given; {@link start} then waits for them.
   * Nothing is left open when it throws.
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option (of the
   *   layer or of a component it builds) is invalid or unknown; the message names it.
   * @throws {ConfigMismatchError} `code` `'ERR_OPTLAYER_CONFIG_MISMATCH'`: the cache's
   *   `l2.name` or the rate limiter's `name` is open in this process with other options.
   */
  constructor(options: OptimizationLayerOptions<D, R>) {
    this.settings = resolveLayerOptions(options as OptimizationLayerOptions<never, unknown>)
    this.processor = this.settings.processor as Processor<D, R> | undefined
    this.name = options.name ?? `layer-${++unnamed}`
    if (typeof this.name !== 'string' || this.name === '') {
      throw new InvalidArgumentError(`invalid name: expected a non-empty string, got ${String(options.name)}`)
    }
    const d = OPTIMIZATION_LAYER_DEFAULTS
    const bodyBytes = this.settings.encodedBodyCacheBytes
    this.bodies = bodyBytes === 0 ? undefined : new EncodedBodies(bodyBytes)
    try {
      this.metrics = this.own<MetricsCollector, never>(
        options.metrics,
        MetricsCollector,
        () => new MetricsCollector(),
        (m) => m.close(),
      )
      this.cache = this.own<DistributedCache<R>, Omit<DistributedCacheOptions, 'redis'>>(
        options.cache,
        DistributedCache,
        (given) => {
          const cacheOptions = given ?? d.cache
          refuseOwnRedis('cache', cacheOptions)
          return new DistributedCache<R>({
            name: this.name,
            ...cacheOptions,
            ...(options.redis === undefined ? {} : { redis: options.redis }),
          })
        },
        (c) => c.close(),
      )
      this.limiter =
        options.rateLimit === false
          ? undefined
          : this.own<RateLimiter, LayerRateLimitOptions>(
              options.rateLimit,
              RateLimiter,
              (given) => {
                refuseOwnRedis('rateLimit', given)
                return new RateLimiter({
                  ...d.rateLimit,
                  ...given,
                  ...(options.redis === undefined ? {} : { redis: options.redis }),
                })
              },
              (l) => l.close(),
            )
      this.queue = this.own<TaskQueue, Omit<TaskQueueOptions, 'workerModule'>>(
        options.queue,
        TaskQueue,
        (given) => {
          if (given !== undefined && 'workerModule' in given) {
            throw new InvalidArgumentError('invalid queue.workerModule: the processor runs in this process')
          }
          return new TaskQueue({ name: this.name, ...d.queue, ...given })
        },
        (q) => q.stop(),
      )
      this.queueSize = options.queue instanceof TaskQueue ? undefined : (options.queue?.queueSize ?? d.queue.queueSize)
      if (this.processor === undefined) {
        this.balancer = this.own<LoadBalancer, Omit<LoadBalancerOptions, 'backends'>>(
          options.balancer,
          LoadBalancer,
          (given) => {
            if (given !== undefined && 'backends' in given) {
              throw new InvalidArgumentError('invalid balancer.backends: give them as the layer option backends')
            }
            return new LoadBalancer({ name: this.name, ...given, backends: options.backends ?? [] })
          },
          (b) => b.close(),
        )
        const backend = new BackendClient(
          this.balancer,
          this.settings.backendPath,
          this.settings.backendAttempts,
          options.upstream ?? d.upstream,
          this.settings.maxBackendBodyBytes,
        )
        this.closers.push(() => backend.close())
        this.backend = backend
      } else if (options.balancer !== undefined || options.upstream !== undefined) {
        throw new InvalidArgumentError('invalid options: balancer and upstream apply to backends, not to a processor')
      }
    } catch (error) {
      // What was built before the failure is closed; the option error is what the caller needs.
      this.closeOwned().catch(() => {})
      throw error
    }
    // Last: a constructor that throws leaves nothing for the metrics to read.
    openLayers.add(this)
  }

  /**
   * A layer configured by environment variables (see `layerOptionsFromEnv`), `overrides` winning.
   * @throws {ConfigError} a variable is invalid; the message names it
   */
  static fromEnv<D = unknown, R = unknown>(
    env: Readonly<Record<string, string | undefined>> = process.env,
    overrides: OptimizationLayerOptions<D, R> = {},
  ): OptimizationLayer<D, R> {
    return new OptimizationLayer<D, R>(layerOptionsFromEnv(env, overrides))
  }

  /**
   * Waits for what the layer depends on, then marks it started: {@link ready} reports it ready
   * from then on (while its dependencies are). Waited for, up to `startTimeoutMs`: Redis
   * reachable when `redis` is given, and at least one available backend when there are
   * backends. Backends count as available until the balancer's health checks or outlier
   * detection say otherwise (so that a balancer without health checks still routes): `start()`
   * catches backends known to be down, not those not yet checked. The components run from construction (the balancer's health checks, the cache's
   * Redis connection), so requests are served before too. Idempotent once it succeeded.
   * @throws {UnavailableError} a dependency was still out of reach after `startTimeoutMs`; the
   *   message names it, and the layer stays unstarted (call `start()` again, or `stop()`)
   * @throws {ClosedError} after {@link stop}
   */
  async start(): Promise<void> {
    this.refuseIfStopped()
    if (this.state === 'started') return
    const deadline = performance.now() + this.settings.startTimeoutMs
    // Redis counts as reachable until a connection fails: first let the cache try to connect
    // (a connection still pending at the deadline, to a host that does not answer, is a failure).
    const connectSettled = await withinMs(this.cache.ready(), this.settings.startTimeoutMs)
    for (;;) {
      const missing = this.unreachableDependencies(connectSettled)
      if (missing.length === 0) break
      if (performance.now() >= deadline) {
        throw new UnavailableError(
          `optimization layer ${this.name} did not start within ${this.settings.startTimeoutMs} ms: ${missing.join(' and ')} out of reach`,
        )
      }
      // The cache and the balancer report their state but announce no change of it: poll.
      await sleep(START_POLL_MS)
      this.refuseIfStopped()
    }
    this.state = 'started'
  }

  /**
   * Runs one request through the pipeline: rate limit by `userKey` → cache lookup (key from
   * `userKey` and a digest of `data`, or `cacheKey`) → on a miss the work (processor on the
   * queue, or a backend) → result cached with `ttlMs` → recorded in the metrics. Identical
   * requests in flight at once share one run.
   *
   * @throws {RateLimitedError} the user key is over its limit (`retryAfterMs` says when to retry)
   * @throws {OverloadedError} the queue is full: the request is shed at once
   * @throws {TimeoutError} the work ran past the queue's `timeoutMs`
   * @throws {NoBackendError} no backend could be picked or none answered
   * @throws {BackendResponseError} a backend answered 4xx (not retried: its `status` and `body`
   *   are its answer), or with a body larger than `maxBackendBodyBytes`
   * @throws {AbortError} `signal` aborted
   * @throws {ClosedError} the layer is stopping or stopped
   * @throws whatever the processor threw (after its retries)
   */
  async processRequest(userKey: string, data: D, options: ProcessRequestOptions = {}): Promise<R> {
    return (await this.processRecorded(userKey, data, options)).result
  }

  /** @internal For `handler()`: {@link processRequest}, telling its cache key and whether the result came from the cache. */
  async processRecorded(userKey: string, data: D, options: ProcessRequestOptions = {}): Promise<HandledResult<R>> {
    if (this.closing) {
      this.counts.shed++
      throw new ClosedError(`optimization layer ${this.name} is stopping: no request accepted`)
    }
    return this.recorded(performance.now(), this.pipeline(userKey, data, options))
  }

  /**
   * @internal For `handler()`: {@link processRecorded}, answered at once when nothing needs an
   * await (no limiter or an in-process one, and the result in the local tiers), so that such a
   * hit pays no promise and no `AbortController`: `signal` is asked for only by a request that
   * must wait. Throws what processRecorded rejects with.
   */
  processRecordedNow(
    userKey: string,
    data: D,
    signal: () => AbortSignal,
  ): HandledResult<R> | Promise<HandledResult<R>> {
    if (this.closing || (this.limiter !== undefined && !this.limiter.decidesInProcess)) {
      return this.processRecorded(userKey, data, { signal: signal() })
    }
    const started = performance.now()
    let key: string
    let answer: { value: unknown } | Promise<unknown>
    let ran = false
    try {
      checkUserKey(userKey)
      if (this.limiter !== undefined) this.admit(this.limiter.allowSync(userKey))
      key = this.keyOf(userKey, data, undefined)
      answer = this.cache.getOrLoadNow(key, () => {
        ran = true
        return this.compute(userKey, data, {})
      })
    } catch (error) {
      this.recordOutcome(outcomeOf(error), started)
      throw error
    }
    if (answer instanceof Promise) {
      const waited = abortable(answer, signal()).then((value) => ({ value: value as R, key, ran }))
      return this.recorded(started, waited)
    }
    this.recordOutcome('hit', started)
    return { result: answer.value as R, cache: 'hit', key }
  }

  /** Waits for a request's pipeline, keeping it in flight meanwhile, and records how it ended. */
  private async recorded(started: number, work: Promise<PipelineResult<R>>): Promise<HandledResult<R>> {
    this.inFlight.add(work)
    let outcome: LayerOutcome = 'error'
    try {
      const { value, key, ran } = await work
      outcome = ran ? 'miss' : 'hit'
      return { result: value, cache: outcome, key }
    } catch (error) {
      outcome = outcomeOf(error)
      throw error
    } finally {
      this.inFlight.delete(work)
      this.recordOutcome(outcome, started)
    }
  }

  /** Counts a finished request by outcome and records its latency. */
  private recordOutcome(outcome: LayerOutcome, started: number): void {
    this.counts[outcome]++
    if (!this.metrics.closed) {
      this.metrics.recordRequest(performance.now() - started, outcome === 'hit' || outcome === 'miss')
    }
  }

  /**
   * A `node:http` request listener for a server of yours. The body of a POST is the data, read
   * by its `Content-Type`: JSON (`application/json`, `*+json`), MessagePack
   * (`application/msgpack`, `application/x-msgpack`, `application/vnd.msgpack`) or raw bytes
   * (`application/octet-stream`: the data is a Buffer). The result is answered in the
   * request's format unless `Accept` prefers another of these (a Buffer result always as
   * `application/octet-stream`), compressed (zstd, br, gzip, deflate) when `Accept-Encoding`
   * allows and it is at least `compressMinBytes`, with `Vary: Accept-Encoding`. The user key
   * comes from the `userKeyHeader` header (else the client address). Every response carries
   * `X-Request-Id` (the client's when it sent a valid one, else a new UUID), and `log` gets
   * one entry per request. The bodies of recent results are kept (`encodedBodyCacheBytes`),
   * so that a cache hit is not serialized and compressed again.
   *
   * Errors become statuses with a JSON body `{ error, message }`: 429 (with `Retry-After` and
   * `RateLimit-*`), 503 overloaded or stopping (with `Retry-After`), 504 timeout, 502 no
   * backend or a backend body past `maxBackendBodyBytes`, a backend's own 4xx status and body
   * (relayed as it was), 413 body too large, 415 unsupported `Content-Type`, 400 malformed
   * body or invalid user key (empty, over 512 bytes, control characters), 406 when
   * `Accept-Encoding` refuses every coding and identity, 405 not a POST, 500 otherwise (no
   * internal message is sent); nothing at all when the client went away.
   */
  handler(): RequestListener {
    return createLayerHandler(this, this.settings, this.bodies)
  }

  /** Liveness: the process is up and the layer not stopped. */
  health(): LayerCheck {
    const checks = { running: !this.closing }
    return { ok: checks.running, checks }
  }

  /**
   * Readiness: started and not stopping (`started`, `accepting`), Redis reachable (when the cache uses it), at least
   * one available backend (when there are backends), and room in the queue.
   */
  ready(): LayerCheck {
    const checks: Record<string, boolean> = { started: this.state !== 'created', accepting: !this.closing }
    const l3 = this.closing ? undefined : this.cache.stats().l3
    if (l3 !== undefined) checks.redis = l3.available
    if (this.balancer !== undefined && !this.closing) checks.backends = this.balancer.stats().available > 0
    // A ready-made queue does not tell its queueSize: only its being open is checked then.
    checks.queue = !this.queue.closing && !this.saturated()
    return { ok: Object.values(checks).every(Boolean), checks }
  }

  /** Requests by outcome and in flight, those a native front answered for the handler included. */
  stats(): LayerStats {
    const requests = { ...this.counts }
    this.frontResults?.addCounts(requests)
    return { requests, inFlight: this.inFlight.size }
  }

  /**
   * The handler at `path` as a native front answers it: from the cache's L2 store, limited by
   * the rate limiter's native store. Undefined when the front cannot answer for the handler:
   * no L2, a limiter that does not decide in process (Redis-backed, adaptive), an access log
   * (the front writes none), or the layer stopping. Bodies the front reads before deciding
   * are bounded by `maxBodyBytes` and 64 KiB. @internal
   */
  nativeProcessPath(path: string): NativeProcessPath | undefined {
    const store = this.cache.nativeL2()
    const limiter = this.limiter?.nativeStore()
    if (this.closing || this.settings.log !== undefined || store === undefined) return undefined
    if (this.limiter !== undefined && limiter === undefined) return undefined
    return {
      path,
      store,
      userKeyHeader: this.settings.userKeyHeader,
      maxBodyBytes: Math.min(this.settings.maxBodyBytes, 64 * 1024),
      ...(this.limiter === undefined ? {} : { rateLimit: { limiter, limit: this.limiter.quota.limit } }),
    }
  }

  /**
   * Serves {@link handler} at `path` (default `/process`) behind the native HTTP front on
   * `port` (default 8080), with `/health` and `/ready`: a request equal to one the handler
   * answered (user key, `Content-Type`, `Accept`, `Accept-Encoding`, body) is answered by the
   * front itself, without entering JavaScript, while its result stays unchanged and fresh in
   * the cache's L2 store, after the rate limit; everything else reaches the handler. With an
   * access log, no L2 or a limiter that decides elsewhere (Redis, adaptive) every request
   * reaches the handler. The rest of `options` are the front's (`NativeFrontOptions`).
   * `close()` on what it resolves with closes the listener, not the layer.
   *
   * @example
   * ```ts
   * const listener = await layer.listenNative({ port: 8080 })
   * // ... POST http://host:8080/process
   * await listener.close()
   * await layer.stop()
   * ```
   */
  listenNative(options?: LayerNativeListenOptions): Promise<LayerNativeListener> {
    return listenNative(this, options)
  }

  /**
   * Publishes the handler's answers to `front` (placed with {@link nativeProcessPath}), which
   * answers equal requests itself from then on; its answers count in {@link stats}. @internal
   */
  attachFront(front: ResultPublisher): void {
    this.frontResults = new FrontResults(front)
    if (this.closing) this.frontResults.close()
  }

  /**
   * Stops: new requests reject with `ClosedError` at once; with `drain` (the default) the
   * requests in flight, queued ones included, finish within `timeoutMs`, and what is left then
   * (everything, without `drain`) is aborted and rejects with `ClosedError`. Then what the layer
   * created is closed (its queue, limiter, cache and their Redis clients, balancer, upstream
   * pools, metrics collector); ready-made components are left open. Idempotent: every call
   * returns the first call's stop.
   */
  stop(options: LayerStopOptions = {}): Promise<LayerStopReport> {
    if (this.stopped !== undefined) return this.stopped
    let checked: Required<LayerStopOptions>
    try {
      checked = resolveStopOptions(options, this.settings.stopTimeoutMs)
    } catch (error) {
      // Not remembered as the stop: a call with valid options can still stop the layer.
      return Promise.reject(error)
    }
    this.state = 'stopping'
    this.frontResults?.close()
    this.stopped = this.shutdown(checked)
    return this.stopped
  }

  /** @internal For `handler()`: the limit of the rate limiter, for the `RateLimit-Limit` header. */
  get rateLimit(): number | undefined {
    return this.limiter?.quota.limit
  }

  /** The dependencies {@link start} waits for that are out of reach now. */
  private unreachableDependencies(redisConnectSettled: boolean): string[] {
    const missing: string[] = []
    const l3 = this.cache.stats().l3
    if (l3 !== undefined && (!redisConnectSettled || !l3.available)) missing.push('Redis')
    if (this.balancer !== undefined && this.balancer.stats().available === 0) missing.push('every backend')
    return missing
  }

  private refuseIfStopped(): void {
    if (this.closing) throw new ClosedError(`optimization layer ${this.name} is stopped`)
  }

  /** @internal */
  get closing(): boolean {
    return this.state === 'stopping' || this.state === 'stopped'
  }

  private async pipeline(userKey: string, data: D, options: ProcessRequestOptions): Promise<PipelineResult<R>> {
    knownOptions('processRequest options', options, PROCESS_REQUEST_OPTION_NAMES)
    checkUserKey(userKey)
    const { signal } = options
    if (signal?.aborted) throw new AbortError('the request was aborted')
    if (this.limiter !== undefined) {
      // An in-process limiter decides without an await (a Redis-backed one cannot).
      this.admit(this.limiter.decidesInProcess ? this.limiter.allowSync(userKey) : await this.limiter.allow(userKey))
    }
    const key = this.keyOf(userKey, data, options.cacheKey)
    let ran = false
    const value = await this.cache.getOrLoad(
      key,
      () => {
        ran = true
        return this.compute(userKey, data, options)
      },
      { ttlMs: options.ttlMs, signal },
    )
    return { value: value as R, key, ran }
  }

  /** Throws `RateLimitedError` for a request the limiter refused. */
  private admit(decision: RateLimitDecision): void {
    if (!decision.allowed) {
      throw new RateLimitedError(`rate limit exceeded; retry in ${decision.retryAfterMs} ms`, {
        retryAfterMs: decision.retryAfterMs,
        resetMs: decision.resetMs,
      })
    }
  }

  /** The cache key of a request: the call's own, else the layer's `cacheKey`, else user key and data digest. */
  private keyOf(userKey: string, data: D, given: string | undefined): string {
    if (given !== undefined) return given
    const custom = this.settings.cacheKey as ((userKey: string, data: D) => string) | undefined
    return custom === undefined ? defaultCacheKey(userKey, data) : custom(userKey, data)
  }

  /** The work of a miss, on the queue. */
  private async compute(userKey: string, data: D, options: ProcessRequestOptions): Promise<R> {
    if (this.aborting) throw new ClosedError(`optimization layer ${this.name} stopped before the request ran`)
    let id: string
    let result: Promise<R>
    try {
      const handle = this.queue.submit<undefined, R>({
        name: this.name,
        priority: options.priority,
        run: (_args, signal, context) =>
          this.backend !== undefined
            ? (this.backend.send(data, signal, userKey) as Promise<R>)
            : (this.processor as Processor<D, R>)(data, { userKey, signal, attempt: context.attempt }),
      })
      id = handle.id
      result = handle.result
    } catch (error) {
      if (error instanceof QueueFullError) {
        throw new OverloadedError(`optimization layer ${this.name} is overloaded: its queue is full`, {
          retryAfterMs: this.settings.overloadRetryAfterMs,
          cause: error,
        })
      }
      throw error
    }
    this.taskIds.add(id)
    try {
      return await result
    } catch (error) {
      if (this.aborting && error instanceof AbortError) {
        throw new ClosedError(`optimization layer ${this.name} stopped before the request finished`, { cause: error })
      }
      throw error
    } finally {
      this.taskIds.delete(id)
    }
  }

  private saturated(): boolean {
    if (this.queueSize === undefined) return false
    const depth = this.queue.stats().depth
    return depth.Critical + depth.High + depth.Normal + depth.Low >= this.queueSize
  }

  private async shutdown({ drain, timeoutMs }: Required<LayerStopOptions>): Promise<LayerStopReport> {
    let drained = this.inFlight.size === 0 || (drain && (await settleWithin([...this.inFlight], timeoutMs)))
    this.aborting = true
    let aborted = 0
    for (const id of [...this.taskIds]) if (this.queue.cancel(id)) aborted++
    if (aborted > 0) drained = false
    // Cancelled work rejects at once; what is left waits on calls bounded by their own timeouts.
    await Promise.allSettled([...this.inFlight])
    openLayers.delete(this)
    try {
      await this.closeOwned()
    } finally {
      this.state = 'stopped'
    }
    return { drained, aborted }
  }

  /** Closes what the layer created; the first failure is thrown once every close was tried. */
  private async closeOwned(): Promise<void> {
    const results = await Promise.allSettled(this.closers.splice(0).map((close) => close()))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  }

  /**
   * The component given ready-made (left open by `stop`), or one built from the given options
   * (closed by `stop`).
   */
  private own<C, O>(
    given: C | O | undefined,
    Class: abstract new (...args: never[]) => object,
    build: (options: O | undefined) => C,
    close: (component: C) => Promise<unknown>,
  ): C {
    if (given instanceof Class) return given as C
    const component = build(given as O | undefined)
    this.closers.push(() => close(component))
    return component
  }
}

function refuseOwnRedis(what: string, options: object | undefined): void {
  if (options !== undefined && options !== null && 'redis' in options) {
    throw new InvalidArgumentError(`invalid ${what}.redis: give Redis once, as the layer option redis`)
  }
}

/** What a request's pipeline ends with: the result, its cache key, and whether the work ran for it. */
interface PipelineResult<R> {
  value: R
  key: string
  ran: boolean
}

function checkUserKey(userKey: string): void {
  if (typeof userKey !== 'string' || userKey === '') {
    throw new InvalidArgumentError(`invalid userKey: expected a non-empty string, got ${String(userKey)}`)
  }
}

function outcomeOf(error: unknown): LayerOutcome {
  if (error instanceof RateLimitedError) return 'limited'
  if (error instanceof OverloadedError || error instanceof ClosedError) return 'shed'
  return 'error'
}

/** Waits for `promise`, but no longer than `ms`: true when it settled in time. */
async function withinMs(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController()
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      sleep(ms, false, { signal: timer.signal }),
    ])
  } finally {
    timer.abort()
  }
}

/** True when every promise settled within `ms`. */
async function settleWithin(promises: readonly Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => {
    if (ms !== Infinity) timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true), timedOut])
  } finally {
    clearTimeout(timer)
  }
}
