/** Stable codes of every error optlayer throws. Branch on `error.code`, not on messages. */
export type OptlayerErrorCode =
  | 'ERR_OPTLAYER_INVALID_ARGUMENT'
  | 'ERR_OPTLAYER_CORRUPT_INPUT'
  | 'ERR_OPTLAYER_OUTPUT_LIMIT'
  | 'ERR_OPTLAYER_ABORTED'
  | 'ERR_OPTLAYER_CONFIG'
  | 'ERR_OPTLAYER_INTERNAL'
  | 'ERR_OPTLAYER_COST_EXCEEDS_CAPACITY'
  | 'ERR_OPTLAYER_CONFIG_MISMATCH'
  | 'ERR_OPTLAYER_UNAVAILABLE'
  | 'ERR_OPTLAYER_CLOSED'
  | 'ERR_OPTLAYER_TIMEOUT'
  | 'ERR_OPTLAYER_NO_BACKEND'
  | 'ERR_OPTLAYER_CIRCUIT_OPEN'
  | 'ERR_OPTLAYER_QUEUE_FULL'
  | 'ERR_OPTLAYER_VALUE_TOO_LARGE'
  | 'ERR_OPTLAYER_NOT_SERIALIZABLE'
  | 'ERR_OPTLAYER_LEASE_LOST'
  | 'ERR_OPTLAYER_RATE_LIMITED'
  | 'ERR_OPTLAYER_OVERLOADED'
  | 'ERR_OPTLAYER_BACKEND_RESPONSE'
  | 'ERR_OPTLAYER_POOL_RELEASE'

const kBrand = Symbol.for('optlayer.error')

/**
 * Base class of optlayer's errors. `instanceof` works across duplicate copies of the
 * package (it checks a global brand and the code, not the prototype chain).
 */
export class OptlayerError extends Error {
  /** The stable code of this error class; undefined on the base class. */
  static readonly code: OptlayerErrorCode | undefined = undefined
  /** The stable code: one of {@link OptlayerErrorCode}. */
  readonly code: OptlayerErrorCode
  declare readonly [kBrand]: true

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    const code = (new.target as typeof OptlayerError).code
    this.code = code ?? 'ERR_OPTLAYER_INTERNAL'
    this.name = new.target.name
    Object.defineProperty(this, kBrand, { value: true })
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(kBrand in value)) return false
    return this.code === undefined || (value as OptlayerError).code === this.code
  }
}

/** An argument is of the wrong type or out of range. */
export class InvalidArgumentError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_INVALID_ARGUMENT' as const
}

/** Input to a decoder is corrupt, truncated or of another format. */
export class CorruptInputError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_CORRUPT_INPUT' as const
}

/** A decoder's output would exceed `maxOutputBytes`. */
export class OutputLimitError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_OUTPUT_LIMIT' as const
}

/** The operation was cancelled through its `AbortSignal`. */
export class AbortError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_ABORTED' as const
}

/** A configuration value (often an environment variable) is invalid; the message names it. */
export class ConfigError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_CONFIG' as const
}

/** A fault inside optlayer (a caught native panic, say). Please report it. */
export class InternalError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_INTERNAL' as const
}

/** A request costs more than a rate limiter can ever admit at once; waiting would not help. */
export class CostExceedsCapacityError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_COST_EXCEEDS_CAPACITY' as const
}

/** A named shared store is already open with another configuration. */
export class ConfigMismatchError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_CONFIG_MISMATCH' as const
}

/** A remote dependency (Redis) could not answer and no fallback was configured to. */
export class UnavailableError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_UNAVAILABLE' as const
}

/** The component was closed; it takes no more calls. */
export class ClosedError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_CLOSED' as const
}

/** An operation did not finish within its time limit; the message says what was waited for. */
export class TimeoutError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_TIMEOUT' as const
}

/** No backend can take the request: none configured, all ejected, open or draining. */
export class NoBackendError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_NO_BACKEND' as const
}

/**
 * A backend answered, but not with a result: a 4xx (the backend's verdict on the request,
 * carried as `status` and up to a bounded `body` so that it can be relayed), or a body larger
 * than the caller's limit (`status` undefined; nothing past the limit was read).
 */
