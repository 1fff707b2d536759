import { fromNativeError } from '../core/errors'
import { native } from '../core/native'
import { booleanOption, knownOptions, optionNames, wholeNumber } from '../core/validate'
import { openFronts } from './front-metrics'

/** Options of a {@link NativeFront}. */
export interface NativeFrontOptions {
  /** Runtime threads serving connections (`NATIVE_FRONT_THREADS`). @default 1 */
  threads?: number
  /** `SO_REUSEPORT`: each worker process runs its own front on the one port. @default false */
  reusePort?: boolean
  /** Longest request head in bytes; longer ones get 431. @default 16384 */
  maxHeaderBytes?: number
  /**
   * Time (ms) a request head may take to arrive, from its first byte (for a connection's
   * first request, from its opening): slowloris. @default 60000
   */
  headersTimeoutMs?: number
  /**
   * Time (ms) a kept-alive connection waits for its next request before it is closed; sent
   * as `Keep-Alive: timeout=<s>`. @default 5000
   */
  keepAliveTimeoutMs?: number
  /** Open client connections; more wait in the listen backlog. @default 10000 */
  maxConnections?: number
  /** Published hits kept; once full the table starts over. @default 65536 */
  maxForms?: number
  /** Bytes of published hits kept (bodies included). @default 64 MiB */
  maxFormBytes?: number
  /** How long (ms) `close()` lets requests in flight finish before cutting them. @default 10000 */
  closeGraceMs?: number
}

/** Defaults of {@link NativeFrontOptions}. */
export const NATIVE_FRONT_DEFAULTS = Object.freeze({
  threads: 1,
  reusePort: false,
  maxHeaderBytes: 16_384,
  headersTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 10_000,
  maxForms: 65_536,
  maxFormBytes: 64 * 1024 * 1024,
  closeGraceMs: 10_000,
})

/** The smallest `maxHeaderBytes`: hyper reads a request head in buffers of at least 8 KiB. */
export const NATIVE_FRONT_MIN_HEADER_BYTES = 8192

/** The most latency a front's adaptive bound tolerates over the unqueued figure, in percent. @internal */
export const LATENCY_TOLERANCE_MAX_PERCENT = 1_000

/** The factor the native bound keeps latency within, or undefined for a fixed bound. */
function latencyTolerance(admission: NativeAdmission | undefined): number | undefined {
  const percent = admission?.latencyTolerancePercent ?? 0
  if (percent === 0) return undefined
  return 1 + wholeNumber('latencyTolerancePercent', percent, 0, LATENCY_TOLERANCE_MAX_PERCENT, 0) / 100
}

const OPTION_NAMES = optionNames<NativeFrontOptions>()(NATIVE_FRONT_DEFAULTS, {})

/** A hit the gateway answered, for the front to answer alike: see `crates/front/src/forms.rs`. */
export type PublishedHit = Parameters<InstanceType<typeof native.NativeFront>['publish']>[0]

/** A result the layer's handler answered, for the front to answer alike: see `crates/front/src/process_path.rs`. */
export type PublishedResult = Parameters<InstanceType<typeof native.NativeFront>['publishResult']>[0]

/** Counters of a {@link NativeFront}. */
export type NativeFrontStats = ReturnType<InstanceType<typeof native.NativeFront>['stats']>

/** Where it listens, where it relays, and which store it answers from. @internal */
export interface NativeFrontPlacement {
  port: number
  host: string
  /** The Unix socket the gateway's listener is on. */
  upstream: string
  /** The gateway cache's native L2 store, read for hits; none: every request is relayed. */
  store?: unknown
  /** The gateway's rate limit, applied to the hits the front answers. */
  rateLimit?: NativeRateLimit
  /** A native latency histogram (milliseconds) the front records its own answers into. */
  latency?: unknown
  /** The gateway's bound on requests in flight, held by the front on what it relays. */
  admission?: NativeAdmission
  /** The layer's handler path, answered from the results the layer publishes. */
  process?: NativeProcessPath
}

/**
 * An `OptimizationLayer`'s handler as the native front answers it: a request equal to one
 * the handler answered (user key, `Content-Type`, `Accept`, `Accept-Encoding`, body) gets the
 * same answer while the layer cache's L2 store holds the record of its result. @internal
 */
export interface NativeProcessPath {
  /** The path the handler serves. */
  path: string
  /** The layer cache's native L2 store (`DistributedCache.nativeL2()`). */
  store: unknown
  /** The request field naming the user, lower-case; without it the user is the client address. */
  userKeyHeader: string
  /** Requests with longer bodies are relayed unread. */
  maxBodyBytes: number
  /** The layer's rate limit per user key, when it decides natively. */
  rateLimit?: { limiter: unknown; limit: number }
}

/**
 * A gateway's bound on requests in flight as the native front holds it: past `maxInFlight`
 * relayed requests, the front answers the gateway's 503 `overloaded` itself, so that a
 * surge's excess never costs the gateway's event loop a turn. @internal
 */
export interface NativeAdmission {
  /** Requests relayed at once (until their response has been sent on). */
  maxInFlight: number
  /** The refusal's `Retry-After`, in milliseconds (sent in whole seconds, at least 1). */
  retryAfterMs: number
  /** Paths never refused: the probes and the routes the server answers itself. */
  exemptPaths?: readonly string[]
  /** Above 0: the bound follows latency below `maxInFlight`, the mean kept within this many percent over the unqueued figure. */
  latencyTolerancePercent?: number
}

/** A gateway's rate limit as the native front applies it. @internal */
export interface NativeRateLimit {
  /** The limiter's native keyed store (`RateLimiter.nativeStore()`). */
  limiter: unknown
  /** The quota's limit: `RateLimit-Limit`. */
  limit: number
  /** The request field holding an API key, lower-case; without one the client address is the key. */
  apiKeyHeader: string
  /** `address/prefix` networks whose requests go to the gateway (it walks their `X-Forwarded-For`). */
  trustedProxies: readonly string[]
}

