import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import type { ProfilingConfig } from '../config/env'
import { ClosedError, InvalidArgumentError } from '../core/errors'
import { knownOptions, optionNames, wholeNumber } from '../core/validate'
import {
  AccessToken,
  createLimitedServer,
  isLoopback,
  resolveHttpLimits,
  sendJson,
  type HttpLimits,
} from '../core/http-listener'
import { createProfilerBackend, type ProfileFormat, type ProfilerBackend } from './profiling-backends'

/** Options of {@link ProfilingServer}. */
export interface ProfilingServerOptions {
  /** TCP port; 0 picks a free one. @default 6060 */
  port?: number
  /** Address to bind; keep it on loopback unless a token guards it. @default '127.0.0.1' */
  host?: string
  /** When set, every request needs `Authorization: Bearer <token>`; others get 401. @default undefined */
  token?: string
  /**
   * `'pprof'`: gzipped pprof protobuf via the optional `@datadog/pprof` package (for
   * `go tool pprof`); `'devtools'`: `.cpuprofile` / `.heapprofile` JSON from `node:inspector`
   * (for Chrome DevTools); `'auto'`: pprof when the package loads, else DevTools JSON.
   * @default 'auto'
   */
  format?: ProfileFormat | 'auto'
  /** Longest CPU profile a request may ask for, in seconds. @default 60 */
  maxSeconds?: number
  /** Length of a CPU profile requested without `?seconds=`. @default 30 (as Go's pprof) */
  defaultSeconds?: number
  /** Average bytes allocated between two heap samples. @default 524288 */
  heapSamplingIntervalBytes?: number
  /** Timeouts and caps of the listener. @default HTTP_LIMITS_DEFAULTS */
  http?: HttpLimits
}

/** Defaults of every {@link ProfilingServer} option. */
export const PROFILING_DEFAULTS = Object.freeze({
  port: 6060,
  host: '127.0.0.1',
  format: 'auto' as const,
  maxSeconds: 60,
  defaultSeconds: 30,
  heapSamplingIntervalBytes: 512 * 1024,
})

/** What `GET /debug/pprof/handles` answers. */
const OPTION_NAMES = optionNames<ProfilingServerOptions>()(PROFILING_DEFAULTS, { token: true, http: true })

export interface HandlesDump {
  pid: number
  uptimeSeconds: number
  /** `process.getActiveResourcesInfo()` counted by type: everything keeping the event loop alive. */
  resources: Record<string, number>
  /** Active handles with what can be told about each (sockets' addresses, servers' bound address, ...). */
  handles: Record<string, unknown>[]
  /** Active libuv requests (file system, DNS, ...) by type. */
  requests: Record<string, unknown>[]
}

/** Reads a few well-known fields of a handle without trusting its shape. */
function describeHandle(handle: unknown): Record<string, unknown> {
  const h = (handle ?? {}) as Record<string, unknown>
  const type = (h.constructor as { name?: string } | undefined)?.name ?? typeof handle
  const out: Record<string, unknown> = { type }
  for (const key of ['localAddress', 'localPort', 'remoteAddress', 'remotePort', 'pid', 'fd', 'destroyed'] as const) {
    const value = h[key]
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[key] = value
  }
  if (typeof h.address === 'function' && typeof h.listening === 'boolean') {
    try {
      out['address'] = (h.address as () => unknown).call(handle)
    } catch {
      // A closing server may throw; the type alone still helps.
    }
  }
  return out
}

/** A snapshot of what keeps this process alive: active resources, handles and requests. */
export function activeHandles(): HandlesDump {
  const resources: Record<string, number> = {}
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1
  // Undocumented but long-standing; they give the objects behind the counts when present.
  const internals = process as unknown as { _getActiveHandles?: () => unknown[]; _getActiveRequests?: () => unknown[] }
  return {
    pid: process.pid,
    uptimeSeconds: process.uptime(),
    resources,
    handles: (internals._getActiveHandles?.() ?? []).map(describeHandle),
    requests: (internals._getActiveRequests?.() ?? []).map(describeHandle),
  }
}

