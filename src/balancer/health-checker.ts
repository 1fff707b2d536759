import net from 'node:net'

import { Agent, request } from 'undici'

import { InvalidArgumentError } from '../core/errors'
import type { BackendEntry } from './backend'
import type { ResolvedHealthCheckOptions } from './options'

/** Where one backend is checked, and its running tally. */
interface Target {
  readonly entry: BackendEntry
  /** HTTP: the check URL; TCP: unused. */
  readonly href: string
  readonly host: string
  readonly port: number
  timer: NodeJS.Timeout | undefined
  /** Aborts the check in flight. */
  controller: AbortController | undefined
  passes: number
  failures: number
  stopped: boolean
}

/** Result of one check, given to the balancer. @internal */
export interface CheckResult {
  readonly entry: BackendEntry
  readonly ok: boolean
  /** Why the check failed (an error message or the HTTP status). */
  readonly reason: string | undefined
  /** Set when the tally crossed a threshold: the backend's new health. */
  readonly healthy: boolean | undefined
}

/** Health bodies longer than this are not read to the end (the connection is closed instead). */
const MAX_BODY_BYTES = 64 * 1024

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 }

/**
 * Active health checks: every backend on its own timer, the next check `intervalMs` after the previous one ends (so
 * a slow backend is never checked twice at once). An HTTP check GETs `path` through a keep-alive undici Agent and
 * passes on a 2xx; a TCP check passes once connected. Either fails after `timeoutMs`. `unhealthyThreshold` failures
 * in a row turn a backend unhealthy, `healthyThreshold` passes in a row bring it back. Timers are unref'd, so checks
 * never keep a process alive; {@link HealthChecker.close} stops them all and aborts the checks in flight.
 * @internal
 */
export class HealthChecker {
  private readonly targets = new Map<BackendEntry, Target>()
  private readonly agent: Agent | undefined
  private closed = false

  constructor(
    private readonly options: ResolvedHealthCheckOptions,
    private readonly report: (result: CheckResult) => void,
  ) {
    if (options.type === 'http') {
      this.agent = new Agent({ connections: 1, keepAliveTimeout: Math.max(options.intervalMs * 2, 4_000) })
    }
  }

  /**
   * Validates that `url` can be checked with these options; throws {@link InvalidArgumentError} otherwise. Called
   * before a backend is accepted, so a bad URL fails `new LoadBalancer` / `addBackend`, not a check later.
   */
  static validate(options: ResolvedHealthCheckOptions, url: string, where: string): void {
    targetOf(options, url, where)
  }

  /** Starts checking `entry`; the first check runs on the next turn of the event loop. */
  add(entry: BackendEntry): void {
    if (this.closed || this.targets.has(entry)) return
    const target: Target = {
      entry,
      ...targetOf(this.options, entry.url, `backend '${entry.id}'`),
      timer: undefined,
      controller: undefined,
      passes: 0,
      failures: 0,
      stopped: false,
    }
    this.targets.set(entry, target)
    this.schedule(target, 0)
  }

  /** Stops checking `entry` (removed backend). */
  remove(entry: BackendEntry): void {
    const target = this.targets.get(entry)
    if (target === undefined) return
    this.targets.delete(entry)
    stop(target)
  }

  /** Stops every timer, aborts the checks in flight and closes the HTTP agent's connections. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const target of this.targets.values()) stop(target)
    this.targets.clear()
    await this.agent?.destroy()
  }

  private schedule(target: Target, delayMs: number): void {
    target.timer = setTimeout(() => void this.run(target), delayMs)
    target.timer.unref()
  }

  private async run(target: Target): Promise<void> {
    target.timer = undefined
    const controller = new AbortController()
    target.controller = controller
    const deadline = setTimeout(() => controller.abort(), this.options.timeoutMs)
    deadline.unref()
    let reason: string | undefined
    try {
      reason =
        this.options.type === 'http' ? await this.http(target, controller.signal) : await tcp(target, controller.signal)
    } catch (err) {
      reason = controller.signal.aborted ? `no answer within ${this.options.timeoutMs} ms` : errorText(err)
    } finally {
      clearTimeout(deadline)
      target.controller = undefined
    }
    if (target.stopped) return
    const ok = reason === undefined
    let healthy: boolean | undefined
    if (ok) {
      target.failures = 0
      if (++target.passes >= this.options.healthyThreshold && !target.entry.healthy) healthy = true
    } else {
      target.passes = 0
      if (++target.failures >= this.options.unhealthyThreshold && target.entry.healthy) healthy = false
    }
    try {
      this.report({ entry: target.entry, ok, reason, healthy })
    } finally {
      // A listener that throws (its error surfaces as an unhandled rejection) must not stop the checks.
      if (!target.stopped) this.schedule(target, this.options.intervalMs)
    }
  }

  /** One HTTP check: undefined when it passed, else why not. */
  private async http(target: Target, signal: AbortSignal): Promise<string | undefined> {
    const { statusCode, body } = await request(target.href, {
      method: 'GET',
      dispatcher: this.agent,
      signal,
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
    })
    // The body is read to the end so the connection can be reused for the next check.
    await body.dump({ signal, limit: MAX_BODY_BYTES })
    return statusCode >= 200 && statusCode < 300 ? undefined : `HTTP status ${statusCode}`
  }
}

/** One TCP check: connects and hangs up. */
function tcp(target: Target, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port })
    const onAbort = (): void => {
      socket.destroy()
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      resolve(undefined)
    })
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      reject(err)
    })
  })
}

function targetOf(
  options: ResolvedHealthCheckOptions,
  url: string,
  where: string,
): { href: string; host: string; port: number } {
  const parsed = new URL(url)
  if (options.type === 'http') {
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new InvalidArgumentError(
        `invalid ${where} url for HTTP health checks: expected an http: or https: URL, got '${url}'`,
      )
    }
    return { href: new URL(options.path, parsed).href, host: parsed.hostname, port: Number(parsed.port) }
  }
  const port = parsed.port === '' ? DEFAULT_PORTS[parsed.protocol] : Number(parsed.port)
  if (port === undefined || parsed.hostname === '') {
    throw new InvalidArgumentError(
      `invalid ${where} url for TCP health checks: expected a host and a port, got '${url}'`,
    )
  }
  // URL keeps the brackets of an IPv6 host; net.connect wants the bare address.
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname
  return { href: parsed.href, host, port }
}

function stop(target: Target): void {
  target.stopped = true
  if (target.timer !== undefined) clearTimeout(target.timer)
  target.timer = undefined
  target.controller?.abort()
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}
