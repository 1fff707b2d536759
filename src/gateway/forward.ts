import type { Readable } from 'node:stream'
import { performance } from 'node:perf_hooks'

import type { Dispatcher } from 'undici'

import type { BalancerBackend } from '../balancer/backend'
import type { LoadBalancer } from '../balancer/load-balancer'
import { ClosedError, NoBackendError } from '../core/errors'
import { httpUpstream, type HttpUpstream, type HttpUpstreamOptions } from '../pool/http-upstream'
import { AttemptBody } from './attempt-body'
import type { Cancellation } from './cancellation'
import { UpstreamExchange, type UpstreamBody } from './upstream-exchange'

/** Methods a request may be repeated with (RFC 9110 §9.2.2) and that the gateway retries. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/**
 * Failures before a connection existed: the backend never saw the request, so it goes to another backend whatever its
 * method (as nginx's `proxy_next_upstream error` does for a request not sent yet, and Envoy's `connect-failure`).
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
])

/** Failures of a connection that may have carried the request: the backend may have acted on it, so idempotent only. */
const CUT_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'])

/** Failures that are the backend taking too long: the client gets 504. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
])

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** Whether an upstream failure is a timeout (504) rather than a bad or refused answer (502). */
export function isUpstreamTimeout(error: unknown): boolean {
  return TIMEOUT_CODES.has(codeOf(error) ?? '')
}

/** A request to send upstream. */
export interface OutboundRequest {
  method: string
  /** Origin-form target: path and query. */
  path: string
  headers: Record<string, string | string[]>
  /** The body to stream, read as the backend takes it; absent for a request without one. */
  body: Readable | undefined
  /** Cancels the request (the client went away, or the gateway closes). */
  cancel: Cancellation
}

/** How a forwarded exchange ended, for the balancer. */
export type ExchangeOutcome = 'ok' | 'failed' | 'abandoned'

/** A backend's response headers and its body, still streaming. */
export interface UpstreamResponse {
  /** The method the request was sent with. */
  method: string
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  /** The body as the backend sends it, with back-pressure. */
  body: UpstreamBody
  /** The backend that answered. */
  backend: BalancerBackend
  /**
   * Reports the end of the exchange to the balancer, once: `ok` (status below 500 and body
   * complete), `failed` (5xx or a body cut by the backend), `abandoned` (the client left).
   */
  finish(outcome: ExchangeOutcome): void
}

/** One try of a request: the backend picked and when it started. */
interface Attempt {
  backend: BalancerBackend
  started: number
}

/**
 * Sends requests to the balancer's backends over one undici pool per backend URL: picks a
 * backend, sends, and retries on a backend not tried yet, within the balancer's retry budget,
 * a request whose body was not read yet: after a failed connect whatever its method, after a
 * cut connection when its method is idempotent. Every
 * outcome is released to the balancer (latency to the response headers, success, failure or
 * timeout), which feeds its breakers, outlier detection and EWMA.
 */
export class Forwarder {
  private readonly pools = new Map<string, HttpUpstream>()

  constructor(
    private readonly balancer: LoadBalancer,
    private readonly upstreamOptions: HttpUpstreamOptions,
    private readonly timeoutMs: number,
    private readonly maxAttempts: number,
  ) {}

  /**
   * Forwards `request`; resolves at the response headers. `clientKey` is the sticky key of a
   * `consistent-hash` balancer (the client address).
   * @throws {NoBackendError} when no backend can be picked
   * @throws the last attempt's undici error (see {@link isUpstreamTimeout})
   */
  async send(request: OutboundRequest, clientKey: string): Promise<UpstreamResponse> {
    const budget = this.balancer.retryBudget
    budget.deposit()
    const tried: BalancerBackend[] = []
    let backend = this.balancer.pick({ clientIp: clientKey })
    for (let attempt = 1; ; attempt++) {
      tried.push(backend)
      const current: Attempt = { backend, started: performance.now() }
      try {
        return await this.attempt(request, current)
      } catch (error) {
        const aborted = request.cancel.aborted
        // A client that left, or a pool closed by the gateway, says nothing about the backend:
        // only the outstanding count drops.
        if (aborted || error instanceof ClosedError) this.balancer.release(backend)
        else {
          const latencyMs = performance.now() - current.started
          this.balancer.release(backend, { ok: false, latencyMs, timedOut: isUpstreamTimeout(error) })
        }
        if (aborted || attempt >= this.maxAttempts || !this.retriable(request, error)) throw error
        let next: BalancerBackend
        try {
          next = this.balancer.pickExcluding(tried, { clientIp: clientKey })
        } catch (pickError) {
          if (pickError instanceof NoBackendError) throw error
          throw pickError
        }
        // Picked first, so that a retry with nowhere to go does not spend the budget.
        if (!budget.tryWithdraw()) {
          this.balancer.release(next)
          throw error
        }
        backend = next
      }
    }
  }

  /** The pool of the backend at `url`, opened on first use (backends added later get theirs too). */
  pool(url: string): HttpUpstream {
    let pool = this.pools.get(url)
    if (pool === undefined) {
      pool = httpUpstream(url, this.upstreamOptions)
      this.pools.set(url, pool)
    }
    return pool
  }

  /** Lets requests in flight finish, then closes every connection; `force` cuts them at once. */
  async close(force: boolean): Promise<void> {
    const pools = [...this.pools.values()]
    await Promise.all(pools.map((p) => (force ? p.destroy() : p.close())))
  }

  private async attempt(request: OutboundRequest, current: Attempt): Promise<UpstreamResponse> {
    const exchange = new UpstreamExchange(request.cancel, this.timeoutMs)
    const body = request.body === undefined ? null : new AttemptBody(request.body)
    if (body === null) exchange.sent()
    else body.once('end', exchange.sent)
    try {
      this.pool(current.backend.url).dispatch(
        {
          method: request.method as Dispatcher.HttpMethod,
          path: request.path,
          headers: request.headers,
          body,
          // The exchange times both (on time; undici's own timers tick every half second).
          headersTimeout: 0,
          bodyTimeout: 0,
        },
        exchange,
      )
    } catch (error) {
      exchange.refused(error as Error)
    }
    const head = await exchange.head
    const latencyMs = performance.now() - current.started
    let finished = false
    const finish = (outcome: ExchangeOutcome): void => {
      if (finished) return
      finished = true
      if (outcome === 'abandoned') this.balancer.release(current.backend)
      else this.balancer.release(current.backend, { ok: outcome === 'ok', latencyMs })
    }
    return {
      method: request.method,
      statusCode: head.statusCode,
      headers: head.headers,
      body: exchange,
      backend: current.backend,
      finish,
    }
  }

  /** A retry is safe: no byte of the body read, and the backend never saw the request or may see it twice. */
  private retriable(request: OutboundRequest, error: unknown): boolean {
    if (request.body !== undefined && (request.body.readableDidRead || request.body.destroyed)) return false
    const code = codeOf(error) ?? ''
    return NOT_SENT_CODES.has(code) || (IDEMPOTENT.has(request.method) && CUT_CODES.has(code))
  }
}