/**
 * Go-style profiling endpoints on their own HTTP server, apart from the gateway's port so that
 * they are never exposed with it:
 *
 * - `GET /debug/pprof/profile?seconds=N`: CPU profile of the next N seconds (one at a time;
 *   another request meanwhile gets 409),
 * - `GET /debug/pprof/heap`: sampled live heap since the server started,
 * - `GET /debug/pprof/handles`: active handles and requests ({@link activeHandles}),
 * - `GET /debug/pprof/`: an index of the above.
 *
 * With a `token`, requests without `Authorization: Bearer <token>` get 401; the comparison
 * takes the same time whatever the token given.
 */
export class ProfilingServer {
  private readonly server: Server
  private readonly port: number
  private readonly host: string
  private readonly token: AccessToken | undefined
  private readonly maxSeconds: number
  private readonly defaultSeconds: number
  private readonly heapIntervalBytes: number
  private readonly requestedFormat: ProfileFormat | 'auto'
  private readonly routes = new Map<string, (url: URL, res: ServerResponse) => Promise<void>>([
    ['/debug/pprof', (url, res) => this.index(url, res)],
    ['/debug/pprof/', (url, res) => this.index(url, res)],
    ['/debug/pprof/profile', (url, res) => this.cpu(url, res)],
    ['/debug/pprof/heap', (url, res) => this.heap(url, res)],
    ['/debug/pprof/handles', (url, res) => this.handles(url, res)],
  ])
  private backend: ProfilerBackend | undefined
  private cpuBusy = false
  private closed = false

  constructor(options: ProfilingServerOptions = {}) {
    knownOptions('profiling options', options, OPTION_NAMES)
    this.port = wholeNumber('port', options.port ?? PROFILING_DEFAULTS.port, 0, 65535)
    this.host = options.host ?? PROFILING_DEFAULTS.host
    this.token = options.token === undefined ? undefined : new AccessToken(options.token)
    this.maxSeconds = wholeNumber('maxSeconds', options.maxSeconds ?? PROFILING_DEFAULTS.maxSeconds, 1, 3600)
    this.defaultSeconds = wholeNumber(
      'defaultSeconds',
      options.defaultSeconds ?? Math.min(PROFILING_DEFAULTS.defaultSeconds, this.maxSeconds),
      1,
      this.maxSeconds,
    )
    this.heapIntervalBytes = wholeNumber(
      'heapSamplingIntervalBytes',
      options.heapSamplingIntervalBytes ?? PROFILING_DEFAULTS.heapSamplingIntervalBytes,
      1,
      2 ** 30,
    )
    this.requestedFormat = options.format ?? PROFILING_DEFAULTS.format
    if (!['auto', 'pprof', 'devtools'].includes(this.requestedFormat)) {
      throw new InvalidArgumentError(`format: expected 'auto', 'pprof' or 'devtools', got ${String(options.format)}`)
    }
    this.server = createLimitedServer(resolveHttpLimits(options.http), (req, res) => this.handle(req, res))
  }

  /** The format profiles are served in; known once listening. */
  get format(): ProfileFormat | undefined {
    return this.backend?.format
  }

  /** Starts heap sampling and listening; resolves with the bound URL. */
  async listen(): Promise<URL> {
    if (this.closed) throw new ClosedError('the profiling server is closed')
    if (this.backend === undefined) {
      const backend = createProfilerBackend(this.requestedFormat)
      await backend.start(this.heapIntervalBytes)
      this.backend = backend
    }
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject)
        // Exclusive: in a cluster worker a shared port would hand each request to any worker,
        // and a profile must be of one known process.
        this.server.listen({ port: this.port, host: this.host, exclusive: true }, () => {
          this.server.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      await this.stopBackend()
      throw err
    }
    const address = this.server.address() as AddressInfo
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
    return new URL(`http://${shown}:${address.port}`)
  }

