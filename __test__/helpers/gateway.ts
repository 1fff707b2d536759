import { once } from 'node:events'
import { createServer, request, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'

import { OptlayerServer, type Gateway } from 'optlayer'

/** A node:http server on a free loopback port, with what it saw. */
export interface TestServer {
  server: Server
  url: string
  port: number
  close(): Promise<void>
}

/** Starts `handler` on a free port of 127.0.0.1 (or `host`). */
export async function listen(handler: RequestListener, host = '127.0.0.1', port = 0): Promise<TestServer> {
  const server = createServer(handler)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    server,
    url: `http://${shown}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/**
 * A loopback URL whose port refuses connections for as long as the returned handle is open.
 * A listener closed at once would free its port for any other spec's `listen(0)` running
 * beside it (a backend "refusing" then answers); here a client connection stays bound to that
 * port, so no listener can take it while nothing listens on it.
 */
export async function refusingEndpoint(): Promise<{ url: string; close(): Promise<void> }> {
  const freed = await listen(() => {})
  await freed.close()
  const anchor = createNetServer((socket) => socket.on('error', () => {}))
  anchor.listen(0, '127.0.0.1')
  await once(anchor, 'listening')
  const holder = connect({ host: '127.0.0.1', port: (anchor.address() as AddressInfo).port, localPort: freed.port })
  holder.on('error', () => {})
  await once(holder, 'connect')
  return {
    url: freed.url,
    close: async () => {
      holder.destroy()
      await new Promise<void>((resolve) => anchor.close(() => resolve()))
    },
  }
}

/**
 * Which listener {@link serveGatewayForSpec} puts a gateway behind: `OPTLAYER_TEST_FRONT=native`
 * (the test command runs the gateway's cache suite so a second time) puts the native front
 * before it, so the suite's assertions hold for both fronts.
 */
export const SPEC_FRONT = process.env.OPTLAYER_TEST_FRONT === 'native' ? 'native' : 'node'

/** `gateway` served on a free loopback port, directly or behind the native front (see {@link SPEC_FRONT}). */
export async function serveGatewayForSpec(gateway: Gateway): Promise<{ url: string; close(): Promise<void> }> {
  if (SPEC_FRONT === 'node') return listen(gateway.handler())
  const server = new OptlayerServer({
    port: 0,
    host: '127.0.0.1',
    admin: false,
    log: () => {},
    fallback: gateway.handler(),
    // The server answers /ready itself: with the gateway's readiness, as serveGateway does.
    ready: () => gateway.ready(),
    nativeFront: { store: gateway.nativeStore(), rateLimit: gateway.nativeRateLimit() },
  })
  const url = await server.listen()
  // Refused (no L2, a limiter deciding elsewhere): the front relays every request, still a front to test.
  if (server.nativeFront !== undefined) gateway.attachFront(server.nativeFront)
  return { url: url.origin, close: () => server.close() }
}

/** A response read whole. */
export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  json<T = any>(): T
}

/** Options of {@link send}. */
export interface SendOptions {
  method?: string
  headers?: Record<string, string | string[]>
  body?: string | Buffer | Readable
  /** Local address to send from (to look like another client). */
  localAddress?: string
  signal?: AbortSignal
}

/** One request over a new connection (no agent), read whole: no decompression, headers as sent. */
export function send(url: string, options: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: false,
        localAddress: options.localAddress,
        signal: options.signal,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks)
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString()) })
        })
      },
    )
    req.on('error', reject)
    const body = options.body
    if (body === undefined) req.end()
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body)
    else body.pipe(req)
  })
}
