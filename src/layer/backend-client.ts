import type { LoadBalancer } from '../balancer/load-balancer'
import type { BalancerBackend } from '../balancer/backend'
import { ClosedError, NoBackendError } from '../core/errors'
import { httpUpstream, type HttpUpstream, type HttpUpstreamOptions } from '../pool/http-upstream'

/** A backend answered, but not with a 2xx JSON result: a failed attempt, retried elsewhere. */
class BackendAnswerError extends Error {}

/**
 * Sends a request's data to a backend picked by the balancer: POST of the data as JSON, the
 * JSON response as the result, over one pooled `httpUpstream` per backend URL (opened at the
 * first request, so backends added to the balancer later are served too).
 * @internal
 */
export class BackendClient {
  private readonly upstreams = new Map<string, HttpUpstream>()
  private closed = false

  constructor(
    readonly balancer: LoadBalancer,
    private readonly path: string,
    private readonly attempts: number,
    private readonly upstreamOptions: HttpUpstreamOptions,
  ) {
    // Opened now so that bad upstream options are refused with the layer's other options.
    for (const backend of balancer.backends()) this.upstreamFor(backend)
  }

  /**
   * The result of `data` from the first backend that answers 2xx with JSON, trying up to
   * `attempts` backends while the balancer's retry budget allows.
   * @throws the abort reason of `signal` (the queue's `TimeoutError`, a cancellation) when it aborts;
   *   {@link NoBackendError} when no backend could be picked or none answered
   */
  async send(data: unknown, signal: AbortSignal, clientKey: string): Promise<unknown> {
    const body = JSON.stringify(data) ?? 'null'
    try {
      return await this.balancer.retry((backend) => this.attempt(backend, body, signal), {
        maxAttempts: this.attempts,
        request: { sessionId: clientKey },
        retryOn: () => !signal.aborted,
      })
    } catch (error) {
      if (signal.aborted) throw signal.reason
      // A balancer closed under the layer (a ready-made one) is not a backend failing.
      if (error instanceof NoBackendError || error instanceof ClosedError) throw error
      throw new NoBackendError('no backend answered the request', { cause: error })
    }
  }

  /** Closes the pools it opened; requests in flight finish first. */
  async close(): Promise<void> {
    this.closed = true
    const upstreams = [...this.upstreams.values()]
    this.upstreams.clear()
    await Promise.all(upstreams.map((upstream) => upstream.close()))
  }

  private async attempt(backend: BalancerBackend, body: string, signal: AbortSignal): Promise<unknown> {
    const response = await this.upstreamFor(backend).request({
      path: this.path,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
      signal,
    })
    if (response.statusCode < 200 || response.statusCode > 299) {
      await response.body.dump()
      throw new BackendAnswerError(`backend ${backend.id} answered ${response.statusCode}`)
    }
    try {
      return await response.body.json()
    } catch (error) {
      throw new BackendAnswerError(`backend ${backend.id} answered with a body that is not JSON`, { cause: error })
    }
  }

  private upstreamFor(backend: BalancerBackend): HttpUpstream {
    let upstream = this.upstreams.get(backend.url)
    if (upstream === undefined) {
      if (this.closed) throw new NoBackendError('the layer is stopping: no new backend connection')
      upstream = httpUpstream(backend.url, this.upstreamOptions)
      this.upstreams.set(backend.url, upstream)
    }
    return upstream
  }
}