  /** Stops listening, aborts a CPU profile in progress and stops heap sampling. */
  async close(): Promise<void> {
    this.closed = true
    if (this.server.listening) {
      const closed = new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())))
      // A CPU profile in flight holds its connection for up to maxSeconds: cut it.
      this.server.closeAllConnections()
      await closed
    }
    await this.stopBackend()
  }

  private async stopBackend(): Promise<void> {
    const backend = this.backend
    this.backend = undefined
    await backend?.stop()
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.token !== undefined && !this.token.allows(req)) {
      return sendJson(
        res,
        401,
        { error: 'unauthorized' },
        { 'www-authenticate': this.token.challenge('optlayer-profiling') },
      )
    }
    const url = new URL(req.url ?? '/', 'http://profiling.invalid')
    const route = this.routes.get(url.pathname)
    if (route === undefined) return sendJson(res, 404, { error: 'not found', path: url.pathname })
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET')
      return sendJson(res, 405, { error: 'method not allowed' })
    }
    route(url, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) })
      else res.destroy()
    })
  }

  private async index(_url: URL, res: ServerResponse): Promise<void> {
    sendJson(res, 200, {
      format: this.backend?.format,
      endpoints: {
        '/debug/pprof/profile?seconds=N': `CPU profile of N seconds (1-${this.maxSeconds}, default ${this.defaultSeconds})`,
        '/debug/pprof/heap': 'sampled heap profile',
        '/debug/pprof/handles': 'active handles and requests (JSON)',
      },
    })
  }

  private async cpu(url: URL, res: ServerResponse): Promise<void> {
    const raw = url.searchParams.get('seconds')
    const seconds = raw === null ? this.defaultSeconds : /^\d{1,7}$/.test(raw) ? Number(raw) : NaN
    if (!(seconds >= 1 && seconds <= this.maxSeconds)) {
      return sendJson(res, 400, {
        error: `seconds: expected an integer between 1 and ${this.maxSeconds}, got ${JSON.stringify(raw)}`,
      })
    }
    const backend = this.backend
    if (backend === undefined) return sendJson(res, 503, { error: 'profiling is stopping' })
    if (this.cpuBusy) return sendJson(res, 409, { error: 'a CPU profile is already being taken; retry when it ends' })
    this.cpuBusy = true
    // A client that gives up stops the profile instead of leaving it running unseen.
    const abort = new AbortController()
    const onClose = (): void => {
      if (!res.writableFinished) abort.abort(new Error('the client went away'))
    }
    res.once('close', onClose)
    try {
      const file = await backend.cpuProfile(seconds * 1000, abort.signal)
      this.send(res, file)
    } catch (err) {
      if (abort.signal.aborted) return
      throw err
    } finally {
      res.off('close', onClose)
      this.cpuBusy = false
    }
  }

  private async heap(_url: URL, res: ServerResponse): Promise<void> {
    const backend = this.backend
    if (backend === undefined) return sendJson(res, 503, { error: 'profiling is stopping' })
    this.send(res, await backend.heapProfile())
  }

  private async handles(_url: URL, res: ServerResponse): Promise<void> {
    sendJson(res, 200, activeHandles())
  }

  private send(res: ServerResponse, file: { body: Buffer; contentType: string; fileName: string }): void {
    res.writeHead(200, {
      'content-type': file.contentType,
      'content-length': file.body.length,
      'content-disposition': `attachment; filename="${file.fileName}"`,
      'cache-control': 'no-store',
    })
    res.end(file.body)
  }
}

/**
 * Starts the profiling server `optlayer serve` runs when `ENABLE_PROFILING` is true: pass
 * `configFromEnv().profiling`. Resolves with undefined (and starts nothing) when profiling is
 * off. Warns through `warn` when it listens beyond loopback without a token.
 */
export async function startProfilingServer(
  config: ProfilingConfig | undefined,
  options: Omit<ProfilingServerOptions, 'port' | 'host' | 'token'> & { warn?: (message: string) => void } = {},
): Promise<{ server: ProfilingServer; url: URL } | undefined> {
  if (config === undefined) return undefined
  const { warn = (message: string) => console.warn(message), ...rest } = options
  const server = new ProfilingServer({ ...rest, port: config.port, host: config.host, token: config.token })
  const url = await server.listen()
  if (config.token === undefined && !isLoopback(config.host)) {
    warn(`optlayer: profiling endpoints on ${url.origin} are reachable beyond loopback without PROFILING_TOKEN`)
  }
  return { server, url }
}
