import { Readable, type Writable } from 'node:stream'

import { errors, type Dispatcher } from 'undici'

import { AbortError } from '../core/errors'
import type { Cancellation } from './cancellation'

type Controller = Dispatcher.DispatchController

/** Body bytes held for a consumer not attached yet; past this the backend's connection is paused. */
const HELD_BYTES_LIMIT = 64 * 1024

/** The head of a backend's response. */
export interface ResponseHead {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
}

/** A backend's response body, streamed with back-pressure to one consumer. */
export interface UpstreamBody {
  /**
   * Writes the body into `sink` and ends it; resolves once `sink` finished. Rejects with the
   * backend's error when it cut the body, the sink's error, or `ERR_STREAM_PREMATURE_CLOSE`
   * when `sink` closed first (the client left); the backend's request is aborted then.
   */
  pipeTo(sink: Writable): Promise<void>
  /** The body as a stream, for a pipeline of stages; destroying it aborts the backend's request. */
  readable(): Readable
}

/** The error a relay sees when its sink closed before the body ended. */
function prematureClose(): Error {
  return Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}

/**
 * One request to a backend through undici's handler API (`dispatch`), and its response.
 * undici's `request()` wraps each body in a `Readable` and `stream()` adds end-of-stream
 * listeners; on the proxy path, where a body usually goes straight into the client's
 * `ServerResponse`, those objects were a large share of the gateway's own CPU in profiles.
 * Here the body is written into the sink as undici hands it over, the connection paused
 * while the sink needs to drain; a `Readable` is made only for a consumer that pipes it
 * through stages (compression, the cache's copy).
 *
 * {@link head} settles at the response headers (1xx skipped) or with the failure before
 * them. Body bytes that arrive before a consumer attaches are held (the connection paused
 * past 64 KiB). `cancel` aborts the request: before the headers the head
 * rejects with an `AbortError`, after them the consumer sees the body cut.
 *
 * `timeoutMs` bounds the wait for the headers once the request is {@link sent}, and then each
 * gap between body chunks while the exchange is not paused for its consumer, with undici's
 * `HeadersTimeoutError` and `BodyTimeoutError`. undici times both on a clock that ticks every
 * half second (a 1 s timeout fired after up to 1.5 s); this timer ends them on time.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler, UpstreamBody {
  /** Settles at the response headers, or with the failure before them. */
  readonly head: Promise<ResponseHead>
  private resolveHead!: (head: ResponseHead) => void
  private rejectHead!: (error: Error) => void
  private controller: Controller | undefined
  private abortReason: Error | undefined
  private started = false
  private ended = false
  private failure: Error | undefined
  private held: Buffer[] = []
  private heldBytes = 0
  private sink: Writable | undefined
  private settleSink: ((error?: Error) => void) | undefined
  private stream: Readable | undefined
  private paused = false
  private timer: NodeJS.Timeout | undefined
  /** The exchange is over: its timer stays off. */
  private timerOff = false

  constructor(
    private readonly cancel: Cancellation,
    private readonly timeoutMs: number,
  ) {
    this.head = new Promise<ResponseHead>((resolve, reject) => {
      this.resolveHead = resolve
      this.rejectHead = reject
    })
    if (cancel.aborted) this.abort(goneError())
    else cancel.subscribe(this.onCancel)
  }

  /**
   * Aborts the request (no effect once the body ended or failed). One still waiting for a
   * connection fails at once; undici drops it, unsent, when a connection takes it (onRequestStart).
   */
  abort(reason: Error): void {
    if (this.ended || this.failure !== undefined || this.abortReason !== undefined) return
    this.abortReason = reason
    this.stopTimer()
    if (this.controller !== undefined) this.controller.abort(reason)
    else this.rejectHead(reason)
  }

  /**
   * The request went out whole (at once without a body, at its body's end with one): from now
   * the backend must answer within the timeout. A long upload is not a slow backend.
   */
  readonly sent = (): void => {
    this.restartTimer()
  }

  /** The request could not even be dispatched (its pool is closed). */
  refused(error: Error): void {
    this.onResponseError(undefined, error)
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller
    if (this.abortReason !== undefined) controller.abort(this.abortReason)
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: ResponseHead['headers']): void {
    if (statusCode < 200) return
    this.started = true
    // From the headers on, the timeout bounds each gap between body chunks (an early answer
    // may come before the request was sent whole).
    this.restartTimer()
    this.resolveHead({ statusCode, headers })
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.restartTimer()
    if (this.sink !== undefined) {
      if (!this.sink.write(chunk)) this.pause()
    } else if (this.stream !== undefined) {
      if (!this.stream.push(chunk)) this.pause()
    } else {
      this.held.push(chunk)
      this.heldBytes += chunk.length
      if (this.heldBytes >= HELD_BYTES_LIMIT) this.pause()
    }
  }

  onResponseEnd(): void {
    this.ended = true
    this.stopTimer()
    this.cancel.unsubscribe(this.onCancel)
    if (this.sink !== undefined) this.sink.end()
    else this.stream?.push(null)
  }

  onResponseError(_controller: Controller | undefined, error: Error): void {
    this.stopTimer()
    this.cancel.unsubscribe(this.onCancel)
    if (!this.started) return this.rejectHead(error)
    if (this.ended || this.failure !== undefined) return
    this.failure = error
    this.settleSink?.(error)
    this.stream?.destroy(error)
  }

  pipeTo(sink: Writable): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const settle = (error?: Error): void => {
        if (settled) return
        settled = true
        this.settleSink = undefined
        sink.off('drain', this.onDrain)
        if (error === undefined) return resolve()
        this.abort(error)
        reject(error)
      }
      this.sink = sink
      this.settleSink = settle
      // The listeners stay: an error after the end must still not go unhandled.
      sink.on('error', settle)
      sink.on('finish', () => settle())
      sink.on('close', () => {
        if (!sink.writableFinished) settle(prematureClose())
      })
      sink.on('drain', this.onDrain)
      if (this.failure !== undefined) return settle(this.failure)
      for (const chunk of this.takeHeld()) sink.write(chunk)
      if (this.ended) sink.end()
      else if (!sink.writableNeedDrain) this.resume()
    })
  }

  readable(): Readable {
    const stream = new Readable({
      read: () => this.resume(),
      destroy: (error, callback) => {
        if (!this.ended) this.abort(error ?? prematureClose())
        callback(error)
      },
    })
    this.stream = stream
    for (const chunk of this.takeHeld()) stream.push(chunk)
    if (this.failure !== undefined) stream.destroy(this.failure)
    else if (this.ended) stream.push(null)
    return stream
  }

  private takeHeld(): Buffer[] {
    const held = this.held
    this.held = []
    this.heldBytes = 0
    return held
  }

  private readonly onDrain = (): void => {
    this.resume()
  }

  /** Stops reading from the backend until the consumer wants more; the gap timeout waits too. */
  private pause(): void {
    this.paused = true
    this.controller?.pause()
  }

  private resume(): void {
    if (this.paused) {
      this.paused = false
      // A timer that fired while paused is armed again.
      this.restartTimer()
    }
    this.controller?.resume()
  }

  /** Arms the timeout, or starts it over; not once the exchange is over. */
  private restartTimer(): void {
    if (this.timerOff) return
    if (this.timer === undefined) this.timer = setTimeout(this.onTimeout, this.timeoutMs)
    else this.timer.refresh()
  }

  private stopTimer(): void {
    this.timerOff = true
    clearTimeout(this.timer)
  }

  private readonly onTimeout = (): void => {
    if (!this.started) this.abort(new errors.HeadersTimeoutError())
    else if (!this.paused) this.abort(new errors.BodyTimeoutError())
  }

  private readonly onCancel = (): void => {
    this.abort(goneError())
  }
}

/** Why a request whose client left was aborted. */
function goneError(): AbortError {
  return new AbortError('the client went away before its response ended')
}