/**
 * The native HTTP/1.1 front: it owns the public port and its connections (hyper, on threads
 * of its own). A plain GET or HEAD the gateway has answered as a fresh hit and published
 * ({@link publish}) is answered natively while the L2 store still holds that response, and
 * so is a request to the layer's handler equal to one it answered ({@link publishResult});
 * every other request is relayed to the gateway's listener on a Unix socket, the client's
 * address in a header only that listener believes, and its response streamed back.
 */
export class NativeFront {
  private readonly front: InstanceType<typeof native.NativeFront>
  private readonly closeGraceMs: number
  /** The port it listens on. */
  readonly port: number
  private closed: Promise<void> | undefined
  private finalStats: NativeFrontStats | undefined
  /** Whether it applies a rate limit to the hits it answers. */
  readonly limits: boolean

  /**
   * Binds and starts at once.
   * @throws {InvalidArgumentError} `code` `'ERR_OPTLAYER_INVALID_ARGUMENT'`: an option is
   *   invalid or unknown; the message names it.
   */
  constructor(placement: NativeFrontPlacement, options: NativeFrontOptions = {}) {
    knownOptions('native front options', options, OPTION_NAMES)
    const d = NATIVE_FRONT_DEFAULTS
    const settings = {
      host: placement.host,
      port: placement.port,
      upstream: placement.upstream,
      reusePort: booleanOption('reusePort', options.reusePort, d.reusePort),
      threads: wholeNumber('threads', options.threads, 1, 64, d.threads),
      maxHeaderBytes: wholeNumber(
        'maxHeaderBytes',
        options.maxHeaderBytes,
        NATIVE_FRONT_MIN_HEADER_BYTES,
        1 << 20,
        d.maxHeaderBytes,
      ),
      headersTimeoutMs: wholeNumber('headersTimeoutMs', options.headersTimeoutMs, 1, 2 ** 31, d.headersTimeoutMs),
      keepAliveTimeoutMs: wholeNumber(
        'keepAliveTimeoutMs',
        options.keepAliveTimeoutMs,
        1,
        2 ** 31,
        d.keepAliveTimeoutMs,
      ),
      maxConnections: wholeNumber('maxConnections', options.maxConnections, 1, 2 ** 31, d.maxConnections),
      maxForms: wholeNumber('maxForms', options.maxForms, 1, 2 ** 31, d.maxForms),
      maxFormBytes: wholeNumber('maxFormBytes', options.maxFormBytes, 1, 2 ** 40, d.maxFormBytes),
      limit: placement.rateLimit?.limit,
      apiKeyHeader: placement.rateLimit?.apiKeyHeader,
      trustedProxies: placement.rateLimit?.trustedProxies.slice(),
      maxInFlight: placement.admission && wholeNumber('maxInFlight', placement.admission.maxInFlight, 1, 2 ** 31, 1),
      retryAfterMs: placement.admission?.retryAfterMs,
      exemptPaths: placement.admission?.exemptPaths?.slice(),
      latencyTolerance: latencyTolerance(placement.admission),
      processPath: placement.process?.path,
      userKeyHeader: placement.process?.userKeyHeader,
      maxProcessBodyBytes: placement.process?.maxBodyBytes,
      processLimit: placement.process?.rateLimit?.limit,
    }
    this.limits = placement.rateLimit !== undefined
    this.closeGraceMs = wholeNumber('closeGraceMs', options.closeGraceMs, 0, 2 ** 31, d.closeGraceMs)
    try {
      this.front = new native.NativeFront(
        settings,
        placement.store as InstanceType<typeof native.NativeCache> | undefined,
        placement.rateLimit?.limiter as InstanceType<typeof native.NativeRateLimiter> | undefined,
        placement.latency as InstanceType<typeof native.NativeHistogram> | undefined,
        placement.process?.store as InstanceType<typeof native.NativeCache> | undefined,
        placement.process?.rateLimit?.limiter as InstanceType<typeof native.NativeRateLimiter> | undefined,
      )
    } catch (error) {
      throw fromNativeError(error)
    }
    // Read once: the native getter answers 0 after close.
    this.port = this.front.port
    openFronts.add(this)
  }

  /** Adds or replaces a published hit. */
  publish(hit: PublishedHit): void {
    try {
      this.front.publish(hit)
    } catch (error) {
      throw fromNativeError(error)
    }
  }

  /**
   * Adds or replaces a published result of the layer's handler; false when the layer's L2
   * store no longer holds the result's record (nothing is published then).
   */
  publishResult(result: PublishedResult): boolean {
    try {
      return this.front.publishResult(result)
    } catch (error) {
      throw fromNativeError(error)
    }
  }

  /** Drops every published hit and result. */
  clear(): void {
    this.front.clear()
  }

  /** Relays every later request to the gateway, which answers as a closing gateway does. */
  setClosing(): void {
    this.front.setClosing()
  }

  /** Its counters; after {@link close}, those it had when closing began. */
  stats(): NativeFrontStats {
    return this.finalStats ?? this.front.stats()
  }

  /** Stops accepting, lets requests in flight finish within `closeGraceMs`, cuts the rest. Idempotent. */
  close(): Promise<void> {
    if (this.closed === undefined) {
      openFronts.delete(this)
      // Counters only grow: the figures from now on are these, then those at the end.
      this.finalStats = this.front.stats()
      this.closed = this.front.close(this.closeGraceMs).then((final) => {
        this.finalStats = final
      })
    }
    return this.closed
  }
}