export class BackendResponseError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_BACKEND_RESPONSE' as const
  /** The backend's 4xx status; undefined when its body was refused for its size. */
  readonly status: number | undefined
  /** The start of the backend's body (empty when refused for its size). */
  readonly body: Buffer
  /** The backend's `Content-Type`, when it sent one. */
  readonly contentType: string | undefined

  constructor(
    message: string,
    options: { status?: number; body?: Buffer; contentType?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause })
    this.status = options.status
    this.body = options.body ?? Buffer.alloc(0)
    this.contentType = options.contentType
  }
}

/** A circuit breaker is open and rejects calls until its next probe. */
export class CircuitOpenError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_CIRCUIT_OPEN' as const
}

/** A bounded queue is full and the caller chose not to wait (or waited past its limit). */
export class QueueFullError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_QUEUE_FULL' as const
}

/** A key or value exceeds a configured size limit. */
export class ValueTooLargeError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_VALUE_TOO_LARGE' as const
}

/** A value cannot be serialized (a function, a symbol, a cycle the serializer refuses, undefined). */
export class NotSerializableError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_NOT_SERIALIZABLE' as const
}

/**
 * The abort reason of a durable task whose consumer lost its claim (Redis was out of reach
 * past the visibility timeout, and the task went to another consumer): stop, its outcome is
 * no longer this run's to record.
 */
export class LeaseLostError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_LEASE_LOST' as const
}

/** What a rejection that tells the caller when to come back carries besides its cause. */
export interface RetryLaterOptions {
  /** Milliseconds after which the same request may be admitted. */
  retryAfterMs: number
  cause?: unknown
}

/** A rate limiter denied the request; `retryAfterMs` says when the same request would be admitted. */
export class RateLimitedError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_RATE_LIMITED' as const
  /** Milliseconds until the same request would be admitted. */
  readonly retryAfterMs: number
  /** Milliseconds until the limiter is full again for this key (the `RateLimit-Reset` of HTTP). */
  readonly resetMs: number

  constructor(message: string, options: RetryLaterOptions & { resetMs?: number }) {
    super(message, { cause: options.cause })
    this.retryAfterMs = options.retryAfterMs
    this.resetMs = options.resetMs ?? options.retryAfterMs
  }
}

/**
 * The request was shed at once because the work it needs cannot be queued (the queue is
 * full): retrying after `retryAfterMs` may succeed, waiting in line would not be bounded.
 */
export class OverloadedError extends OptlayerError {
  static override readonly code = 'ERR_OPTLAYER_OVERLOADED' as const
  /** Suggested wait before retrying, in milliseconds. */
  readonly retryAfterMs: number

  constructor(message: string, options: RetryLaterOptions) {
    super(message, { cause: options.cause })
    this.retryAfterMs = options.retryAfterMs
  }
}

const byNativeCode: Record<string, typeof OptlayerError> = {
  ERR_OPTLAYER_INVALID_ARGUMENT: InvalidArgumentError,
  ERR_OPTLAYER_CORRUPT_INPUT: CorruptInputError,
  ERR_OPTLAYER_OUTPUT_LIMIT: OutputLimitError,
  ERR_OPTLAYER_INTERNAL: InternalError,
  ERR_OPTLAYER_COST_EXCEEDS_CAPACITY: CostExceedsCapacityError,
  ERR_OPTLAYER_CONFIG_MISMATCH: ConfigMismatchError,
  ERR_OPTLAYER_CLOSED: ClosedError,
  ERR_OPTLAYER_QUEUE_FULL: QueueFullError,
  ERR_OPTLAYER_VALUE_TOO_LARGE: ValueTooLargeError,
}

/**
 * Turns an error thrown by the native addon into the matching typed error, keeping the
 * original as `cause`. Anything unrecognised (a panic napi-rs caught for us) is internal.
 * @internal
 */
export function fromNativeError(err: unknown): OptlayerError {
  if (err instanceof OptlayerError) return err
  const { code, name, message } = (err ?? {}) as { code?: unknown; name?: unknown; message?: unknown }
  const text = typeof message === 'string' ? message : String(err)
  if (name === 'AbortError') return new AbortError('the operation was aborted', { cause: err })
  const Class = typeof code === 'string' ? byNativeCode[code] : undefined
  return Class ? new Class(text, { cause: err }) : new InternalError(`native failure: ${text}`, { cause: err })
}
