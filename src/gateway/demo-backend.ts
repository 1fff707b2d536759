import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

import { knownOptions, optionNames, wholeNumber } from '../core/validate'

/** Options of {@link startDemoBackend}. */
export interface DemoBackendOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number
  /** Address to bind. @default '127.0.0.1' */
  host?: string
}

/** A running demo backend. */
export interface DemoBackend {
  /** Its origin, `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Requests received, by path (the paths it serves only, so that the map stays small). */
  readonly hits: ReadonlyMap<string, number>
  /** Stops listening and closes every connection. */
  close(): Promise<void>
}

const DEMO_NAMES = optionNames<DemoBackendOptions>()({}, { port: true, host: true })

/** Slowest `/slow` delay honoured, in ms. */
const MAX_SLOW_MS = 60_000
/** Largest `/large` body, in KiB. */
const MAX_LARGE_KIB = 64 * 1024

const PATHS = ['/health', '/cacheable', '/large', '/no-store', '/slow', '/echo']

const catalog = JSON.stringify({
  items: Array.from({ length: 40 }, (_, i) => ({ id: i + 1, name: `item ${i + 1}`, price: (i + 1) * 3 })),
})
const catalogTag = `"${createHash('sha1').update(catalog).digest('base64url')}"`
const startedAt = new Date().toUTCString()
const LINE = 'optlayer demo backend: a line of compressible text, repeated to make a large body.\n'

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  res.end(text)
}

function query(req: IncomingMessage, name: string, fallback: number, max: number): number {
  const value = Number(new URL(req.url ?? '/', 'http://demo').searchParams.get(name) ?? fallback)
  return Number.isFinite(value) ? Math.min(Math.max(Math.floor(value), 0), max) : fallback
}

/** Counts the request body's bytes as they stream in, without keeping them. */
async function bodyLength(req: IncomingMessage): Promise<number> {
  let bytes = 0
  for await (const chunk of req) bytes += (chunk as Buffer).length
  return bytes
}

/** Writes `kib` KiB of text with back-pressure. */
async function writeText(res: ServerResponse, kib: number): Promise<void> {
  const block = Buffer.from(LINE.repeat(Math.ceil(1024 / LINE.length))).subarray(0, 1024)
  for (let i = 0; i < kib; i++) {
    if (!res.write(block)) await new Promise((resolve) => res.once('drain', resolve))
    if (res.destroyed) return
  }
  res.end()
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0]
  switch (path) {
    case '/health':
      return json(res, 200, { status: 'ok' })
    case '/cacheable': {
      const headers = { 'cache-control': 'public, max-age=30', etag: catalogTag, 'last-modified': startedAt }
      if (req.headers['if-none-match'] === catalogTag) {
        res.writeHead(304, headers)
        return void res.end()
      }
      return json(res, 200, JSON.parse(catalog), headers)
    }
    case '/large': {
      const kib = query(req, 'kib', 256, MAX_LARGE_KIB)
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': kib * 1024,
        'cache-control': 'public, max-age=60',
      })
      return writeText(res, kib)
    }
    case '/no-store':
      return json(res, 200, { at: Date.now() }, { 'cache-control': 'no-store' })
    case '/slow': {
      const ms = query(req, 'ms', 1_000, MAX_SLOW_MS)
      await sleep(ms)
      return json(res, 200, { sleptMs: ms }, { 'cache-control': 'no-store' })
    }
    case '/echo': {
      const bytes = await bodyLength(req)
      return json(
        res,
        200,
        { method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes },
        { 'cache-control': 'no-store' },
      )
    }
    default:
      return json(res, 404, { error: 'not found', paths: PATHS })
  }
}

/**
 * A small HTTP backend to put behind the gateway, in this process: `GET /cacheable` (JSON,
 * `Cache-Control: public, max-age=30`, an `ETag` it answers 304 to), `GET /large?kib=256`
 * (compressible text of that many KiB), `GET /no-store`, `GET /slow?ms=1000`, `ANY /echo`
 * (the method, URL and headers it received, and the body's length) and `GET /health`.
 *
 * @example
 * ```ts
 * const backend = await startDemoBackend({ port: 9000 })
 * const gateway = new Gateway({ backends: [{ url: backend.url }] })
 * ```
 */
export async function startDemoBackend(options: DemoBackendOptions = {}): Promise<DemoBackend> {
  knownOptions('demo backend options', options, DEMO_NAMES)
  const port = wholeNumber('port', options.port, 0, 65_535, 0)
  const host = options.host ?? '127.0.0.1'
  const hits = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
    if (PATHS.includes(path)) hits.set(path, (hits.get(path) ?? 0) + 1)
    route(req, res).catch(() => res.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${shown}:${address.port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
