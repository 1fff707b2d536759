import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'

import { InvalidArgumentError } from './errors'
import { invalidOption, knownOptions, wholeNumber } from './validate'

/**
 * Connection limits of an HTTP listener. Node's defaults (60 s for the headers, 300 s for a
 * request, no connection cap, timeouts checked every 30 s) let a client that trickles its
 * headers hold a socket for about a minute and a half; a gateway wants these much tighter.
 */
export interface HttpLimits {
  /** Longest wait for a request's complete headers, in ms (`HTTP_HEADERS_TIMEOUT_MS`). @default 10_000 */
  headersTimeoutMs?: number
  /** Longest wait for a complete request, headers and body, in ms; at least `headersTimeoutMs` (`HTTP_REQUEST_TIMEOUT_MS`). @default 30_000 */
  requestTimeoutMs?: number
  /** How long an idle keep-alive connection stays open, in ms (`HTTP_KEEP_ALIVE_TIMEOUT_MS`). @default 5_000 */
  keepAliveTimeoutMs?: number
  /** Most open connections per listener and process; further ones are closed at once (`HTTP_MAX_CONNECTIONS`). @default 10_000 */
  maxConnections?: number
  /** Largest request head (request line and headers), in bytes; larger gets 431 (`HTTP_MAX_HEADER_SIZE`). @default 16_384 */
  maxHeaderSize?: number
}

/** Defaults of {@link HttpLimits}. */
export const HTTP_LIMITS_DEFAULTS: Readonly<Required<HttpLimits>> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 10_000,
  maxHeaderSize: 16_384,
})

/** Accepted range of each limit, shared by the options' and the environment's validation. */
export const HTTP_LIMITS_RANGES: Readonly<Record<keyof HttpLimits, readonly [number, number]>> = Object.freeze({
  headersTimeoutMs: [1, 3_600_000],
  requestTimeoutMs: [1, 3_600_000],
  keepAliveTimeoutMs: [1, 3_600_000],
  maxConnections: [1, 1_000_000],
  maxHeaderSize: [1_024, 1_048_576],
})

/** Validates `limits` and fills in the defaults; throws InvalidArgumentError naming the bad option. */
export function resolveHttpLimits(limits: HttpLimits = {}): Required<HttpLimits> {
  knownOptions('http', limits, Object.keys(HTTP_LIMITS_DEFAULTS))
  const resolved = { ...HTTP_LIMITS_DEFAULTS }
  for (const name of Object.keys(HTTP_LIMITS_DEFAULTS) as (keyof HttpLimits)[]) {
    const [min, max] = HTTP_LIMITS_RANGES[name]
    resolved[name] = wholeNumber(name, limits[name], min, max, HTTP_LIMITS_DEFAULTS[name])
  }
  if (resolved.headersTimeoutMs > resolved.requestTimeoutMs) {
    throw invalidOption(
      'headersTimeoutMs',
      `at most requestTimeoutMs (${resolved.requestTimeoutMs})`,
      resolved.headersTimeoutMs,
    )
  }
  return resolved
}

/** Longest time between two checks of the headers and request timeouts (Node's default is 30 s). */
const MAX_CHECK_INTERVAL_MS = 1_000

/** An HTTP server with `limits` (already resolved) applied. */
export function createLimitedServer(limits: Required<HttpLimits>, listener: RequestListener): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderSize,
      // Node enforces both timeouts only when it sweeps its connections: sweep often enough
      // that a slow client is cut close to the configured time, not up to 30 s later.
      connectionsCheckingInterval: Math.min(MAX_CHECK_INTERVAL_MS, limits.headersTimeoutMs),
    },
    listener,
  )
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.maxConnections = limits.maxConnections
  return server
}

/** Ends `res` with `status` and `body` as JSON. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string | string[]>> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

/** True for the loopback addresses a listener is usually kept on when nothing guards it. */
export function isLoopback(host: string): boolean {
  return ['127.0.0.1', '::1', 'localhost'].includes(host)
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/**
 * Checks a request's `Authorization` against a shared secret in constant time: fixed-length
 * digests are compared, so the time says nothing of the token's length or content.
 */
export class AccessToken {
  private readonly digest: Buffer

  /**
   * @param token the secret; a non-empty string.
   * @param basic also accept HTTP Basic credentials whose password is the token (any user name),
   *   so that a browser can prompt for it where it cannot send a bearer token.
   */
  constructor(
    token: string,
    private readonly basic = false,
  ) {
    if (typeof token !== 'string' || token === '') {
      throw new InvalidArgumentError('token: expected a non-empty string or undefined')
    }
    this.digest = digest(token)
  }

  /** The `WWW-Authenticate` headers of a 401 for `realm`: one a scheme, as browsers read only the first challenge of a header. */
  challenge(realm: string): string[] {
    return this.basic ? [`Bearer realm="${realm}"`, `Basic realm="${realm}"`] : [`Bearer realm="${realm}"`]
  }

  /** True when `req` carries the token as a bearer token (or, if enabled, a Basic password). */
  allows(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? ''
    const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
    let given = bearer?.[1]
    if (given === undefined && this.basic) {
      const basic = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header)
      const decoded = basic?.[1] === undefined ? undefined : Buffer.from(basic[1], 'base64').toString('utf8')
      const colon = decoded?.indexOf(':') ?? -1
      if (decoded !== undefined && colon >= 0) given = decoded.slice(colon + 1)
    }
    return timingSafeEqual(digest(given ?? ''), this.digest) && given !== undefined
  }
}
