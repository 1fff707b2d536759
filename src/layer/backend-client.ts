import type { Dispatcher } from 'undici'

import type { LoadBalancer } from '../balancer/load-balancer'
import type { BalancerBackend } from '../balancer/backend'
import { BackendResponseError, ClosedError, CorruptInputError, NoBackendError } from '../core/errors'
import { httpUpstream, type HttpUpstream, type HttpUpstreamOptions } from '../pool/http-upstream'
import { decodeBody, encodeResult, formatOf } from './media-types'

/** A backend answered, but not with a usable 2xx result: a failed attempt, retried elsewhere. */
class BackendAnswerError extends Error {}

/** Most bytes of a backend's 4xx body kept to relay: enough for an error document, bounded whatever was sent. */
const MAX_REJECTION_BODY_BYTES = 16 * 1024

/** What one attempt got: a result, or a 4xx that is the backend's answer (not a failure of the backend). */
type Attempt = { result: unknown } | { rejected: BackendResponseError }

/**
 * Sends a request's data to a backend picked by the balancer: POST of the data (bytes as
 * `application/octet-stream`, anything else as JSON), the response (JSON, MessagePack or
 * bytes) as the result, over one pooled `httpUpstream` per backend URL (opened at the first
 * request, so backends added to the balancer later are served too).
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
    private readonly maxBodyBytes: number,
  ) {
    // Opened now so that bad upstream options are refused with the layer's other options.
    for (const backend of balancer.backends()) this.upstreamFor(backend)
  }

  /**
   * The result of `data` from the first backend that answers 2xx, trying up to `attempts`
   * backends (while the balancer's retry budget allows) on errors and 5xx. A 4xx is the
   * backend's verdict on the data: it is not retried, and counts as a good answer of the backend.
   * @throws the abort reason of `signal` (the queue's `TimeoutError`, a cancellation) when it aborts
   * @throws {BackendResponseError} a 4xx (its status and the start of its body), or a body
   *   larger than `maxBodyBytes` (not retried: another backend would answer the same)
   * @throws {NoBackendError} no backend could be picked or none answered
   */
  async send(data: unknown, signal: AbortSignal, clientKey: string): Promise<unknown> {
    const request = encodeResult('json', data)
    let outcome: Attempt
    try {
      outcome = await this.balancer.retry((backend) => this.attempt(backend, request, signal), {
        maxAttempts: this.attempts,
        request: { sessionId: clientKey },
        retryOn: (error) => !signal.aborted && !(error instanceof BackendResponseError),
      })
    } catch (error) {
      if (signal.aborted) throw signal.reason
      // A balancer closed under the layer (a ready-made one) is not a backend failing.
      if (error instanceof NoBackendError || error instanceof ClosedError || error instanceof BackendResponseError) {
        throw error
      }
      throw new NoBackendError('no backend answered the request', { cause: error })
    }
    if ('rejected' in outcome) throw outcome.rejected
    return outcome.result
  }

  /** Closes the pools it opened; requests in flight finish first. */
  async close(): Promise<void> {
    this.closed = true
    const upstreams = [...this.upstreams.values()]
    this.upstreams.clear()
    await Promise.all(upstreams.map((upstream) => upstream.close()))
  }

  private async attempt(
    backend: BalancerBackend,
    request: { body: Buffer; contentType: string },
    signal: AbortSignal,
  ): Promise<Attempt> {
    const response = await this.upstreamFor(backend).request({
      path: this.path,
      method: 'POST',
      headers: {
        'content-type': request.contentType,
        accept: 'application/json, application/msgpack;q=0.9, application/octet-stream;q=0.8',
      },
      body: request.body,
      signal,
    })
    const { statusCode } = response
    const contentType = headerValue(response.headers['content-type'])
    if (statusCode >= 400 && statusCode <= 499) {
      const body = await readBounded(response.body, MAX_REJECTION_BODY_BYTES, true)
      const rejected = new BackendResponseError(`backend ${backend.id} answered ${statusCode}`, {
        status: statusCode,
        body,
        contentType,
      })
      return { rejected }
    }
    if (statusCode < 200 || statusCode > 299) {
      await response.body.dump()
      throw new BackendAnswerError(`backend ${backend.id} answered ${statusCode}`)
    }
    const format = formatOf(contentType ?? 'application/json')
    if (format === undefined) {
      await response.body.dump()
      throw new BackendAnswerError(`backend ${backend.id} answered with a body of type ${contentType}`)
    }
    const body = await readBounded(response.body, this.maxBodyBytes, false)
    if (body === undefined) {
      throw new BackendResponseError(
        `backend ${backend.id} answered with a body larger than maxBackendBodyBytes (${this.maxBodyBytes})`,
      )
    }
    try {
      return { result: decodeBody(format, body) }
    } catch (error) {
      if (!(error instanceof CorruptInputError)) throw error
      throw new BackendAnswerError(`backend ${backend.id} answered with a malformed ${format} body`, { cause: error })
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

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/**
 * The body, read up to `limit` bytes. Past it, with `truncate` the first `limit` bytes are kept;
 * otherwise undefined is returned. Either way the stream is destroyed at once (the connection
 * is dropped rather than the rest read), so nothing past the limit is buffered.
 */
async function readBounded(
  body: Dispatcher.ResponseData['body'],
  limit: number,
  truncate: boolean,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      body.destroy()
      if (!truncate) return undefined
      chunks.push(chunk.subarray(0, limit - size))
      return Buffer.concat(chunks, limit)
    }
    chunks.push(chunk)
    size += chunk.length
  }
  return Buffer.concat(chunks, size)
}
