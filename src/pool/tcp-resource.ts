import net from 'node:net'
import tls from 'node:tls'

import { InvalidArgumentError, TimeoutError } from '../core/errors'
import { knownOptions, numberInRange, optionNames, positiveNumber, wholeNumber } from '../core/validate'

/** Options of {@link tcpResourceFactory}; `host` and `port` are required. */
export interface TcpResourceOptions {
  /** Host name or IP address to connect to. */
  host: string
  /** TCP port, 1 to 65535. */
  port: number
  /**
   * Connect with TLS, with these `tls.connect` options (`ca`, `cert`, `key`, `servername`,
   * `rejectUnauthorized`, `minVersion`, ...). `servername` defaults to `host` when it is a
   * name, for SNI and certificate checks.
   * @default plain TCP
   */
  tls?: tls.ConnectionOptions
  /** Connecting (and the TLS handshake) must finish within this many ms. @default 10000 */
  connectTimeoutMs?: number
  /** Turn on TCP keep-alive probes, so that the OS notices a silently dead peer. @default true */
  keepAlive?: boolean
  /** Idle time before the first keep-alive probe, in ms. @default 30000 */
  keepAliveInitialDelayMs?: number
  /** Disable Nagle's algorithm (request/response protocols want this). @default true */
  noDelay?: boolean
}

/** Defaults of {@link TcpResourceOptions}. */
export const TCP_RESOURCE_DEFAULTS = Object.freeze({
  connectTimeoutMs: 10_000,
  keepAlive: true,
  keepAliveInitialDelayMs: 30_000,
  noDelay: true,
})

/** `create`, `destroy` and `validate` for a `ConnectionPool` of sockets: spread it into the pool's options. */
const OPTION_NAMES = optionNames<TcpResourceOptions>()(TCP_RESOURCE_DEFAULTS, { host: true, port: true, tls: true })

export interface TcpResourceFactory<S extends net.Socket> {
  /** Connects (and completes the TLS handshake); rejects with the socket error or a `TimeoutError`. */
  create(): Promise<S>
  /** Destroys the socket; resolves once it is closed. */
  destroy(socket: S): Promise<void>
  /** True while the socket is open both ways and has seen no error, end or close. Synchronous and cheap. */
  validate(socket: S): boolean
}

/**
 * Errors a pooled socket met while nobody was using it. The listener that records them also
 * keeps an idle socket's `ECONNRESET` from becoming an uncaught 'error' event.
 */
const socketErrors = new WeakMap<net.Socket, Error>()

function recordError(this: net.Socket, error: Error): void {
  socketErrors.set(this, error)
}

/**
 * Resource functions for a pool of TCP connections, or TLS connections when `tls` is given.
 *
 * A pooled socket is paused and has an 'error' listener of the pool's: attach your own data
 * and error listeners while you use it and remove them before release. `validate` notices a
 * peer that closed or reset the connection (Node reads EOF and errors even from paused sockets).
 *
 * @example
 * ```ts
 * const pool = new ConnectionPool({
 *   ...tcpResourceFactory({ host: 'cache.internal', port: 11211, tls: { ca } }),
 *   max: 16,
 * })
 * ```
 */
export function tcpResourceFactory(
  options: TcpResourceOptions & { tls: tls.ConnectionOptions },
): TcpResourceFactory<tls.TLSSocket>
export function tcpResourceFactory(options: TcpResourceOptions): TcpResourceFactory<net.Socket>
export function tcpResourceFactory(options: TcpResourceOptions): TcpResourceFactory<net.Socket> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`invalid options: expected an object with host and port, got ${String(options)}`)
  }
  knownOptions('tcp resource options', options, OPTION_NAMES)
  const { host } = options
  if (typeof host !== 'string' || host === '') {
    throw new InvalidArgumentError(`invalid host: expected a non-empty string, got ${String(host)}`)
  }
  const port = wholeNumber('port', options.port, 1, 65535)
  const d = TCP_RESOURCE_DEFAULTS
  const connectTimeoutMs = positiveNumber(
    'connectTimeoutMs',
    options.connectTimeoutMs ?? d.connectTimeoutMs,
    false,
    'milliseconds',
  )
  const keepAlive = options.keepAlive ?? d.keepAlive
  const keepAliveInitialDelayMs = numberInRange(
    'keepAliveInitialDelayMs',
    options.keepAliveInitialDelayMs,
    0,
    undefined,
    {
      fallback: d.keepAliveInitialDelayMs,
      unit: 'milliseconds',
      infinite: true,
    },
  )
  const noDelay = options.noDelay ?? d.noDelay
  const tlsOptions = options.tls
  if (tlsOptions !== undefined && (tlsOptions === null || typeof tlsOptions !== 'object')) {
    throw new InvalidArgumentError(`invalid tls: expected tls.connect options, got ${String(tlsOptions)}`)
  }
  const address = `${host}:${port}`

  const create = (): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const socket =
        tlsOptions === undefined
          ? net.connect({ host, port })
          : tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ...tlsOptions })
      const ready = tlsOptions === undefined ? 'connect' : 'secureConnect'
      const cleanup = (): void => {
        clearTimeout(timer)
        socket.off('error', onError)
        socket.off('close', onClose)
        socket.off(ready, onReady)
      }
      const onError = (error: Error): void => {
        cleanup()
        socket.destroy()
        reject(error)
      }
      const onClose = (): void => onError(new Error(`connection to ${address} closed before it was ready`))
      const onReady = (): void => {
        cleanup()
        socket.setNoDelay(noDelay)
        socket.setKeepAlive(keepAlive, keepAliveInitialDelayMs)
        socket.on('error', recordError)
        resolve(socket)
      }
      const timer = setTimeout(
        () =>
          onError(
            new TimeoutError(
              `connecting to ${address}${tlsOptions === undefined ? '' : ' (TLS)'} took longer than ${connectTimeoutMs} ms`,
            ),
          ),
        connectTimeoutMs,
      )
      socket.once('error', onError)
      socket.once('close', onClose)
      socket.once(ready, onReady)
    })

  const destroy = (socket: net.Socket): Promise<void> =>
    new Promise((resolve) => {
      if (socket.closed) {
        resolve()
        return
      }
      socket.once('close', () => resolve())
      socket.destroy()
    })

  const validate = (socket: net.Socket): boolean =>
    !socket.destroyed &&
    socket.readyState === 'open' &&
    !socket.readableEnded &&
    socket.writable &&
    !socketErrors.has(socket)

  return { create, destroy, validate }
}
